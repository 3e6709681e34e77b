"""Django's PostgreSQL backend, whose pooled connections are checked without psycopg_pool's
backoff.

With ``CONN_HEALTH_CHECKS``, Django has psycopg_pool check each connection it hands out, and the
pool sleeps 1 s, then 2 s, 4 s... after each failed check before trying the next connection.
After a PostgreSQL restart, a failover or an idle-connection killer, *every* idle connection in
the pool is dead: the first request walks them one by one through that backoff and gets a
``PoolTimeout`` after the pool's 30 s. Here the pool hands connections out unchecked
(``CONN_HEALTH_CHECKS = False``) and the backend checks the one it got; a dead one sends the
whole pool through ``ConnectionPool.check()`` (each idle connection tested, the dead ones
replaced) and the request takes a fresh connection.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.backends.postgresql import base

logger = logging.getLogger(__name__)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: Any) -> Any:
        connection = super().get_new_connection(conn_params)
        pool = self.pool  # type: ignore[attr-defined]  # not in django-stubs yet
        if pool is None:
            return connection
        from psycopg_pool import ConnectionPool

        try:
            ConnectionPool.check_connection(connection)
        except Exception:
            logger.warning("A pooled connection to %r was dead: checking the pool.", self.alias)
            pool.putconn(connection)  # broken: the pool discards it and opens another
            pool.check()
            connection = super().get_new_connection(conn_params)
        return connection
