"""Writing an event and its deliveries, atomically, in as few round trips as the database allows.

PostgreSQL: one statement. The event is inserted with ON CONFLICT DO NOTHING, its deliveries by
an INSERT that selects from the event's RETURNING, both in one WITH; a single statement is its
own transaction, so there is no BEGIN, savepoint or COMMIT to send. A repeat of a stored event
inserts nothing, and one more query finds the first one's id. For a sender the process
remembers (notifications.senders), the same statement first checks that it still holds, and
inserts nothing when it does not. Elsewhere (SQLite, the local set-up) the ORM does the same in
a transaction, with a savepoint around the event's insert.

Columns and their order come from the models, so a field added to either model (with a
default, as a migration needs anyway) is written here too."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    CharField,
    DateTimeField,
    Field,
    ForeignKey,
    IntegerField,
    Model,
    QuerySet,
    TextField,
    UUIDField,
)

from notifications import senders
from notifications.cursors import server_bound
from notifications.models import Delivery, InboundEvent


@dataclass(frozen=True)
class Stored:
    event_id: int
    duplicate: bool
    pending: list[int]  # ids of the new deliveries whose status is pending


def store(
    *,
    event: InboundEvent,
    deliveries: Sequence[Delivery],
    expect: senders.Sender | None = None,
    also_known_as: str = "",
) -> Stored:
    """Insert `event` (unsaved) and `deliveries` (unsaved, their event left unset), or nothing
    when an event with the same identity (or with the identity `also_known_as`: a call that
    reconciliation recovered) is stored already: its id comes back as a duplicate.
    With `expect` (a remembered sender, PostgreSQL only), only if it still holds, else Stale."""
    connection = connections[router.db_for_write(InboundEvent)]
    if connection.vendor == "postgresql":
        return store_in_one_statement(
            event=event, deliveries=deliveries, connection=connection, expect=expect, also_known_as=also_known_as
        )
    assert expect is None, "remembered senders are checked by PostgreSQL's statement only"
    return store_with_orm(event=event, deliveries=deliveries, also_known_as=also_known_as)


def store_with_orm(*, event: InboundEvent, deliveries: Sequence[Delivery], also_known_as: str = "") -> Stored:
    """Any database: a transaction, the event's insert in a savepoint for the duplicate check."""
    with transaction.atomic():
        if also_known_as and _same_events(event, also_known_as).exists():
            return _duplicate(event, also_known_as)
        try:
            with transaction.atomic():
                event.save(force_insert=True)
        except IntegrityError:
            return _duplicate(event)
        for delivery in deliveries:
            delivery.event = event
        Delivery.objects.bulk_create(deliveries)
    pending = [d.pk for d in deliveries if d.status == Delivery.Status.PENDING and d.pk is not None]
    return Stored(event_id=event.pk, duplicate=False, pending=pending)


def store_in_one_statement(
    *,
    event: InboundEvent,
    deliveries: Sequence[Delivery],
    connection: BaseDatabaseWrapper,
    expect: senders.Sender | None = None,
    also_known_as: str = "",
) -> Stored:
    """PostgreSQL: event and deliveries in one statement, one round trip; with `expect`, the
    sender's check in the same statement, and the other identity's (one index probe) too."""
    sql = _statement(len(deliveries), expect is not None, connection.alias)
    params = [] if expect is None else senders.guard_params(expect, now=event.received_at)
    params.extend(_values(event, _event_fields(), connection))
    # An empty identity matches no event: the probe finds nothing and the insert goes on.
    params.extend([event.account_id, event.communication_type, also_known_as])
    for delivery in deliveries:
        params.extend(_values(delivery, _delivery_fields(), connection))
    if connection.in_atomic_block:
        # Inside a caller's transaction, a savepoint keeps a refused insert from aborting it.
        with transaction.atomic(using=connection.alias):
            rows = _run(connection, sql, params)
    else:
        rows = _run(connection, sql, params)
    held, event_id = rows[0][0], rows[0][1]
    if not held:
        raise senders.Stale
    if event_id is None:
        return _duplicate(event, also_known_as)
    pending = [pk for _, _, pk, status in rows if status == Delivery.Status.PENDING]
    return Stored(event_id=event_id, duplicate=False, pending=pending)


