"""``manage.py asyncimg_worker --once`` against SQS and S3 on the moto server."""

from __future__ import annotations

import io
import threading
import time
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from asyncimg.management.commands.asyncimg_worker import build_worker
from tests.processor import images
from tests.processor.conftest import AwsWorld, CallbackReceiver

JPEG = images.encode(images.picture(900, 600), "JPEG")


@pytest.fixture
def worker_settings(aws: AwsWorld, callback_receiver: CallbackReceiver, settings: Any) -> Any:
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = aws.bucket
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = aws.endpoint
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = aws.queue_url
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = callback_receiver.url
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = [callback_receiver.secret, "old-secret"]
    settings.ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS = (300,)
    return settings


def queue_counts(aws: AwsWorld) -> tuple[int, int]:
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=aws.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def run_once() -> str:
    out = io.StringIO()
    call_command("asyncimg_worker", "--once", "--wait-time", "1", stdout=out)
    return out.getvalue()


def test_processes_and_deletes_messages(
    worker_settings: Any, aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    upload_id = str(uuid.uuid4())
    aws.upload(f"temp/{upload_id}/photo one.jpg", JPEG)

    output = run_once()

    # moto's s3:TestEvent is received too, and deleted as handled (nothing to do).
    assert "failed 0" in output
    assert queue_counts(aws) == (0, 0)
    assert callback_receiver.events() == ["processing", "succeeded"]
    assert aws.keys() == sorted(
        f"processed/{upload_id}/{n}" for n in ["original.jpg", "300w.webp", "300w.jpg"]
    )


def test_failed_messages_stay_in_the_queue(
    worker_settings: Any, aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    aws.upload(f"temp/{uuid.uuid4()}/a.jpg", JPEG)
    # A signing secret the app does not know: the callback gets 401, the record fails at once
    # (5xx would fail it too, after the backoff the handler tests cover).
    worker_settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = ["not-the-receivers-secret"]

    output = run_once()

    assert "failed 1" in output
    assert queue_counts(aws) == (0, 1)  # in flight until the visibility timeout, then redelivered
    assert len(aws.keys("temp/")) == 1


def test_invalid_upload_is_reported_failed_and_its_message_deleted(
    worker_settings: Any, aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    aws.upload(f"temp/{uuid.uuid4()}/page.png", images.HTML)
    run_once()
    assert callback_receiver.received[-1].json["error"]["code"] == "UNSUPPORTED_TYPE"
    assert queue_counts(aws) == (0, 0)


def test_worker_in_a_thread_stops_on_request(
    worker_settings: Any, aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    worker = build_worker(wait_time=1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    aws.upload(f"temp/{uuid.uuid4()}/a.jpg", JPEG)
    deadline = time.monotonic() + 10
    while "succeeded" not in callback_receiver.events() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert "succeeded" in callback_receiver.events()


def test_missing_settings_are_command_errors(settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = None
    with pytest.raises(CommandError, match="QUEUE_URL"):
        call_command("asyncimg_worker", "--once")
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = "http://127.0.0.1:9/q"
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = []
    with pytest.raises(CommandError, match="CALLBACK_SECRETS"):
        call_command("asyncimg_worker", "--once")
