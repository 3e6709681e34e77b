"""An ASGI server SIGKILLed in the middle of a burst: its clients' websockets and requests are
cut; they go to the other server, subscribe again and get the current state first; every upload
ends READY, once. A process manager restarts the killed server (its worker's callbacks, cut or
refused meanwhile, are retried by the processor)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

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

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

UPLOADS = env_int("ASYNCIMG_RELIABILITY_FAULT_UPLOADS", 120)
IMAGE = jpeg_bytes(64, 48)


def test_server_killed_mid_burst(
    moto_url: str, redis_url: str, django_user_model: Any, capsys: Any
) -> None:
    sessions: list[str | None] = [*session_keys(django_user_model, 6), None, None]
    with Pipeline(moto_url, redis_url) as pipeline:
        victim = pipeline.asgi[1]

        async def kill_and_restart() -> None:
            kill_server(victim)
            await asyncio.sleep(1.5)
            await asyncio.to_thread(victim.start)

        async def scenario() -> BurstResult:
            browsers = [Browser(i, pipeline.asgi, key) for i, key in enumerate(sessions)]
            options = BurstOptions(concurrency=16, faults=[(UPLOADS // 4, kill_and_restart)])
            try:
                return await run_burst(pipeline.asgi, browsers, IMAGE, UPLOADS, options)
            finally:
                for browser in browsers:
                    await browser.close()

        result = asyncio.run(scenario())
        logs = pipeline.logs()
    with capsys.disabled():
        print(f"\n[reliability] server killed: {summary(result)}")

    ids = assert_every_upload_ready_once(result, UPLOADS)
    assert_database_ready(ids)
    # The kill cut subscriptions in progress; their clients went to the other server.
    cut = [t for t in result.traces if "closed" in t.endings]
    assert cut, "no subscription was in progress on the killed server"
    for trace in cut:
        after = trace.endings.index("closed") + 1
        assert trace.servers[after] != trace.servers[after - 1], trace
        assert trace.subscriptions[after], trace
    # Requests failed only by losing their connection: no error answers.
    kinds = {f.kind for t in result.traces for f in t.http_failures}
    assert kinds <= {"connection"}, kinds
    assert all(t.subscription_errors == [] for t in result.traces), logs
