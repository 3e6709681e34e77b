"""PostgreSQL terminating every connection of the test database, three times during a burst:
requests in progress fail cleanly (an HTTP 5xx, or a GraphQL error with a code; never a hang),
callbacks that fail get a 5xx and the processor retries them, and every upload ends READY."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import requests
from django.db import connection

from tests.callbacks import callback_body, signed_headers
from tests.images import jpeg_bytes
from tests.reliability.conftest import session_keys
from tests.reliability.harness import (
    Browser,
    BurstOptions,
    BurstResult,
    Pipeline,
    assert_database_ready,
    assert_every_upload_ready_once,
    env_int,
    kill_server,
    run_burst,
    summary,
)
from tests.test_callback import make_upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

UPLOADS = env_int("ASYNCIMG_RELIABILITY_FAULT_UPLOADS", 120)
IMAGE = jpeg_bytes(64, 48)
RETRIED = re.compile(r"failed \(attempt \d+/\d+\): HTTP 5\d\d")
TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = %s AND pid <> pg_backend_pid()"
)


def terminate_all(settings: dict[str, Any]) -> int:
    """Terminate every other backend connected to the test database; how many."""
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings.get("USER") or "postgres",
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        password=settings.get("PASSWORD") or None,
        autocommit=True,
    ) as conn:
        row = conn.execute(TERMINATE, [settings["NAME"]]).fetchone()
    assert row is not None
    return int(row[0])


def test_postgres_connections_terminated_mid_burst(
    moto_url: str, redis_url: str, shared_database: str, django_user_model: Any, capsys: Any
) -> None:
    if shared_database != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    sessions: list[str | None] = [*session_keys(django_user_model, 6), None, None]
    settings = dict(connection.settings_dict)
    # This process' own connection would be terminated too; it reconnects for the checks.
    connection.close()
    with Pipeline(moto_url, redis_url) as pipeline:

        async def terminate() -> int:
            return await asyncio.to_thread(terminate_all, settings)

        async def scenario() -> BurstResult:
            browsers = [Browser(i, pipeline.asgi, key) for i, key in enumerate(sessions)]
            faults = [(UPLOADS * k // 5, terminate) for k in (1, 2, 3)]
            options = BurstOptions(concurrency=16, faults=faults)
            try:
                return await run_burst(pipeline.asgi, browsers, IMAGE, UPLOADS, options)
            finally:
                for browser in browsers:
                    await browser.close()

        result = asyncio.run(scenario())
        worker_logs = [w.output() for w in pipeline.worker_list]
    failures = [f for t in result.traces for f in t.http_failures]
    errors = [e for t in result.traces for e in t.subscription_errors]
    retried = sum(
        len(re.findall(r"failed \(attempt \d+/\d+\): HTTP 5\d\d", o)) for o in worker_logs
    )
    with capsys.disabled():
        print(
            f"\n[reliability] postgres terminated {result.fault_results}: {summary(result)}; "
            f"{len(failures)} failed requests "
            f"({sorted({(f.status, tuple(f.codes)) for f in failures}, key=str)}), "
            f"{len(errors)} subscription errors, {retried} callbacks retried after a 5xx"
        )

    assert sum(result.fault_results) > 0, "nothing was connected to terminate"
    # Failed requests failed cleanly: an error status, or GraphQL errors that all carry a code.
    assert [f for f in failures if f.kind in {"timeout", "connection"}] == []
    for failure in failures:
        assert failure.kind == "errors" or (failure.status or 0) >= 500, failure
        assert failure.kind != "errors" or None not in failure.codes, failure
    assert all(code for code, _ in errors), errors
    ids = assert_every_upload_ready_once(result, UPLOADS)
    assert_database_ready(ids)


def test_first_request_after_idle_connections_were_terminated_answers_promptly(
    moto_url: str, redis_url: str, shared_database: str, user: Any
) -> None:
    """What a failover, a PostgreSQL restart or an idle-connection killer does to a server that
    was idle: every connection in its pool is dead. A request must still be answered at once
    (a 5xx the processor retries, or the work done on a new connection), not after seconds."""
    if shared_database != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    uploads = [make_upload(user) for _ in range(20)]
    settings = dict(connection.settings_dict)
    connection.close()
    with Pipeline(moto_url, redis_url, servers=1, workers=0) as pipeline:
        url = f"{pipeline.asgi[0].url}/async_image/callback/"

        def callback(upload: Any, timeout: float = 30) -> tuple[float, int]:
            body = callback_body(str(upload.pk), "processing")
            started = time.monotonic()
            response = requests.post(url, data=body, headers=signed_headers(body), timeout=timeout)
            return time.monotonic() - started, response.status_code

        # Concurrent callbacks fill the server's pool; then they all sit idle in it.
        with ThreadPoolExecutor(16) as pool:
            warm = list(pool.map(callback, uploads[:16]))
        assert {status for _, status in warm} == {200}
        time.sleep(0.5)
        assert terminate_all(settings) >= 3
        try:
            elapsed, status = callback(uploads[16], timeout=PROMPT)
        except requests.Timeout:
            # The request is still waiting in the server: do not wait for it to stop.
            kill_server(pipeline.asgi[0])
            pytest.fail(f"no answer within {PROMPT} s after the connections were terminated")
        assert elapsed < PROMPT
        assert status in (200, 500, 503)


#: a healthy server answers a callback in tens of milliseconds, a failing one at once
PROMPT = 2.0
