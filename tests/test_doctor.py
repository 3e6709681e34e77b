"""``manage.py asyncimg_doctor`` against a moto server (S3 + SQS over HTTP) and the live callback
view (pytest-django's ``live_server``), with a good setup and broken ones."""

from __future__ import annotations

import io
import json
import socket
import uuid
from typing import Any

import boto3
import pytest
from django.core.management import CommandError, call_command

from config.embedded import provision

ORIGIN = "https://shop.example.com"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def setup(moto_endpoint: str, settings: Any, live_server: Any) -> dict[str, Any]:
    """A correct setup: bucket, CORS for ORIGIN, queue with policy, notification, callback."""
    name = f"doctor-{uuid.uuid4().hex[:10]}"
    provisioned = provision(
        moto_endpoint, bucket=name, queue=name, origins=[ORIGIN], prefix="temp/"
    )
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = moto_endpoint
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = name
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = provisioned.queue_url
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = f"{live_server.url}/async_image/callback/"
    return {
        "bucket": name,
        "queue_url": provisioned.queue_url,
        "queue_arn": provisioned.queue_arn,
        "s3": boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1"),
        "sqs": boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1"),
    }


def doctor(*args: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("asyncimg_doctor", *args, stdout=out, no_color=True)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def fix_json(output: str, after: str) -> Any:
    """The JSON document printed in the fix that follows ``after``."""
    text = output.split(after, 1)[1]
    start = text.index("{")
    lines = text[start:].splitlines()
    for end in range(1, len(lines) + 1):
        try:
            return json.loads("\n".join(line.strip() for line in lines[:end]))
        except ValueError:
            continue
    raise AssertionError(f"no JSON after {after!r} in:\n{output}")


def test_good_setup_passes(setup: dict[str, Any]) -> None:
    output, error = doctor("--origin", ORIGIN)
    assert error is None, output
    assert "[FAIL]" not in output
    assert output.count("[ok]") == 6, output  # the fifth check, metrics, is informational
    assert "accepts the signature" in output
    assert output.rstrip().endswith("No problems found.")


def test_missing_bucket(setup: dict[str, Any], settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = "doctor-does-not-exist"
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert "Bucket 'doctor-does-not-exist' does not exist." in output
    assert "s3api create-bucket --bucket doctor-does-not-exist" in output


def test_missing_cors_prints_the_configuration_and_command(setup: dict[str, Any]) -> None:
    setup["s3"].delete_bucket_cors(Bucket=setup["bucket"])
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert str(error) == "1 problem(s) found."
    assert f"CORS does not allow POST from {ORIGIN}" in output
    assert f"s3api put-bucket-cors --bucket {setup['bucket']}" in output
    configuration = fix_json(output, "Save as cors.json")
    [rule] = configuration["CORSRules"]
    assert rule["AllowedOrigins"] == [ORIGIN]
    assert "POST" in rule["AllowedMethods"]
    # The printed fix works: applied, the doctor passes.
    setup["s3"].put_bucket_cors(Bucket=setup["bucket"], CORSConfiguration=configuration)
    assert doctor("--origin", ORIGIN)[1] is None


def test_cors_for_another_origin_or_without_post(setup: dict[str, Any]) -> None:
    setup["s3"].put_bucket_cors(
        Bucket=setup["bucket"],
        CORSConfiguration={
            "CORSRules": [
                {"AllowedOrigins": ["https://other.example.com"], "AllowedMethods": ["POST"]},
                {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["GET"]},
            ]
        },
    )
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert f"CORS does not allow POST from {ORIGIN}" in output
    configuration = fix_json(output, "Save as cors.json")
    assert len(configuration["CORSRules"]) == 3  # the two existing rules are kept


def test_cors_wildcard_origin_matches(setup: dict[str, Any]) -> None:
    setup["s3"].put_bucket_cors(
        Bucket=setup["bucket"],
        CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["POST"]}]
        },
    )
    output, error = doctor("--origin", ORIGIN, "--origin", "https://evil.example.org")
    assert error is not None
    assert "CORS does not allow POST from https://evil.example.org:" in output
    assert doctor("--origin", ORIGIN)[1] is None


