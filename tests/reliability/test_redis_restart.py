"""Redis (the channel layer) restarted in the middle of a burst: changes published while it is
down are lost to the subscribers of that moment, but nothing is lost in the database, and a
subscription made after the restart starts with the final state."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.images import jpeg_bytes
from tests.live import RedisServer
from tests.reliability.conftest import session_keys
from tests.reliability.harness import (
    Browser,
    BurstOptions,
    BurstResult,
    Pipeline,
    Tab,
    assert_database_ready,
    assert_every_upload_ready_once,
    env_int,
    next_status,
    run_burst,
    summary,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

UPLOADS = env_int("ASYNCIMG_RELIABILITY_FAULT_UPLOADS", 120)
IMAGE = jpeg_bytes(64, 48)


def test_redis_restarted_mid_burst(moto_url: str, django_user_model: Any, capsys: Any) -> None:
    sessions: list[str | None] = [*session_keys(django_user_model, 6), None, None]
    redis = RedisServer()
    redis.start()
    try:
        with Pipeline(moto_url, redis.url) as pipeline:
            pids: list[int] = []

            async def restart() -> None:
                assert redis.process is not None
                pids.append(redis.process.pid)
                await asyncio.to_thread(redis.stop)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(redis.start)
                assert redis.process is not None
                pids.append(redis.process.pid)

            async def scenario() -> tuple[BurstResult, dict[str, list[Any]]]:
                browsers = [Browser(i, pipeline.asgi, key) for i, key in enumerate(sessions)]
                # A subscription that hears nothing for 3 s is made again (the change it waits
                # for may have been published while Redis was down).
                options = BurstOptions(
                    concurrency=16, resubscribe_after=3.0, faults=[(UPLOADS // 4, restart)]
                )
                try:
                    result = await run_burst(pipeline.asgi, browsers, IMAGE, UPLOADS, options)
                    # After the restart: one new subscription per upload, on a new connection.
                    gate = asyncio.Semaphore(16)

                    async def resubscribe(trace: Any) -> tuple[str, list[Any]]:
                        assert trace.upload_id is not None
                        async with gate:
                            browser = browsers[trace.browser]
                            server = random.choice(pipeline.asgi)
                            tab = await Tab.open(server, browser.cookie_header())
                            try:
                                queue = await tab.subscribe("after", trace.upload_id)
                                updates = [await next_status(queue), await next_status(queue)]
                            finally:
                                await tab.close()
                        return trace.upload_id, updates

                    final = dict(await asyncio.gather(*map(resubscribe, result.traces)))
                    return result, final
                finally:
                    for browser in browsers:
                        await browser.close()

            result, final = asyncio.run(scenario())
    finally:
        redis.stop()
    errors = [e for t in result.traces for e in t.subscription_errors]
    with capsys.disabled():
        print(
            f"\n[reliability] redis restarted: {summary(result)}; {len(errors)} subscription "
            f"errors {sorted({code for code, _ in errors}, key=str)}"
        )

    assert len(pids) == 2
    assert pids[0] != pids[1], "Redis was not restarted"
    ids = assert_every_upload_ready_once(result, UPLOADS)
    assert_database_ready(ids)
    # Every subscription made after the restart: READY first, then complete.
    assert len(final) == UPLOADS
    bad = {
        pk: updates
        for pk, updates in final.items()
        if updates[1] != "complete" or updates[0]["status"] != "READY"
    }
    assert bad == {}
    # Errors while Redis was down are allowed, but each with a code, and none unexpected.
    assert all(code and code != "INTERNAL_SERVER_ERROR" for code, _ in errors), errors
