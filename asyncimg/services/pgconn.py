"""Native asyncio PostgreSQL connections for the callback's hot path.

Django's ORM is synchronous: from async code each burst of queries runs in a worker thread, and with
the ORM's own work that cost 2.3 ms of a 2.8 ms callback (bench/push_latency.py). The callback's
database work is one statement (``asyncimg/services/callbacks_pg.py``), so it is sent from the
event loop itself on a ``psycopg.AsyncConnection`` made exactly as Django makes its own: the same
``DATABASES`` entry, parameters (``get_connection_params``), adapters (JSON as text, the time zone)
and ``SET TIME ZONE`` / ``SET ROLE``.

Connections are kept per event loop (an asyncio connection belongs to the loop that made it): a
server has one loop, which opens at most :data:`MAX_CONNECTIONS` of them and keeps them open;
under a burst, further statements wait for one of them (a statement takes about a millisecond),
so a flood of callbacks cannot exhaust PostgreSQL's ``max_connections``. A short-lived loop
(``async_to_sync`` in tests or management commands) gets its connections closed when the loop is
garbage collected. They run in autocommit mode: every statement sent here is a complete
transaction.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connections
from psycopg import sql

#: connections open at once per event loop; more concurrent statements wait for a free one
MAX_CONNECTIONS = 4

_idle: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[psycopg.AsyncConnection]] = (
    weakref.WeakKeyDictionary()
)
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _finish(idle: list[psycopg.AsyncConnection]) -> None:
    # Without the loop (it may be gone, or these connections are stale): close the sockets.
    for conn in idle:
        conn.pgconn.finish()
    idle.clear()


def _pool(
    loop: asyncio.AbstractEventLoop,
) -> tuple[list[psycopg.AsyncConnection], asyncio.Semaphore]:
    idle = _idle.get(loop)
    if idle is None:
        idle = _idle[loop] = []
        _slots[loop] = asyncio.Semaphore(MAX_CONNECTIONS)
        weakref.finalize(loop, _finish, idle)
    return idle, _slots[loop]


async def _connect(alias: str) -> psycopg.AsyncConnection:
    wrapper = connections[alias]
    params = wrapper.get_connection_params()
    params.pop("cursor_factory", None)  # Django's synchronous cursor class
    conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
    # What Django's DatabaseWrapper._configure_connection does on a new connection.
    timezone_name = wrapper.timezone_name
    if timezone_name and conn.info.parameter_status("TimeZone") != timezone_name:
        await conn.execute(sql.SQL("SET TIME ZONE {}").format(sql.Literal(timezone_name)))
    if role := wrapper.settings_dict["OPTIONS"].get("assume_role"):
        await conn.execute(sql.SQL("SET ROLE {}").format(sql.Literal(role)))
    return conn


async def fetch(
    query: str, params: Sequence[Any], *, alias: str = "default"
) -> list[tuple[Any, ...]]:
    """Run one statement (its own transaction) on ``alias`` and return its rows.

    A connection that broke (server restart, network) is dropped, never reused. If it was an idle
    one, the other idle ones are dropped too (after a restart they are all stale) and the
    statement is sent once more on a new connection: a stale socket fails before the statement
    reaches the server. Any other error propagates, so the caller's request fails as it would
    through the ORM.
    """
    idle, slots = _pool(asyncio.get_running_loop())
    async with slots:
        for attempt in (1, 2):
            reused = bool(idle)
            conn = idle.pop() if reused else await _connect(alias)
            try:
                cursor = await conn.execute(query, params)
                # The result's status, not ``cursor.description``: that builds a Column object
                # per column (~0.1 ms for the callback's 26), and nothing here reads them.
                result = cursor.pgresult
                returned = result is not None and result.status == psycopg.pq.ExecStatus.TUPLES_OK
                rows = await cursor.fetchall() if returned else []
            except psycopg.OperationalError:
                if not conn.broken:
                    idle.append(conn)
                    raise
                await conn.close()
                if not reused or attempt == 2:
                    raise
                _finish(idle)
                continue
            except BaseException:
                if conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    await conn.close()
                else:
                    idle.append(conn)
                raise
            idle.append(conn)
            return rows
    raise AssertionError("unreachable")  # pragma: no cover


def close_idle() -> None:
    """Close the idle connections of every loop; call it where no loop uses them (a test run's
    end, before its database is dropped)."""
    for idle in list(_idle.values()):
        _finish(idle)
