"""Many rows, each with its own values, written (or inserted) in one statement.

Django's bulk_update builds a CASE expression per field and row: for a batch of 50 deliveries it
cost more CPU than sending them. On PostgreSQL this writes `UPDATE ... FROM unnest(arrays)`
instead: one array parameter per column, bound on the server, so the statement's text and its
parameter count stay the same whatever the batch's size (psycopg parses it once and keeps it;
a VALUES list of 500 parameters was parsed and quoted anew each time). Elsewhere (SQLite, the
local set-up) it falls back to bulk_update (bulk_create for inserts).
"""

from collections.abc import Mapping, Sequence
from functools import cache
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
    sql, typed, conditions = update_sql(model, tuple(fields), tuple(only_if or ()))
    params = arrays(typed, objs)
    params += [
        field.get_db_prep_save(value, connection)
        for field, value in zip(conditions, (only_if or {}).values(), strict=True)
    ]
    with server_bound(connection) as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def insert_each(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert `objs` in one statement and set their primary keys: `INSERT ... SELECT FROM
    unnest(arrays)`, whose text is the same for any number of rows (bulk_create, for a handful
    of attempt rows a batch, cost more in building its query than the insert itself)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    sql, typed = _insert_sql(model)
    params = [[field.get_db_prep_save(field.pre_save(obj, add=True), connection) for obj in objs] for field in typed]
    with server_bound(connection) as cursor:
        cursor.execute(sql, params)
        for obj, row in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = row[0]
            obj._state.adding = False
            obj._state.db = connection.alias


Fields = tuple["models.Field[Any, Any]", ...]


# The statements' text depends only on the model and the columns: built once per process, the
# same text each time (which psycopg then prepares on each connection).


@cache
def update_sql(
    model: type[models.Model], fields: tuple[str, ...], only_if: tuple[str, ...]
) -> tuple[str, Fields, Fields]:
    """The UPDATE, the fields whose arrays it takes (the primary key first), and the fields of
    its conditions, whose single values follow the arrays."""
    meta = model._meta
    typed = (key_field(model), *(model_field(model, name) for name in fields))
    conditions = tuple(model_field(model, name) for name in only_if)
    quoted = [connection.ops.quote_name(str(field.column)) for field in typed]
    # One array per column, each cast to its column's type: an array of NULLs has none of its own.
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in typed)
    names = ", ".join(quoted)
    assignments = ", ".join(f"{name} = v.{name}" for name in quoted[1:])
    table = connection.ops.quote_name(meta.db_table)
    condition = "".join(f" AND {table}.{connection.ops.quote_name(str(field.column))} = %s" for field in conditions)
    # Names quoted from the model's own metadata; every value is a parameter.
    sql = f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({names}) WHERE {table}.{quoted[0]} = v.{quoted[0]}{condition} RETURNING {table}.{quoted[0]}"  # noqa: S608
    return sql, typed, conditions


@cache
def _insert_sql(model: type[models.Model]) -> tuple[str, Fields]:
    """The INSERT and the fields whose arrays it takes: every concrete column but the key."""
    pk = key_field(model)
    typed = tuple(f for f in model._meta.concrete_fields if isinstance(f, models.Field) and f is not pk)
    quoted = ", ".join(connection.ops.quote_name(str(field.column)) for field in typed)
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in typed)
    table = connection.ops.quote_name(model._meta.db_table)
    # The rows come back in the arrays' order, which bulk_create on PostgreSQL relies on too.
    sql = f"INSERT INTO {table} ({quoted}) SELECT * FROM unnest({arrays}) RETURNING {connection.ops.quote_name(str(pk.column))}"  # noqa: S608 - names from the model
    return sql, typed


def arrays(fields: Fields, objs: Sequence[models.Model]) -> list[Any]:
    """One array per field: its value on each object, as the database takes it."""
    return [[field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs] for field in fields]


def key_field(model: type[models.Model]) -> "models.Field[Any, Any]":
    pk = model._meta.pk
    assert pk is not None
    return pk


def model_field(model: type[models.Model], name: str) -> "models.Field[Any, Any]":
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field), name
    return field
