"""Claim and load a batch with what its sends need, in one statement whose text never changes.

The ORM's `select_related` across five tables was compiled anew for every batch: at a moderate
rate (batches of a few deliveries) building that SQL and its row populators was a fifth of the
worker's CPU. On PostgreSQL this writes the join once per process, binds the ids as one array on
the server (so psycopg prepares the statement after a few uses and PostgreSQL plans it once), and
builds the model instances with Model.from_db, as the ORM does, with each field's converters.
Only the columns the send uses are read; the others are deferred (read on access, as with
`only()`). Elsewhere (SQLite, the local set-up) the ORM's query does the same work.
"""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from mindbox_integration.models import MindboxIntegration, Notification, Operation
from notifications import claims
from notifications.cursors import server_bound
from notifications.models import Delivery, DeliveryAttempt, InboundEvent, IntegrationHealth

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class _Part:
    """One model's columns in the joined row."""

    model: type[models.Model]
    alias: str
    fields: "tuple[models.Field[Any, Any], ...]"
    columns: tuple[Any, ...]  # each field's column expression, which its converters are given
    converters: tuple[tuple[Converter, ...], ...]
    attnames: tuple[str, ...]
    key: int  # where the primary key is among the fields

    def build(self, values: Sequence[Any]) -> models.Model | None:
        """The instance for these values, or None when the join found no row (its key is NULL)."""
        if values[self.key] is None:
            return None
        converted = []
        for value, converters, column in zip(values, self.converters, self.columns, strict=True):
            for convert in converters:
                value = convert(value, column, connection)
            converted.append(value)
        return self.model.from_db(connection.alias, list(self.attnames), converted)


def _part(model: type[models.Model], alias: str, names: Sequence[str] | None = None) -> _Part:
    meta = model._meta
    fields = tuple(
        field
        for field in meta.concrete_fields
        if isinstance(field, models.Field) and (names is None or field.name in names or field.primary_key)
    )
    columns = tuple(field.get_col(alias) for field in fields)
    converters = tuple(
        tuple(connection.ops.get_db_converters(column) + field.get_db_converters(connection))  # type: ignore[attr-defined]  # not in the stubs
        for field, column in zip(fields, columns, strict=True)
    )
    return _Part(
        model=model,
        alias=alias,
        fields=fields,
        columns=columns,
        converters=converters,
        attnames=tuple(field.attname for field in fields),
        key=next(i for i, field in enumerate(fields) if field.primary_key),
    )


@cache
def _parts() -> tuple[_Part, ...]:
    """The parts of a row, in order."""
    return (
        _part(Delivery, "d"),
        _part(InboundEvent, "e", ["request_id"]),
        _part(Notification, "n", ["operation"]),
        _part(Operation, "o", ["name", "integration"]),
        _part(MindboxIntegration, "i"),
        _part(IntegrationHealth, "h"),
    )


@cache
def _select(source: str) -> str:
    """The batch's rows from `source` (the deliveries' table, or the claim's result) with what
    they need; one parameter: the outcome of an attempt still sending."""
    q = connection.ops.quote_name
    table = {part.alias: q(part.model._meta.db_table) for part in _parts()}
    columns = ", ".join(f"{part.alias}.{q(field.column)}" for part in _parts() for field in part.fields)
    attempts = q(DeliveryAttempt._meta.db_table)
    return (
        f"SELECT {columns}, (SELECT count(*) FROM {attempts} a WHERE a.{q('delivery_id')} = d.{q('id')}"  # noqa: S608 - names from the models
        f" AND a.{q('outcome')} = %s)"
        f" FROM {source} d JOIN {table['e']} e ON e.{q('id')} = d.{q('event_id')}"
        f" LEFT JOIN {table['n']} n ON n.{q('id')} = d.{q('notification_id')}"
        f" LEFT JOIN {table['o']} o ON o.{q('id')} = n.{q('operation_id')}"
        f" LEFT JOIN {table['i']} i ON i.{q('id')} = o.{q('integration_id')}"
        f" LEFT JOIN {table['h']} h ON h.{q('integration_id')} = i.{q('id')}"
    )


def _due_order() -> str:
    q = connection.ops.quote_name
    return f" ORDER BY d.{q('next_attempt_at')}, d.{q('id')}"


def load(ids: Sequence[int]) -> list[Delivery]:
    """The deliveries `ids`, due order, each with its event (its request id), notification,
    operation, integration and the integration's health, and `open_attempts`: how many of its
    attempts are still marked sending (a killed worker's)."""
    if connection.vendor != "postgresql":
        return _load_with_orm(ids)
    q = connection.ops.quote_name
    sql = f"{_select(q(Delivery._meta.db_table))} WHERE d.{q('id')} = ANY(%s){_due_order()}"
    return _fetch(sql, [DeliveryAttempt.Outcome.SENDING, list(ids)])


def claim_due(
    *, queue: str, now: datetime, limit: int, skip_integrations: Collection[int] = ()
) -> tuple[list[Delivery], datetime]:
    """claims.claim_due, and the claimed batch loaded as load() loads it: on PostgreSQL in the
    same statement (the claim's UPDATE ... RETURNING in a WITH, joined), one round trip fewer."""
    if connection.vendor != "postgresql":
        ids, lease = claims.claim_due(queue=queue, now=now, limit=limit, skip_integrations=skip_integrations)
        return load(ids), lease
    lease = now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS)
    # The columns named, not `*`: a column a later migration adds must not change what a
    # statement psycopg has prepared returns.
    returning = ", ".join(connection.ops.quote_name(str(field.column)) for field in _parts()[0].fields)
    claim = claims.claim_sql(skipping=bool(skip_integrations), returning=returning)
    sql = f"WITH claimed AS ({claim}) {_select('claimed')}{_due_order()}"
    params = [*claims.claim_params(queue, now, lease, limit, skip_integrations), DeliveryAttempt.Outcome.SENDING]
    return _fetch(sql, params), lease


def _fetch(sql: str, params: list[Any]) -> list[Delivery]:
    parts = _parts()
    with server_bound(connection) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    deliveries = []
    for row in rows:
        start = 0
        built = []
        for part in parts:
            built.append(part.build(row[start : start + len(part.fields)]))
            start += len(part.fields)
        delivery, event, notification, operation, integration, health = built
        assert isinstance(delivery, Delivery)
        # Set as select_related sets them, so reading each relation makes no query.
        Delivery.event.field.set_cached_value(delivery, event)
        Delivery.notification.field.set_cached_value(delivery, notification)
        if notification is not None:
            Notification.operation.field.set_cached_value(notification, operation)
        if operation is not None:
            Operation.integration.field.set_cached_value(operation, integration)
        if integration is not None:
            MindboxIntegration.health.related.set_cached_value(integration, health)
        delivery.open_attempts = row[start]  # type: ignore[attr-defined]
        deliveries.append(delivery)
    return deliveries


def _load_with_orm(ids: Sequence[int]) -> list[Delivery]:
    sending = DeliveryAttempt.objects.filter(delivery=OuterRef("pk"), outcome=DeliveryAttempt.Outcome.SENDING)
    return list(
        Delivery.objects.filter(pk__in=ids)
        .select_related("event", "notification__operation__integration__health")
        .defer("event__raw", "event__values")
        .annotate(
            open_attempts=Coalesce(
                Subquery(sending.order_by().values("delivery").annotate(n=Count("pk")).values("n")), 0
            )
        )
        .order_by("next_attempt_at", "pk")
    )