def test_missing_notification_prints_the_configuration(setup: dict[str, Any]) -> None:
    setup["s3"].put_bucket_notification_configuration(
        Bucket=setup["bucket"], NotificationConfiguration={}
    )
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert "never reach the queue" in output
    assert "no notification targets it" in output
    assert f"put-bucket-notification-configuration --bucket {setup['bucket']}" in output
    configuration = fix_json(output, "Save as notification.json")
    [queue] = configuration["QueueConfigurations"]
    assert queue["QueueArn"] == setup["queue_arn"]
    assert queue["Events"] == ["s3:ObjectCreated:*"]
    setup["s3"].put_bucket_notification_configuration(
        Bucket=setup["bucket"], NotificationConfiguration=configuration
    )
    assert doctor("--origin", ORIGIN)[1] is None


@pytest.mark.parametrize(
    ("events", "prefix"),
    [(["s3:ObjectCreated:*"], "uploads/"), (["s3:ObjectCreated:Put"], "temp/")],
    ids=["wrong-prefix", "put-only"],
)
def test_notification_that_misses_browser_uploads(
    setup: dict[str, Any], events: list[str], prefix: str
) -> None:
    setup["s3"].put_bucket_notification_configuration(
        Bucket=setup["bucket"],
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": setup["queue_arn"],
                    "Events": events,
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert "miss browser uploads (s3:ObjectCreated:Post under 'temp/')" in output


def test_notification_to_another_queue(setup: dict[str, Any]) -> None:
    other = setup["sqs"].create_queue(QueueName=f"{setup['bucket']}-other")["QueueUrl"]
    other_arn = setup["sqs"].get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    setup["s3"].put_bucket_notification_configuration(
        Bucket=setup["bucket"],
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": other_arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    configuration = fix_json(output, "Save as notification.json")
    arns = [q["QueueArn"] for q in configuration["QueueConfigurations"]]
    assert arns == [other_arn, setup["queue_arn"]]  # the other target is kept


def test_queue_policy_missing(setup: dict[str, Any]) -> None:
    setup["sqs"].set_queue_attributes(QueueUrl=setup["queue_url"], Attributes={"Policy": ""})
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert "does not let S3 send messages" in output
    attributes = fix_json(output, "Save as queue-attributes.json")
    policy = json.loads(attributes["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert f"sqs set-queue-attributes --queue-url {setup['queue_url']}" in output


def test_unknown_queue(setup: dict[str, Any], settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = setup["queue_url"] + "-gone"
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert "cannot be read" in output
    assert f"sqs create-queue --queue-name {setup['bucket']}-gone" in output


def test_callback_unreachable(setup: dict[str, Any], settings: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = f"http://127.0.0.1:{port}/async_image/callback/"
    output, error = doctor("--origin", ORIGIN, "--timeout", "2")
    assert error is not None
    assert "is unreachable from here" in output


def test_callback_redirect_is_a_problem(setup: dict[str, Any], settings: Any) -> None:
    # Without the trailing slash Django's APPEND_SLASH redirects; a POST would lose its body.
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL.rstrip("/")
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert "redirects (HTTP 301)" in output


def test_callback_with_another_secret(setup: dict[str, Any], monkeypatch: Any) -> None:
    from asyncimg.management.commands import asyncimg_doctor

    doctor = asyncimg_doctor.Doctor(origins=[ORIGIN], timeout=5)

    class OtherSecret:
        """The doctor's view of the settings only: the live server keeps the real secret."""

        CALLBACK_URL = asyncimg_doctor.app_settings.CALLBACK_URL
        CALLBACK_SECRETS = ("not-the-secret-the-server-has",)

    monkeypatch.setattr(asyncimg_doctor, "app_settings", OtherSecret())
    finding = doctor.check_callback()
    assert finding.level == "FAIL"
    assert "refuses the signature" in finding.message
    assert "BAD_SIGNATURE" in finding.message


def test_origin_defaults_to_csrf_trusted_origins(setup: dict[str, Any], settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://elsewhere.example.net"]
    output, error = doctor()
    assert error is not None
    assert "CORS does not allow POST from https://elsewhere.example.net" in output


def test_no_bucket_setting(settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = None
    with pytest.raises(CommandError, match="ASYNC_IMAGE_UPLOAD_BUCKET is not set"):
        call_command("asyncimg_doctor")
