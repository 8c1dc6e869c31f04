"""Many rows, each with its own values, written in one statement.

Django's bulk_update builds a CASE expression per field and row: for a batch of 50 deliveries it
cost more CPU than sending them. On PostgreSQL this writes `UPDATE ... FROM unnest(arrays)`
instead: one array parameter per column, bound on the server, so the statement's text and its
parameter count stay the same whatever the batch's size (psycopg parses it once and keeps it;
a VALUES list of 500 parameters was parsed and quoted anew each time). Elsewhere (SQLite, the
local set-up) it falls back to bulk_update.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, models, transaction

from notifications.cursors import server_bound


def update_each(
    model: type[models.Model],
    objs: Sequence[models.Model],
    fields: Sequence[str],
    *,
    only_if: Mapping[str, Any] | None = None,
) -> set[Any]:
    """Write `fields` of every object in `objs` (found by primary key) in one statement; the
    primary keys of the rows written. Rows whose stored columns differ from `only_if` are left
    alone (a claim that is no longer ours)."""
    if not objs:
        return set()
    if connection.vendor != "postgresql":  # SQLite, the local set-up: Django's own, slower way
        manager = model._default_manager
        with transaction.atomic():
            keep = {obj.pk for obj in objs}
            if only_if:
                keep = set(manager.select_for_update().filter(pk__in=keep, **only_if).values_list("pk", flat=True))
            manager.bulk_update([obj for obj in objs if obj.pk in keep], list(fields))
        return keep
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    columns = [meta.get_field(name) for name in fields]
    assert all(isinstance(column, models.Field) for column in columns)
    typed: list[models.Field[Any, Any]] = [pk, *(c for c in columns if isinstance(c, models.Field))]
    quoted = [connection.ops.quote_name(str(field.column)) for field in typed]
    # One array per column, each cast to its column's type: an array of NULLs has none of its own.
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in typed)
    names = ", ".join(quoted)
    assignments = ", ".join(f"{name} = v.{name}" for name in quoted[1:])
    table = connection.ops.quote_name(meta.db_table)
    condition = ""
    params: list[Any] = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs] for field in typed
    ]
    for name, value in (only_if or {}).items():
        field = meta.get_field(name)
        assert isinstance(field, models.Field)
        condition += f" AND {table}.{connection.ops.quote_name(str(field.column))} = %s"
        params.append(field.get_db_prep_save(value, connection))
    # Names quoted from the model's own metadata; every value is a parameter.
    sql = f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({names}) WHERE {table}.{quoted[0]} = v.{quoted[0]}{condition} RETURNING {table}.{quoted[0]}"  # noqa: S608
    with server_bound(connection) as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}
