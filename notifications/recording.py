"""Write a batch's answers in one statement: the deliveries whose claim is still ours, and every
attempt row, with the attempt of a delivery whose claim ran out kept as history only.

The answers were written with a transaction around two statements (the deliveries', then the
attempts', whose text depends on which deliveries were still ours): four round trips a batch
with BEGIN and COMMIT. On PostgreSQL one statement does both, atomic by itself: the deliveries'
UPDATE in a WITH, and the attempts' UPDATE choosing, for each row, the words for an answer that
counted or the words for one that came late, by whether its delivery is among the first's
RETURNING. Elsewhere (SQLite, the local set-up) the two statements run in a transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, transaction

from notifications import bulk
from notifications.cursors import server_bound
from notifications.models import Delivery, DeliveryAttempt

# The attempt's columns that do not depend on whether its answer counted, then those that do.
ANSWER_FIELDS = ("http_status", "response_body", "duration_ms", "outcome")
WORDS_FIELDS = ("error", "error_code", "error_params")


@dataclass(frozen=True)
class Words:
    """What an attempt row says of its error, for an answer that came after the claim expired."""

    error: str
    error_code: str
    error_params: dict[str, Any]


def write(
    *,
    deliveries: Sequence[Delivery],
    fields: Sequence[str],
    lease: datetime,
    attempts: Sequence[DeliveryAttempt],
    late: Sequence[Words],
) -> set[int]:
    """Write `fields` of each delivery whose claim is still `lease`, and each attempt (the n-th
    for the n-th delivery): as it stands when its delivery was written, else with its `late`
    words (also set on the instance). The ids of the deliveries written."""
    if not deliveries:
        return set()
    if connection.vendor != "postgresql":
        with transaction.atomic():
            ours = bulk.update_each(Delivery, deliveries, fields, only_if={"claimed_until": lease})
            for delivery, attempt, words in zip(deliveries, attempts, late, strict=True):
                if delivery.pk not in ours:
                    _say(attempt, words)
            bulk.update_each(DeliveryAttempt, attempts, [*ANSWER_FIELDS, *WORDS_FIELDS])
        return ours
    deliveries_sql, delivery_fields, conditions = bulk.update_sql(Delivery, tuple(fields), ("claimed_until",))
    params: list[Any] = bulk.arrays(delivery_fields, deliveries)
    params += [field.get_db_prep_save(lease, connection) for field in conditions]
    late_attempts = [
        DeliveryAttempt(pk=a.pk, error=w.error, error_code=w.error_code, error_params=w.error_params)
        for a, w in zip(attempts, late, strict=True)
    ]
    attempt_fields, word_fields = _attempt_fields()
    params += bulk.arrays(attempt_fields, attempts)
    params += bulk.arrays(word_fields, late_attempts)
    with server_bound(connection) as cursor:
        cursor.execute(_sql(deliveries_sql), params)
        ours = {row[0] for row in cursor.fetchall()}
    for delivery, attempt, words in zip(deliveries, attempts, late, strict=True):
        if delivery.pk not in ours:
            _say(attempt, words)
    return ours


def _say(attempt: DeliveryAttempt, words: Words) -> None:
    attempt.error, attempt.error_code, attempt.error_params = words.error, words.error_code, words.error_params


@cache
def _attempt_fields() -> tuple[bulk.Fields, bulk.Fields]:
    """The attempts' arrays: the key, its delivery, the answer and its words; then the late words."""
    fields = ("delivery", *ANSWER_FIELDS, *WORDS_FIELDS)
    return (bulk.key_field(DeliveryAttempt), *(bulk.model_field(DeliveryAttempt, name) for name in fields)), tuple(
        bulk.model_field(DeliveryAttempt, name) for name in WORDS_FIELDS
    )


@cache
def _sql(deliveries_sql: str) -> str:
    q = connection.ops.quote_name
    attempt_fields, word_fields = _attempt_fields()
    table = q(DeliveryAttempt._meta.db_table)
    names = [q(str(field.column)) for field in attempt_fields]
    late_names = [q(f"late_{field.column}") for field in word_fields]
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in (*attempt_fields, *word_fields))
    key, delivery = names[0], names[1]
    counted = f"v.{delivery} IN (SELECT {q('id')} FROM ours)"  # noqa: S608 - names from the model
    plain = [f"{name} = v.{name}" for name in names[2 : 2 + len(ANSWER_FIELDS)]]
    chosen = [
        f"{name} = CASE WHEN {counted} THEN v.{name} ELSE v.{late} END"
        for name, late in zip(names[2 + len(ANSWER_FIELDS) :], late_names, strict=True)
    ]
    # Names quoted from the models' own metadata; every value is a parameter.
    # A data-modifying WITH runs to completion whether or not the final SELECT reads it: the
    # statement answers with the deliveries written, as the deliveries' UPDATE alone did.
    return (
        f"WITH ours AS ({deliveries_sql}), answered AS (UPDATE {table} SET {', '.join([*plain, *chosen])}"  # noqa: S608
        f" FROM unnest({arrays}) AS v({', '.join([*names, *late_names])})"
        f" WHERE {table}.{key} = v.{key} RETURNING 1) SELECT {q('id')} FROM ours"
    )
