"""The pool checks a connection before handing it out at most once a second per connection
(integration_portal/postgres/)."""

import time

import psycopg
import pytest
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from tests.conftest import suite_database_url


def _backend_pid(connection: BaseDatabaseWrapper) -> int:
    """The server process of the connection the pool hands out next (given back after)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    connection.close()  # back to the pool
    assert row is not None
    return int(row[0])


def _terminate_the_others() -> None:
    """Every connection to the test database is dropped by the server, as in a restart."""
    with psycopg.connect(suite_database_url(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced_before_it_is_used(settings):
    settings.DB_POOL_CHECK_SECONDS = 0.2
    connections["default"].close()  # the test's own connection too goes back to the pool
    connection = connections.create_connection("default")  # a wrapper of its own, on the shared pool
    first = _backend_pid(connection)
    _terminate_the_others()
    time.sleep(0.3)  # longer than the interval: the next checkout asks the server
    assert _backend_pid(connection) != first  # no error: the dead connection was noticed and replaced
