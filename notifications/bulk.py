"""Many rows, each with its own values, written in one statement.

Django's bulk_update builds a CASE expression per field and row: for a batch of 50 deliveries it
cost more CPU than sending them. On PostgreSQL this writes `UPDATE ... FROM (VALUES ...)`
instead; elsewhere (SQLite, the local set-up) it falls back to bulk_update.
"""

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def update_each(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write `fields` of every object in `objs` (found by primary key) in one statement."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, list(fields))
        return
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
    sql = f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v({names}) WHERE {table}.{quoted[0]} = v.{quoted[0]}"  # noqa: S608
    params: list[Any] = []
    for obj in objs:
        for field in typed:
            params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
