"""A worker SIGKILLed in the middle of an image: SQS gives the message to another worker after
the visibility timeout and the upload ends READY exactly once; with no worker left, the sweep
(``manage.py asyncimg_expire``) fails it with PROCESSING_TIMEOUT and the subscriber hears it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from asyncimg.models import CallbackEvent, ProcessedImage, Upload, UploadStatus
from tests.images import jpeg_bytes
from tests.live import ROOT
from tests.live import test_database_url as database_url
from tests.reliability.conftest import session_keys
from tests.reliability.harness import (
    Browser,
    Pipeline,
    Tab,
    next_status,
    post_to_storage,
    request_upload,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

#: Large enough that processing takes a good part of a second (decode, six variants, seven PUTs):
#: the window in which the worker is killed, between its ``processing`` and ``succeeded`` callbacks.
BIG = jpeg_bytes(6000, 4000)
VISIBILITY_TIMEOUT = 4
PROCESSING_TIMEOUT = 1


async def subscribe(pipeline: Pipeline, browser: Browser, upload_id: str) -> tuple[Tab, Any]:
    tab = await Tab.open(pipeline.asgi[1], browser.cookie_header())
    queue = await tab.subscribe("watch", upload_id)
    return tab, queue


async def until(queue: Any, status: str) -> list[str]:
    """Statuses received up to and including ``status``."""
    seen: list[str] = []
    while not seen or seen[-1] != status:
        update = await next_status(queue)
        assert update != "complete", f"completed before {status}: {seen}"
        seen.append(update["status"])
    return seen


def assert_mid_image(pipeline: Pipeline, browser: Browser, upload_id: str) -> None:
    """After the kill: still PROCESSING, the raw upload still in storage (the worker deletes it
    only after its ``succeeded`` callback): the kill came in the middle of the image."""
    query = "query($id: ID!) { upload(id: $id) { status } }"
    answer = browser.graphql(pipeline.asgi[0], query, {"id": upload_id}).json()
    assert answer["data"]["upload"]["status"] == "PROCESSING", (
        "the worker finished the image before it was killed; the test needs a slower image",
        answer,
    )
    assert pipeline.keys(f"temp/{upload_id}/") != []


def test_killed_worker_message_is_redelivered_to_the_other_worker(
    moto_url: str, redis_url: str, django_user_model: Any
) -> None:
    [session] = session_keys(django_user_model, 1)
    with Pipeline(moto_url, redis_url, visibility_timeout=VISIBILITY_TIMEOUT) as pipeline:
        first, second = pipeline.worker_list
        assert second.process is not None
        # The other worker is frozen while the message is received, so that `first` takes it;
        # its long poll in progress (1 s) ends before the file arrives.
        second.process.send_signal(signal.SIGSTOP)
        time.sleep(1.5)
        browser = Browser(0, pipeline.asgi, session)

        async def scenario() -> tuple[str, list[str], float, float]:
            ticket = request_upload(browser, pipeline.asgi[0], "big.jpg", len(BIG))
            upload_id = ticket["upload"]["id"]
            tab, queue = await subscribe(pipeline, browser, upload_id)
            try:
                await asyncio.to_thread(post_to_storage, ticket, "big.jpg", BIG)
                seen = await until(queue, "PROCESSING")
                first.kill()
                killed = time.monotonic()
                await asyncio.to_thread(assert_mid_image, pipeline, browser, upload_id)
                assert second.process is not None
                second.process.send_signal(signal.SIGCONT)
                seen += await until(queue, "READY")
                ready = time.monotonic()
                assert await next_status(queue) == "complete"
                return upload_id, seen, killed, ready
            finally:
                await tab.close()
                await browser.close()

        try:
            upload_id, seen, killed, ready = asyncio.run(scenario())
        finally:
            if second.process is not None:
                second.process.send_signal(signal.SIGCONT)
        drained = wait_for(lambda: pipeline.queue_depth() == (0, 0))
        outputs = pipeline.keys(f"processed/{upload_id}/")
        leftovers = pipeline.keys("temp/")
        dead = pipeline.dead_letters()

    # READY exactly once, and only after the message came back (the first worker was dead).
    assert seen.count("READY") == 1, seen
    assert seen[-2:] == ["PROCESSING", "READY"], seen
    assert ready - killed >= VISIBILITY_TIMEOUT - 1
    upload = Upload.objects.get(pk=upload_id)
    assert upload.status == UploadStatus.READY
    assert ProcessedImage.objects.count() == 1
    assert upload.image_id == ProcessedImage.objects.get().pk
    # The redelivery's `processing` callback repeated the first one's eventId: dropped.
    events = list(CallbackEvent.objects.filter(upload_id=upload_id).values_list("event", flat=True))
    assert sorted(events) == ["processing", "succeeded"]
    assert len(outputs) == 7  # original + 3 widths x 2 formats
    assert drained
    assert leftovers == []
    assert dead == 0


def wait_for(check: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def expire_command(pipeline: Pipeline, redis_url: str) -> subprocess.CompletedProcess[str]:
    """``manage.py asyncimg_expire`` as cron runs it, with a short processing timeout."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.reliability.settings",
        "DATABASE_URL": database_url(),
        "ASYNCIMG_TEST_REDIS_LAYER": redis_url,
        "ASYNC_IMAGE_UPLOAD_BUCKET": pipeline.bucket,
        "ASYNC_IMAGE_UPLOAD_ENDPOINT_URL": pipeline.moto_url,
        "ASYNC_IMAGE_UPLOAD_PROCESSING_TIMEOUT": str(PROCESSING_TIMEOUT),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'lambda'}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "asyncimg_expire"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_with_no_worker_left_the_sweep_fails_it_with_processing_timeout(
    moto_url: str, redis_url: str, django_user_model: Any
) -> None:
    [session] = session_keys(django_user_model, 1)
    with Pipeline(
        moto_url, redis_url, workers=1, visibility_timeout=VISIBILITY_TIMEOUT
    ) as pipeline:
        [only] = pipeline.worker_list
        browser = Browser(0, pipeline.asgi, session)

        async def scenario() -> tuple[str, list[Any], subprocess.CompletedProcess[str]]:
            ticket = request_upload(browser, pipeline.asgi[0], "big.jpg", len(BIG))
            upload_id = ticket["upload"]["id"]
            tab, queue = await subscribe(pipeline, browser, upload_id)
            try:
                await asyncio.to_thread(post_to_storage, ticket, "big.jpg", BIG)
                await until(queue, "PROCESSING")
                only.kill()
                await asyncio.to_thread(assert_mid_image, pipeline, browser, upload_id)
                # Older than the timeout, then the sweep.
                await asyncio.sleep(PROCESSING_TIMEOUT + 0.5)
                swept = await asyncio.to_thread(expire_command, pipeline, redis_url)
                updates = [await next_status(queue), await next_status(queue)]
                return upload_id, updates, swept
            finally:
                await tab.close()
                await browser.close()

        upload_id, updates, swept = asyncio.run(scenario())
        outputs_after_sweep = pipeline.keys(f"processed/{upload_id}/")
        # A worker again: the message comes back, the processor finds the upload final and only
        # deletes the raw file; the state stays what the sweep made it.
        restarted = pipeline.new_worker(0)
        pipeline.worker_list.append(restarted)
        restarted.start()
        restarted.wait_ready()
        raw_gone = wait_for(lambda: pipeline.keys(f"temp/{upload_id}/") == [], 30)
        drained = wait_for(lambda: pipeline.queue_depth() == (0, 0))

    assert swept.returncode == 0, swept.stderr
    assert "1 upload(s) timed out in processing" in swept.stdout
    failed, complete = updates
    assert failed["status"] == "FAILED"
    assert failed["error"] == {"code": "PROCESSING_TIMEOUT"}
    assert complete == "complete"
    upload = Upload.objects.get(pk=upload_id)
    assert (upload.status, upload.error_code) == (UploadStatus.FAILED, "PROCESSING_TIMEOUT")
    assert upload.image_id is None
    assert ProcessedImage.objects.count() == 0
    # What the killed worker had written has no owner: the sweep deleted it.
    assert outputs_after_sweep == []
    assert raw_gone
    assert drained
    assert pipeline.keys(f"processed/{upload_id}/") == []
