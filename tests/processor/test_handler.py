"""The handler against S3 and SQS on the moto server (real HTTP) and a real callback receiver."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import boto3
import pytest

from asyncimg_processor import handler as handler_module
from asyncimg_processor.callback import CallbackClient
from asyncimg_processor.core import ProcessOptions
from asyncimg_processor.errors import FIXED_MESSAGES
from asyncimg_processor.handler import (
    HandlerConfig,
    handle_event,
    lambda_handler,
    upload_id_from_key,
)
from tests.processor import images
from tests.processor.conftest import AwsWorld, CallbackReceiver

JPEG = images.encode(images.picture(1000, 750), "JPEG", quality=90)


def config(receiver: CallbackReceiver, **kwargs: Any) -> HandlerConfig:
    return HandlerConfig(callback_url=receiver.url, callback_secret=receiver.secret, **kwargs)


def callbacks(receiver: CallbackReceiver, **kwargs: Any) -> CallbackClient:
    return CallbackClient(receiver.url, receiver.secret, sleep=lambda _s: None, **kwargs)


def run(aws: AwsWorld, receiver: CallbackReceiver, event: dict[str, Any], **kw: Any) -> Any:
    return handle_event(event, config(receiver, **kw), aws.s3, callbacks(receiver, attempts=2))


def test_upload_is_processed_stored_announced_and_cleaned_up(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    upload_id = str(uuid.uuid4())
    key = f"temp/{upload_id}/my holiday photo+1.jpg"
    aws.upload(key, JPEG)

    result = run(aws, callback_receiver, aws.receive_event())

    assert result["batchItemFailures"] == []
    assert [o["status"] for o in result["outcomes"]] == ["succeeded"]
    assert callback_receiver.events() == ["processing", "succeeded"]
    assert all(r.signature_ok for r in callback_receiver.received)
    image = callback_receiver.received[1].json["image"]
    folder = f"processed/{upload_id}/"
    assert image["key"] == folder + "original.jpg"
    assert (image["width"], image["height"], image["format"]) == (1000, 750, "jpeg")
    assert [(v["name"], v["width"], v["key"]) for v in image["variants"]] == [
        ("800w.webp", 800, folder + "800w.webp"),
        ("800w.jpg", 800, folder + "800w.jpg"),
        ("320w.webp", 320, folder + "320w.webp"),
        ("320w.jpg", 320, folder + "320w.jpg"),
    ]
    assert image["metadata"]["format"] == "jpeg"

    # The temporary object is gone; the outputs are there with their headers and sizes.
    assert aws.keys("temp/") == []
    assert aws.keys(folder) == sorted(
        folder + n for n in ["original.jpg", "800w.webp", "800w.jpg", "320w.webp", "320w.jpg"]
    )
    for entry in [image, *image["variants"]]:
        head = aws.s3.head_object(Bucket=aws.bucket, Key=entry["key"])
        assert head["ContentType"] == f"image/{entry['format']}"
        assert head["CacheControl"] == "public, max-age=31536000, immutable"
        assert head["ContentLength"] == entry["size"]


def test_svg_upload_gets_a_failed_callback_and_is_deleted(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    upload_id = str(uuid.uuid4())
    aws.upload(f"temp/{upload_id}/logo.jpg", images.SVG)

    result = run(aws, callback_receiver, aws.receive_event())

    assert result["batchItemFailures"] == []
    assert [o["status"] for o in result["outcomes"]] == ["failed"]
    assert callback_receiver.events() == ["processing", "failed"]
    failed = callback_receiver.received[1].json
    assert failed["uploadId"] == upload_id
    assert failed["error"]["code"] == "UNSUPPORTED_TYPE"
    assert aws.keys() == []


def test_partial_batch_failure_names_only_the_broken_messages(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    good = str(uuid.uuid4())
    aws.upload(f"temp/{good}/a.jpg", JPEG)
    event = aws.receive_event()
    event["Records"].append({"eventSource": "aws:sqs", "messageId": "broken", "body": "{oops"})

    result = run(aws, callback_receiver, event)

    assert result["batchItemFailures"] == [{"itemIdentifier": "broken"}]
    assert sorted(o["status"] for o in result["outcomes"]) == ["error", "succeeded"]
    assert aws.keys("temp/") == []


def test_callback_outage_fails_the_record_and_keeps_the_upload(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    upload_id = str(uuid.uuid4())
    key = f"temp/{upload_id}/a.jpg"
    aws.upload(key, JPEG)
    event = aws.receive_event()
    callback_receiver.script = [503, 503]

    result = run(aws, callback_receiver, event)

    message_id = event["Records"][0]["messageId"]
    assert result["batchItemFailures"] == [{"itemIdentifier": message_id}]
    assert aws.keys("temp/") == [key]  # kept for the redelivery

    # The redelivery succeeds, and repeats the "processing" event id.
    retry = run(aws, callback_receiver, event)
    assert retry["batchItemFailures"] == []
    processing_ids = {r.json["eventId"] for r in callback_receiver.received}
    assert len(processing_ids) == 2  # "processing" (3 tries, one id) and "succeeded"
    assert aws.keys("temp/") == []


def test_s3_outage_fails_the_record(callback_receiver: CallbackReceiver) -> None:
    dead_s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        config=boto3.session.Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    body = {"Records": [_s3_record("bucket", "temp/u1/a.jpg")]}
    event = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": json.dumps(body)}]}
    result = handle_event(event, config(callback_receiver), dead_s3, callbacks(callback_receiver))
    assert result["batchItemFailures"] == [{"itemIdentifier": "m1"}]
    assert callback_receiver.received == []


def test_duplicate_delivery_after_success_is_skipped(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    aws.upload(f"temp/{uuid.uuid4()}/a.jpg", JPEG)
    event = aws.receive_event()
    run(aws, callback_receiver, event)
    sent = len(callback_receiver.received)

    again = run(aws, callback_receiver, event)

    assert [o["status"] for o in again["outcomes"]] == ["skipped"]
    assert len(callback_receiver.received) == sent


def test_keys_outside_the_temporary_prefix_and_other_buckets_are_ignored(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    event = {
        "Records": [
            _s3_record(aws.bucket, "processed/u1/original.jpg"),
            _s3_record(aws.bucket, "temp/no-name/"),
            _s3_record("someone-else", "temp/u1/a.jpg"),
        ]
    }
    result = run(aws, callback_receiver, event, bucket=aws.bucket)
    assert [o["status"] for o in result["outcomes"]] == ["skipped"] * 3
    assert callback_receiver.received == []


def test_rejected_callback_stops_without_retry(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    key = f"temp/{uuid.uuid4()}/a.jpg"
    aws.upload(key, JPEG)
    callback_receiver.script = [404]

    result = run(aws, callback_receiver, aws.receive_event())

    assert result["batchItemFailures"] == []
    assert [o["status"] for o in result["outcomes"]] == ["rejected"]
    assert aws.keys() == [key]  # left to the lifecycle rule


@pytest.mark.parametrize("final", ["FAILED", "EXPIRED", "READY"])
def test_a_finished_upload_is_not_processed_and_its_raw_file_is_deleted(
    aws: AwsWorld, callback_receiver: CallbackReceiver, final: str
) -> None:
    """Cancelled (FAILED), expired, or processed by an earlier delivery: the app answers the
    ``processing`` callback with the final status, and the processor stops there."""
    upload_id = str(uuid.uuid4())
    key = f"temp/{upload_id}/a.jpg"
    aws.upload(key, JPEG)
    callback_receiver.answers["processing"] = {
        "status": "ignored",
        "uploadId": upload_id,
        "uploadStatus": final,
        "version": 3,
        "published": True,
    }

    result = run(aws, callback_receiver, aws.receive_event())

    assert result["batchItemFailures"] == []
    assert [(o["status"], o["detail"]) for o in result["outcomes"]] == [
        ("skipped", f"the upload is already {final}")
    ]
    assert callback_receiver.events() == ["processing"]
    assert aws.keys() == []  # the raw upload deleted, nothing written under processed/


def test_an_unfinished_upload_is_processed_whatever_the_answer_says(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    """A redelivered event whose ``processing`` callback is a duplicate (the upload is still
    PROCESSING: the first delivery died midway) is processed again."""
    upload_id = str(uuid.uuid4())
    aws.upload(f"temp/{upload_id}/a.jpg", JPEG)
    callback_receiver.answers["processing"] = {"status": "duplicate", "uploadStatus": "PROCESSING"}

    result = run(aws, callback_receiver, aws.receive_event())

    assert [o["status"] for o in result["outcomes"]] == ["succeeded"]
    assert callback_receiver.events() == ["processing", "succeeded"]


def test_wrong_secret_fails_the_record_for_the_dead_letter_queue(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    aws.upload(f"temp/{uuid.uuid4()}/a.jpg", JPEG)
    event = aws.receive_event()
    wrong = CallbackClient(callback_receiver.url, "wrong", sleep=lambda _s: None)
    result = handle_event(event, config(callback_receiver), aws.s3, wrong)
    assert result["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]


def test_size_is_rechecked_after_upload(aws: AwsWorld, callback_receiver: CallbackReceiver) -> None:
    aws.upload(f"temp/{uuid.uuid4()}/a.jpg", JPEG)
    options = ProcessOptions(max_bytes=len(JPEG) - 1)

    result = run(aws, callback_receiver, aws.receive_event(), options=options)

    assert [o["detail"] for o in result["outcomes"]] == ["FILE_TOO_LARGE"]
    assert callback_receiver.received[-1].json["error"]["code"] == "FILE_TOO_LARGE"
    assert aws.keys() == []


def test_upload_ids_from_keys() -> None:
    assert upload_id_from_key("temp/abc-123/x.jpg", "temp/") == "abc-123"
    for key in ["temp/abc/", "temp/abc", "temp/a/b/c.jpg", "other/abc/x.jpg", "temp/../x.jpg"]:
        assert upload_id_from_key(key, "temp/") is None, key


def test_lambda_handler_reads_its_configuration_from_the_environment(
    aws: AwsWorld, callback_receiver: CallbackReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lambda runtime itself is not available here: the entry point is called directly."""
    secrets = boto3.client("secretsmanager", endpoint_url=aws.endpoint, region_name="us-east-1")
    arn = secrets.create_secret(
        Name=f"cb-{uuid.uuid4().hex}", SecretString=json.dumps({"secret": callback_receiver.secret})
    )["ARN"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("ASYNCIMG_CALLBACK_URL", callback_receiver.url)
    monkeypatch.setenv("ASYNCIMG_CALLBACK_SECRET_ARN", arn)
    monkeypatch.setenv("ASYNCIMG_VARIANT_WIDTHS", "100,200")
    monkeypatch.setenv("ASYNCIMG_VARIANT_FORMATS", "webp")
    monkeypatch.setattr(handler_module, "_s3", None)
    monkeypatch.setattr(handler_module, "_config", None)
    upload_id = str(uuid.uuid4())
    aws.upload(f"temp/{upload_id}/a.jpg", JPEG)

    response = lambda_handler(aws.receive_event(), None)

    assert response == {"batchItemFailures": []}
    assert aws.keys(f"processed/{upload_id}/") == [
        f"processed/{upload_id}/{n}" for n in ["100w.webp", "200w.webp", "original.jpg"]
    ]
    assert all(r.signature_ok for r in callback_receiver.received)


def test_config_from_env_with_ssm_parameter(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    ssm = boto3.client("ssm", endpoint_url=aws.endpoint, region_name="us-east-1")
    name = f"/asyncimg/{uuid.uuid4().hex}"
    ssm.put_parameter(Name=name, Value="from-ssm", Type="SecureString")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    env = {
        "ASYNCIMG_CALLBACK_URL": "https://example.com/async_image/callback/",
        "ASYNCIMG_CALLBACK_SECRET_PARAMETER": name,
        "ASYNCIMG_TEMPORARY_PREFIX": "uploads/",
        "ASYNCIMG_MAX_PIXELS": "1000",
        "ASYNCIMG_MAX_BYTES": "2000",
        "ASYNCIMG_ALLOWED_TYPES": "image/jpeg, image/png",
    }
    loaded = HandlerConfig.from_env(env)
    assert loaded.callback_secret == "from-ssm"
    assert loaded.temporary_prefix == "uploads/"
    assert loaded.processed_prefix == "processed/"
    assert (loaded.options.max_pixels, loaded.options.max_bytes) == (1000, 2000)
    assert loaded.options.allowed_types == frozenset({"image/jpeg", "image/png"})
    assert loaded.options.widths == (320, 800, 1600)
    assert "from-ssm" not in repr(loaded)


def _s3_record(bucket: str, key: str) -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Post",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}},
    }


# --- the processor re-checks what the credential promised ------------------------------------


def declare(receiver: CallbackReceiver, size: int, content_type: str) -> None:
    """Answer ``processing`` as the app does: with what the upload's credential allowed."""
    receiver.answers["processing"] = {
        "status": "applied",
        "uploadStatus": "PROCESSING",
        "declaredSize": size,
        "declaredContentType": content_type,
    }


def test_an_object_larger_than_declared_fails_and_is_deleted(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    """moto (like MinIO and Azure SAS) enforces no POST policy: 1000 bytes declared, more sent."""
    assert len(JPEG) > 1000
    aws.upload(f"temp/{uuid.uuid4()}/a.jpg", JPEG)
    declare(callback_receiver, 1000, "image/jpeg")

    result = run(aws, callback_receiver, aws.receive_event())

    assert [(o["status"], o["detail"]) for o in result["outcomes"]] == [
        ("failed", "FILE_TOO_LARGE")
    ]
    assert callback_receiver.events() == ["processing", "failed"]
    error = callback_receiver.received[-1].json["error"]
    assert error["code"] == "FILE_TOO_LARGE"
    assert "1000 bytes declared" in error["message"]
    assert aws.keys() == []  # the raw upload deleted, nothing written under processed/


def test_an_object_of_another_type_than_declared_fails_and_is_deleted(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    png = images.encode(images.picture(400, 300), "PNG")
    jpeg_on_png, png_on_png = str(uuid.uuid4()), str(uuid.uuid4())
    aws.upload(f"temp/{jpeg_on_png}/a.png", JPEG)  # JPEG bytes on an image/png credential
    aws.upload(f"temp/{png_on_png}/b.png", png)
    event = aws.receive_event(expected=2)
    declare(callback_receiver, 10 * 1024 * 1024, "image/png")

    result = run(aws, callback_receiver, event)

    outcomes = {o["upload_id"]: (o["status"], o["detail"]) for o in result["outcomes"]}
    assert outcomes[jpeg_on_png] == ("failed", "CONTENT_TYPE_MISMATCH")
    assert outcomes[png_on_png][0] == "succeeded"  # the PNG is what was declared
    failed = [r.json for r in callback_receiver.received if r.json["event"] == "failed"]
    assert [(f["uploadId"], f["error"]["code"]) for f in failed] == [
        (jpeg_on_png, "CONTENT_TYPE_MISMATCH")
    ]
    assert aws.keys("temp/") == []
    assert aws.keys(f"processed/{jpeg_on_png}/") == []


class _ReplacedAfterHead:
    """The bucket's client, except that the object is replaced by ``data`` right after HEAD
    (a second upload to the same key racing the processor) and every read of a GET body is
    recorded. Everything goes to the moto server."""

    def __init__(self, s3: Any, data: bytes) -> None:
        self._s3 = s3
        self._data = data
        self.exceptions = s3.exceptions
        self.reads: list[int | None] = []

    def head_object(self, **kwargs: Any) -> Any:
        head = self._s3.head_object(**kwargs)
        self._s3.put_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=self._data)
        return head

    def get_object(self, **kwargs: Any) -> Any:
        response = self._s3.get_object(**kwargs)
        body, reads = response["Body"], self.reads

        class Body:
            def read(self, amount: int | None = None) -> bytes:
                reads.append(amount)
                data: bytes = body.read(amount)
                return data

        return {**response, "Body": Body()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


def test_an_object_replaced_after_head_is_read_no_further_than_declared(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    small = images.encode(images.picture(40, 30), "JPEG")
    aws.upload(f"temp/{uuid.uuid4()}/a.jpg", small)
    event = aws.receive_event()
    declare(callback_receiver, len(small), "image/jpeg")
    s3 = _ReplacedAfterHead(aws.s3, JPEG)

    result = handle_event(event, config(callback_receiver), s3, callbacks(callback_receiver))

    assert [o["detail"] for o in result["outcomes"]] == ["FILE_TOO_LARGE"]
    assert s3.reads == [len(small) + 1]  # not the configured 10 MiB + 1
    assert aws.keys() == []


def test_an_app_that_declares_nothing_gets_the_old_checks_and_one_warning(
    aws: AwsWorld, callback_receiver: CallbackReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """An app older than the processor answers ``processing`` without the declaration: the
    processor checks against its own limits only, and says so once per process."""
    handler_module._warn_undeclared.cache_clear()
    for _ in range(2):
        aws.upload(f"temp/{uuid.uuid4()}/a.png", JPEG)
    event = aws.receive_event(expected=2)
    callback_receiver.answers["processing"] = {"status": "applied", "uploadStatus": "PROCESSING"}

    with caplog.at_level(logging.WARNING, logger="asyncimg_processor.handler"):
        result = run(aws, callback_receiver, event)

    assert [o["status"] for o in result["outcomes"]] == ["succeeded", "succeeded"]
    warnings = [r for r in caplog.records if "declaredSize" in r.getMessage()]
    assert len(warnings) == 1


def test_a_corrupt_upload_is_told_a_fixed_message(
    aws: AwsWorld, callback_receiver: CallbackReceiver
) -> None:
    aws.upload(f"temp/{uuid.uuid4()}/a.jpg", JPEG[: len(JPEG) // 2])

    run(aws, callback_receiver, aws.receive_event())

    error = callback_receiver.received[-1].json["error"]
    assert error == {"code": "CORRUPT_IMAGE", "message": FIXED_MESSAGES["CORRUPT_IMAGE"]}
