"""Many uploads end to end over real processes: two uvicorn servers of the bundled project (the
test database, a Redis channel layer), two ``manage.py asyncimg_worker`` processes on one SQS queue
of a moto server, and browser-like clients (logged-in users and anonymous sessions).

``ASYNCIMG_RELIABILITY_UPLOADS`` sets the number of uploads (default sized for the suite's time
budget on a 2-core machine; the issue asks for 1,000: ``ASYNCIMG_RELIABILITY_UPLOADS=1000``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from asyncimg.models import CallbackEvent, ProcessedImage, Upload, UploadStatus
from tests.images import jpeg_bytes
from tests.reliability.conftest import session_keys
from tests.reliability.harness import (
    RANK,
    Browser,
    BurstOptions,
    BurstResult,
    Pipeline,
    env_int,
    percentile,
    run_burst,
    summary,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

UPLOADS = env_int("ASYNCIMG_RELIABILITY_UPLOADS", 300)
CONCURRENCY = env_int("ASYNCIMG_RELIABILITY_CONCURRENCY", 24)
#: a small real JPEG: the processor makes its original and one variant per format
IMAGE = jpeg_bytes(64, 48)
OUTPUTS_PER_IMAGE = 3


def wait_until(check: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_uploads_end_to_end_over_two_servers_and_two_workers(
    moto_url: str, redis_url: str, shared_database: str, django_user_model: Any, capsys: Any
) -> None:
    sessions: list[str | None] = [*session_keys(django_user_model, 8), None, None, None, None]

    async def scenario(pipeline: Pipeline) -> BurstResult:
        browsers = [Browser(i, pipeline.asgi, key) for i, key in enumerate(sessions)]
        try:
            return await run_burst(
                pipeline.asgi, browsers, IMAGE, UPLOADS, BurstOptions(concurrency=CONCURRENCY)
            )
        finally:
            for browser in browsers:
                await browser.close()

    with Pipeline(moto_url, redis_url, visibility_timeout=30) as pipeline:
        result = asyncio.run(scenario(pipeline))
        drained = wait_until(lambda: pipeline.queue_depth() == (0, 0))
        leftovers = pipeline.keys("temp/")
        outputs = pipeline.keys("processed/")
        dead = pipeline.dead_letters()
        logs = pipeline.logs()
    latencies = result.latencies()
    with capsys.disabled():
        print(f"\n[reliability] burst: {summary(result)}")

    traces = result.traces
    ids = [t.upload_id for t in traces]
    assert len(traces) == UPLOADS
    assert len(set(ids)) == UPLOADS, "two uploads got the same upload (reuse window?)"
    # No request failed, every subscription made once and completed with exactly one READY.
    assert [t for t in traces if t.http_failures] == []
    assert {t.index: t.endings for t in traces if t.endings != ["complete"]} == {}, logs
    not_ready = {t.upload_id: t.subscriptions for t in traces if t.final != "READY"}
    assert not_ready == {}, logs
    assert {t.upload_id: t.subscriptions for t in traces if t.ready_count != 1} == {}
    for trace in traces:
        ranks = [RANK[s] for s in trace.subscriptions[0]]
        assert ranks == sorted(ranks), trace
    assert all(t.subscription_errors == [] for t in traces)
    assert len(latencies) == UPLOADS
    assert percentile(latencies, 0.99) > 0

    # The database: every upload READY with its own image, nothing else made.
    uploads = Upload.objects.filter(pk__in=ids)
    assert Counter(uploads.values_list("status", flat=True)) == {UploadStatus.READY: UPLOADS}
    image_ids = list(uploads.values_list("image_id", flat=True))
    assert None not in image_ids
    assert len(set(image_ids)) == UPLOADS
    assert ProcessedImage.objects.count() == UPLOADS
    succeeded = Counter(
        CallbackEvent.objects.filter(event="succeeded").values_list("upload_id", flat=True)
    )
    assert set(succeeded.values()) == {1}
    assert len(succeeded) == UPLOADS
    # Storage and the queue: nothing left over, nothing dead-lettered.
    assert drained, pipeline.queue_depth()
    assert dead == 0
    assert leftovers == []
    assert len(outputs) == UPLOADS * OUTPUTS_PER_IMAGE
