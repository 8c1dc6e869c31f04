"""The pool checks a connection before handing it out at most once a second per connection
(integration_portal/postgres/)."""

import time

import psycopg
import pytest
from django.db import connection

from tests.conftest import suite_database_url


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
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
    connection.close()  # back to the pool
    first = _backend_pid()
    connection.close()
    _terminate_the_others()
    time.sleep(0.3)  # longer than the interval: the next checkout asks the server
    assert _backend_pid() != first  # no error: the dead connection was noticed and replaced
