"""Turn the events that can reach the processor into references to created S3 objects.

Accepted shapes (nested the way AWS nests them):

* an S3 event notification (``{"Records": [{"eventSource": "aws:s3", ...}]}``);
* SQS (``{"Records": [{"eventSource": "aws:sqs", "messageId", "body"}]}``) whose bodies are
  S3 notifications, SNS notifications (raw delivery off) of S3 notifications, or EventBridge
  events;
* SNS (``{"Records": [{"EventSource": "aws:sns", "Sns": {"Message"}}]}``) of S3 notifications;
* an EventBridge ``Object Created`` event from ``aws.s3``.

S3 notifications carry URL-encoded keys (``red flower.jpg`` → ``red+flower.jpg``; moto server also
encodes ``/``), so they are decoded with ``unquote_plus``. EventBridge events carry the key as is.
``s3:TestEvent`` messages and events other than object creation are ignored. A malformed record
produces a :class:`RecordError` for that record (with its SQS message id, so only that message is
retried) and never stops the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus


@dataclass(frozen=True)
class ObjectRef:
    """One created object. ``message_id`` is the SQS message it came in, if any."""

    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class RecordError:
    """A record that could not be understood; ``message_id`` identifies it for SQS retries."""

    message_id: str | None
    reason: str


@dataclass(frozen=True)
class ParsedEvent:
    objects: list[ObjectRef] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    #: True when the event came from SQS: failures are then reported per message.
    from_sqs: bool = False


class MalformedRecord(ValueError):
    pass


def parse_event(event: Mapping[str, Any]) -> ParsedEvent:
    """Every created object the event announces, and the records that could not be read."""
    if not isinstance(event, Mapping):
        return ParsedEvent(errors=[RecordError(None, "the event is not a JSON object")])
    if _is_eventbridge(event):
        try:
            return ParsedEvent(objects=list(_from_eventbridge(event, None)))
        except MalformedRecord as exc:
            return ParsedEvent(errors=[RecordError(None, str(exc))])
    records = event.get("Records")
    if records is None and _is_test_event(event):
        return ParsedEvent()
    if not isinstance(records, list):
        return ParsedEvent(errors=[RecordError(None, "the event has no Records list")])

    objects: list[ObjectRef] = []
    errors: list[RecordError] = []
    from_sqs = False
    for index, record in enumerate(records):
        message_id = None
        try:
            if not isinstance(record, Mapping):
                raise MalformedRecord(f"record {index} is not a JSON object")
            source = record.get("eventSource") or record.get("EventSource")
            if source == "aws:sqs":
                from_sqs = True
                message_id = _str(record, "messageId")
                objects.extend(_from_body(_json(record.get("body"), "SQS body"), message_id))
            elif source == "aws:sns":
                sns = record.get("Sns")
                if not isinstance(sns, Mapping):
                    raise MalformedRecord(f"SNS record {index} has no Sns object")
                objects.extend(_from_body(_json(sns.get("Message"), "SNS message"), None))
            elif source == "aws:s3":
                objects.extend(_from_s3_record(record, None))
            else:
                raise MalformedRecord(f"record {index} has unknown eventSource {source!r}")
        except MalformedRecord as exc:
            errors.append(RecordError(message_id, str(exc)))
    return ParsedEvent(objects=objects, errors=errors, from_sqs=from_sqs)


def _from_body(body: Any, message_id: str | None) -> Iterator[ObjectRef]:
    """The payload of an SQS message or SNS notification: any of the nestable shapes."""
    if not isinstance(body, Mapping):
        raise MalformedRecord("the message is not a JSON object")
    if body.get("Type") == "Notification" and "Message" in body:  # SNS → SQS
        yield from _from_body(_json(body.get("Message"), "SNS message"), message_id)
    elif _is_eventbridge(body):  # EventBridge → SQS
        yield from _from_eventbridge(body, message_id)
    elif _is_test_event(body):
        return
    elif isinstance(body.get("Records"), list):
        for record in body["Records"]:
            if not isinstance(record, Mapping) or record.get("eventSource") != "aws:s3":
                raise MalformedRecord("the message holds a record that is not an S3 event")
            yield from _from_s3_record(record, message_id)
    else:
        raise MalformedRecord("the message is neither an S3, SNS nor EventBridge event")


def _from_s3_record(record: Mapping[str, Any], message_id: str | None) -> Iterator[ObjectRef]:
    if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
        return
    s3 = record.get("s3")
    if not isinstance(s3, Mapping):
        raise MalformedRecord("the S3 record has no s3 object")
    bucket, obj = s3.get("bucket"), s3.get("object")
    if not isinstance(bucket, Mapping) or not isinstance(obj, Mapping):
        raise MalformedRecord("the S3 record has no bucket or object")
    yield ObjectRef(
        bucket=_str(bucket, "name"),
        key=unquote_plus(_str(obj, "key")),
        size=_int_or_none(obj.get("size")),
        etag=_opt_str(obj.get("eTag")),
        sequencer=_opt_str(obj.get("sequencer")),
        message_id=message_id,
    )


def _from_eventbridge(event: Mapping[str, Any], message_id: str | None) -> Iterator[ObjectRef]:
    if event.get("detail-type") != "Object Created":
        return
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedRecord("the EventBridge event has no detail")
    bucket, obj = detail.get("bucket"), detail.get("object")
    if not isinstance(bucket, Mapping) or not isinstance(obj, Mapping):
        raise MalformedRecord("the EventBridge event has no bucket or object")
    yield ObjectRef(
        bucket=_str(bucket, "name"),
        key=_str(obj, "key"),  # EventBridge does not URL-encode keys
        size=_int_or_none(obj.get("size")),
        etag=_opt_str(obj.get("etag")),
        sequencer=_opt_str(obj.get("sequencer")),
        message_id=message_id,
    )


def _is_eventbridge(event: Mapping[str, Any]) -> bool:
    return event.get("source") == "aws.s3" and "detail-type" in event


def _is_test_event(event: Mapping[str, Any]) -> bool:
    return event.get("Event") == "s3:TestEvent"


def _json(value: Any, what: str) -> Any:
    if not isinstance(value, str):
        raise MalformedRecord(f"the {what} is not a string")
    try:
        return json.loads(value)
    except ValueError as exc:
        raise MalformedRecord(f"the {what} is not JSON ({exc})") from exc


def _str(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedRecord(f"{key!r} is missing or not a string")
    return value


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
