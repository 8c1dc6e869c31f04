"""Django's PostgreSQL backend, whose pool checks a connection before handing it out at most once
per DB_POOL_CHECK_SECONDS per connection.

Django's check (CONN_HEALTH_CHECKS with a pool) asks the server on every checkout: a round trip
on every request and every task, about 0.1 ms of this process's CPU each (and the server's). A
connection checked a moment ago is trusted instead; one idle for longer is checked, so a
restarted database still costs no request once its connections have sat that long (one that
dies within the interval fails its request, as one dying during the request would).
"""

import threading
import time
import weakref
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


class DatabaseWrapper(base.DatabaseWrapper):
    _checked: "weakref.WeakKeyDictionary[psycopg.Connection[Any], float]" = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    def get_new_connection(self, conn_params: dict[str, Any]) -> psycopg.Connection[Any]:
        connection: psycopg.Connection[Any] = super().get_new_connection(conn_params)
        pool = self.pool  # type: ignore[attr-defined]  # Django 5.1's pool, not in the stubs
        if pool is None:
            return connection
        # After a restart every pooled connection may be dead: each is dropped in turn (the pool
        # opens new ones, which are checked too), as psycopg's own check loop would.
        for _ in range(pool.max_size + 1):
            if self._usable(connection):
                return connection
            pool.putconn(connection)
            connection = super().get_new_connection(conn_params)
        raise psycopg.OperationalError("the database pool handed out no usable connection")

    def _usable(self, connection: psycopg.Connection[Any]) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._checked.get(connection)
        if last is not None and now - last < settings.DB_POOL_CHECK_SECONDS:
            return True
        try:
            ConnectionPool.check_connection(connection)
        except psycopg.Error:
            return False
        with self._lock:
            self._checked[connection] = now
        return True
