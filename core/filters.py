"""Filter conditions, as UIS has them: rows of (field, include | exclude, values) joined by
all (И) or any (ИЛИ). Strings compare trimmed and case-insensitively. Pure functions."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from core.filter_fields import field_value
from core.rendering import as_text

MATCH_ALL, MATCH_ANY = "all", "any"
INCLUDE, EXCLUDE = "include", "exclude"


@dataclass(frozen=True)
class Condition:
    field: str
    mode: str
    values: frozenset[str]  # normalised


@dataclass(frozen=True)
class Filters:
    match: str
    conditions: tuple[Condition, ...]


def _norm(value: Any) -> str:
    return as_text(value).strip().casefold()


def validate_filters(data: Any, *, known_fields: Collection[str]) -> list[str]:
    """Messages that say what to fix; empty when the conditions are usable."""
    if data in (None, {}, []):
        return []
    if not isinstance(data, dict):
        return [_('filter conditions must be an object: {"match": "all", "conditions": [...]}')]
    errors = []
    if data.get("match", MATCH_ALL) not in (MATCH_ALL, MATCH_ANY):
        errors.append(_('"match" must be "all" or "any"'))
    unknown_keys = set(data) - {"match", "conditions"}
    if unknown_keys:
        errors.append(
            _("unknown keys %(keys)s; use only match and conditions") % {"keys": ", ".join(sorted(unknown_keys))}
        )
    conditions = data.get("conditions", [])
    if not isinstance(conditions, list):
        return [*errors, _('"conditions" must be a list of {"field", "mode", "values"}')]
    for i, row in enumerate(conditions):
        where = _("condition %(number)d") % {"number": i + 1}
        if not isinstance(row, dict):
            errors.append(_('%(where)s: must be an object {"field", "mode", "values"}') % {"where": where})
            continue
        field = row.get("field")
        if not isinstance(field, str) or field not in known_fields:
            errors.append(
                _('%(where)s: unknown field "%(field)s" for this communication type') % {"where": where, "field": field}
            )
        if row.get("mode") not in (INCLUDE, EXCLUDE):
            errors.append(_('%(where)s: "mode" must be "include" or "exclude"') % {"where": where})
        values = row.get("values")
        if not isinstance(values, list) or not values or any(isinstance(v, dict | list) for v in values):
            errors.append(_('%(where)s: "values" must be a non-empty list of strings or numbers') % {"where": where})
    return errors


def parse_filters(data: Any) -> Filters:
    """Build Filters from data that validate_filters accepted."""
    if not data:
        return Filters(match=MATCH_ALL, conditions=())
    return Filters(
        match=data.get("match", MATCH_ALL),
        conditions=tuple(
            Condition(field=row["field"], mode=row["mode"], values=frozenset(_norm(v) for v in row["values"]))
            for row in data.get("conditions", [])
        ),
    )


def _row_matches(condition: Condition, values: Mapping[str, Any]) -> bool:
    value = field_value(condition.field, values)  # call_status is derived when UIS sends none
    candidates = value if isinstance(value, list) else [value]
    hit = any(_norm(v) in condition.values for v in candidates if v is not None)
    return hit if condition.mode == INCLUDE else not hit


def passes(filters: Filters, values: Mapping[str, Any]) -> bool:
    if not filters.conditions:
        return True
    results = (_row_matches(c, values) for c in filters.conditions)
    return all(results) if filters.match == MATCH_ALL else any(results)
