"""A cursor for the inbound endpoint's two statements (notifications.senders, event_store).

On PostgreSQL it binds parameters on the server: they travel apart from the statement, dumped
by psycopg's C code, instead of being quoted into its text in Python by the client-side cursor
Django uses by default; that quoting was the largest single share of the endpoint's own CPU
(bench/profile_intake.py). Only these statements take it; the rest of the project keeps
Django's cursor. It is still Django's wrapper: execute wrappers, the query log and the
translation of psycopg's errors into django.db's are the same."""

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper


def server_bound(connection: BaseDatabaseWrapper) -> CursorWrapper:
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]  # not in the stubs

    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        cursor: Any = ServerBindingCursor(connection.connection)
        return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)
