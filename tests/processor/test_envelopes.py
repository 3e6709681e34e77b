"""Every event shape that can reach the processor, built the way AWS nests it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import pytest

from asyncimg_processor.envelopes import ObjectRef, parse_event


def s3_record(key: str, *, event_name: str = "ObjectCreated:Put", size: int = 10) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event_name,
        "s3": {
            "bucket": {"name": "bucket"},
            "object": {"key": key, "size": size, "eTag": "etag1", "sequencer": "seq1"},
        },
    }


def s3_event(*keys: str) -> dict[str, Any]:
    return {"Records": [s3_record(k) for k in keys]}


def sqs_event(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:sqs",
                "messageId": f"m{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
            }
            for i, body in enumerate(bodies)
        ]
    }


def sns_notification(message: Any) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(message)}


def eventbridge(key: str, detail_type: str = "Object Created") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "eb-1",
        "detail-type": detail_type,
        "source": "aws.s3",
        "detail": {
            "bucket": {"name": "bucket"},
            "object": {"key": key, "size": 10, "etag": "etag1", "sequencer": "seq1"},
        },
    }


TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2024-01-01T00:00:00.000Z",
    "Bucket": "bucket",
}


def keys(event: dict[str, Any]) -> list[str]:
    return [ref.key for ref in parse_event(event).objects]


def test_direct_s3_event() -> None:
    parsed = parse_event(s3_event("temp/u1/a.jpg"))
    assert parsed.objects == [ObjectRef("bucket", "temp/u1/a.jpg", 10, "etag1", "seq1", None)]
    assert parsed.errors == []
    assert parsed.from_sqs is False


def test_sqs_batch_keeps_message_ids() -> None:
    parsed = parse_event(sqs_event(s3_event("temp/u1/a.jpg"), s3_event("temp/u2/b.png")))
    assert [(r.key, r.message_id) for r in parsed.objects] == [
        ("temp/u1/a.jpg", "m0"),
        ("temp/u2/b.png", "m1"),
    ]
    assert parsed.from_sqs is True


def test_sns_event() -> None:
    event = {
        "Records": [
            {"EventSource": "aws:sns", "Sns": {"Message": json.dumps(s3_event("temp/u/a.jpg"))}}
        ]
    }
    assert keys(event) == ["temp/u/a.jpg"]


def test_sns_in_sqs() -> None:
    parsed = parse_event(sqs_event(sns_notification(s3_event("temp/u/a.jpg"))))
    assert [(r.key, r.message_id) for r in parsed.objects] == [("temp/u/a.jpg", "m0")]


def test_eventbridge_direct_and_in_sqs() -> None:
    assert keys(eventbridge("temp/u/a b+c.jpg")) == ["temp/u/a b+c.jpg"]  # not URL-encoded
    parsed = parse_event(sqs_event(eventbridge("temp/u/a.jpg")))
    assert [(r.key, r.etag, r.message_id) for r in parsed.objects] == [
        ("temp/u/a.jpg", "etag1", "m0")
    ]


def test_eventbridge_other_detail_types_are_ignored() -> None:
    assert parse_event(eventbridge("temp/u/a.jpg", "Object Deleted")).objects == []


def test_test_event_direct_is_ignored() -> None:
    parsed = parse_event(TEST_EVENT)
    assert parsed.objects == []
    assert parsed.errors == []


def test_test_event_in_sqs_and_sns_is_ignored() -> None:
    parsed = parse_event(sqs_event(TEST_EVENT, sns_notification(TEST_EVENT)))
    assert parsed.objects == []
    assert parsed.errors == []


def test_non_creation_events_are_ignored() -> None:
    event = {"Records": [s3_record("temp/u/a.jpg", event_name="ObjectRemoved:Delete")]}
    assert parse_event(event).objects == []


@pytest.mark.parametrize(
    "key",
    [
        "temp/u/my photo.jpg",
        "temp/u/a+b.jpg",
        "temp/u/100%.jpg",
        "temp/u/été ☀ 写真.jpg",
        "temp/u/semi;colon:and=eq&amp.jpg",
    ],
)
def test_keys_are_url_decoded(key: str) -> None:
    # S3 encodes like quote_plus but keeps "/"; moto server encodes "/" as well.
    aws_style = quote_plus(key, safe="/")
    moto_style = quote_plus(key, safe="")
    assert keys(s3_event(aws_style)) == [key]
    assert keys(sqs_event(s3_event(moto_style))) == [key]
    assert keys(sqs_event(sns_notification(s3_event(moto_style)))) == [key]


def test_a_malformed_record_fails_alone() -> None:
    event = sqs_event(
        s3_event("temp/u1/a.jpg"),
        "not json",
        {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]},
        {"something": "else"},
        s3_event("temp/u2/b.jpg"),
    )
    parsed = parse_event(event)
    assert [(r.key, r.message_id) for r in parsed.objects] == [
        ("temp/u1/a.jpg", "m0"),
        ("temp/u2/b.jpg", "m4"),
    ]
    assert [e.message_id for e in parsed.errors] == ["m1", "m2", "m3"]
    assert "not JSON" in parsed.errors[0].reason
    assert "bucket or object" in parsed.errors[1].reason


@pytest.mark.parametrize(
    "event",
    [{}, {"Records": "nope"}, {"Records": [42]}, {"Records": [{"eventSource": "aws:kinesis"}]}],
)
def test_unknown_shapes_are_errors_not_crashes(event: dict[str, Any]) -> None:
    parsed = parse_event(event)
    assert parsed.objects == []
    assert len(parsed.errors) == 1
