"""Many rows, each with its own values, written in one statement.

Django's bulk_update builds a CASE expression per field and row: for a batch of 50 deliveries it
cost more CPU than sending them. On PostgreSQL this writes `UPDATE ... FROM (VALUES ...)`
instead; elsewhere (SQLite, the local set-up) it falls back to bulk_update.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, models, transaction


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
    # Each placeholder cast to its column's type: a VALUES list of NULLs has no type of its own.
    row = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in typed) + ")"
    names = ", ".join(quoted)
    assignments = ", ".join(f"{name} = v.{name}" for name in quoted[1:])
    table = connection.ops.quote_name(meta.db_table)
    # Names quoted from the model's own metadata; every value is a parameter.
    values = ", ".join([row] * len(objs))
    params: list[Any] = []
    condition = ""
    for name, value in (only_if or {}).items():
        field = meta.get_field(name)
        assert isinstance(field, models.Field)
        condition += f" AND {table}.{connection.ops.quote_name(str(field.column))} = %s"
        params.append(field.get_db_prep_save(value, connection))
    sql = f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v({names}) WHERE {table}.{quoted[0]} = v.{quoted[0]}{condition} RETURNING {table}.{quoted[0]}"  # noqa: S608
    row_params: list[Any] = []
    for obj in objs:
        for field in typed:
            row_params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, row_params + params)
        return {row[0] for row in cursor.fetchall()}