def _run(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with server_bound(connection) as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _same_events(event: InboundEvent, also_known_as: str = "") -> "QuerySet[InboundEvent]":
    identities = [event.identity, also_known_as] if also_known_as else [event.identity]
    return InboundEvent.objects.filter(
        account_id=event.account_id, communication_type=event.communication_type, identity__in=identities
    )


def _duplicate(event: InboundEvent, also_known_as: str = "") -> Stored:
    first = _same_events(event, also_known_as).order_by("pk").values_list("pk", flat=True).first()
    if first is None:  # refused for another reason than its identity: say so
        raise IntegrityError("the event was not stored and no event with its identity exists")
    return Stored(event_id=first, duplicate=True, pending=[])


def _columns(model: type[Model], *, skip: frozenset[str] = frozenset()) -> "list[Field[Any, Any]]":
    return [f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in skip]


@cache
def _event_fields() -> "list[Field[Any, Any]]":
    return _columns(InboundEvent)


@cache
def _delivery_fields() -> "list[Field[Any, Any]]":
    return _columns(Delivery, skip=frozenset({"event_id"}))


# Fields whose value, of the type the field holds, is what psycopg sends as it is: Django's own
# preparation of it for PostgreSQL changes nothing, so it is skipped (it cost as much as the
# statement's execution). Any other field (JSON here) is prepared as Django's insert would.
_AS_IS = (CharField, TextField, IntegerField, BooleanField, DateTimeField, UUIDField, ForeignKey)


def _values(obj: Model, fields: "list[Field[Any, Any]]", connection: BaseDatabaseWrapper) -> list[Any]:
    """What Django's own insert would send for obj's columns (defaults, pre_save and adaptation)."""
    return [_value(obj, field, connection) for field in fields]


def _value(obj: Model, field: "Field[Any, Any]", connection: BaseDatabaseWrapper) -> Any:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return field.get_db_prep_save(field.pre_save(obj, True), connection=connection)
    value = getattr(obj, field.attname)
    if isinstance(field, _AS_IS) and connection.vendor == "postgresql":
        return value
    return field.get_db_prep_save(value, connection=connection)


@cache
def _statement(deliveries: int, guarded: bool, alias: str) -> str:
    """The statement for an event and this many deliveries, with the sender's check or not. Its
    rows are (1 when the check held, else 0; event id; delivery id; status), one at least: no
    event id for a duplicate. Names come from the models; values are all parameters."""
    connection = connections[alias]

    def name(field: object) -> str:
        column = getattr(field, "column", None)
        assert isinstance(column, str), f"{field} has no column"
        return connection.ops.quote_name(column)

    def casts(fields: "list[Field[Any, Any]]") -> str:
        # Values selected (not inserted as VALUES) are typed by themselves, where a NULL is
        # text: each is cast to its column's type (without a length: the column checks it).
        return ", ".join(f"CAST(%s AS {_base_type(f, connection)})" for f in fields)

    event_fields, delivery_fields = _event_fields(), _delivery_fields()
    event_table = connection.ops.quote_name(InboundEvent._meta.db_table)
    event_columns = ", ".join(name(f) for f in event_fields)
    event_pk, delivery_pk = name(InboundEvent._meta.pk), name(Delivery._meta.pk)
    account, ctype, identity = (
        name(InboundEvent._meta.get_field(f)) for f in ("account", "communication_type", "identity")
    )
    guard = senders.GUARD_SQL if guarded else "SELECT 1"
    ctes = [
        f"g AS ({guard})",
        f"e AS (INSERT INTO {event_table} ({event_columns}) SELECT {casts(event_fields)} FROM g "  # noqa: S608 - names from the models
        f"WHERE NOT EXISTS (SELECT 1 FROM {event_table} WHERE {account} = %s AND {ctype} = %s AND {identity} = %s) "
        f"ON CONFLICT DO NOTHING RETURNING {event_pk} AS id)",
    ]
    if not deliveries:
        return f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM g), e.id, NULL, NULL FROM (SELECT 1) o LEFT JOIN e ON TRUE"  # noqa: S608 - names from the models
    delivery_table = connection.ops.quote_name(Delivery._meta.db_table)
    rows = ", ".join([f"({casts(delivery_fields)})"] * deliveries)
    aliases = ", ".join(f"c{i}" for i in range(len(delivery_fields)))
    delivery_columns = ", ".join(name(f) for f in delivery_fields)
    event_column, status = name(Delivery._meta.get_field("event")), name(Delivery._meta.get_field("status"))
    ctes.append(
        f"d AS (INSERT INTO {delivery_table} ({event_column}, {delivery_columns}) "  # noqa: S608 - names from the models
        f"SELECT e.id, v.* FROM e, (VALUES {rows}) AS v ({aliases}) RETURNING {delivery_pk} AS id, {status} AS status)"
    )
    return (
        f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM g), e.id, d.id, d.status "  # noqa: S608
        "FROM (SELECT 1) o LEFT JOIN e ON TRUE LEFT JOIN d ON TRUE"
    )


def _base_type(field: "Field[Any, Any]", connection: BaseDatabaseWrapper) -> str:
    db_type = field.db_type(connection)
    assert db_type, f"{field} has no column type"
    return db_type.split("(", 1)[0].strip()  # varchar(16) -> varchar
