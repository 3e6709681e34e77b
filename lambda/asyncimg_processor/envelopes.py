"""Turn the events that can reach the processor into references to created objects.

Accepted shapes on AWS (nested the way AWS nests them):

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

On Google Cloud (:func:`parse_pubsub_message`, :func:`parse_cloud_event`):

* a Cloud Storage notification in a Pub/Sub message (attributes ``eventType``, ``bucketId``,
  ``objectId``, ``objectGeneration``; payload format ``JSON_API_V1``, the object resource, or
  ``NONE``), pulled by the worker or pushed (``{"message": {...}, "subscription"}``);
* the CloudEvent ``google.cloud.storage.object.v1.finalized`` an Eventarc trigger delivers to a
  Cloud Run function (data: the object resource), and ``google.cloud.pubsub.topic.v1
  .messagePublished`` wrapping a notification.

GCS names arrive as they are (not URL-encoded). ``OBJECT_DELETE``, ``OBJECT_ARCHIVE``,
``OBJECT_METADATA_UPDATE`` and the matching CloudEvent types are ignored. The object's
generation plays the part of S3's sequencer: a new upload to the same name has a new one.

On Azure (:func:`parse_event_grid`, :func:`parse_queue_message`): ``Microsoft.Storage
.BlobCreated`` in the Event Grid schema or the CloudEvents schema, alone, in a list (a webhook
delivery) or as the text of a Storage Queue message (plain or base64 JSON). The container comes
from ``subject`` (``/blobServices/default/containers/<container>/blobs/<name>``), the name from
``data.url`` percent-decoded (``subject`` carries the name raw, and mangles what it cannot
represent), or from ``subject`` when there is no URL. ``Microsoft.EventGrid
.SubscriptionValidationEvent`` and other event types are ignored. ``data.sequencer`` is the
sequencer.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, unquote_plus, urlsplit


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
    if isinstance(event, list):
        return parse_event_grid(event)
    if not isinstance(event, Mapping):
        return ParsedEvent(errors=[RecordError(None, "the event is not a JSON object")])
    if isinstance(event.get("message"), Mapping) and "subscription" in event:  # Pub/Sub push
        message = event["message"]
        message_id = _opt_str(message.get("messageId") or message.get("message_id"))
        try:
            data = _b64(message.get("data"), "Pub/Sub message data")
        except MalformedRecord as exc:
            return ParsedEvent(errors=[RecordError(message_id, str(exc))])
        return parse_pubsub_message(data, message.get("attributes") or {}, message_id)
    if "specversion" in event:  # a CloudEvent in the structured JSON format
        return parse_cloud_event(event, event.get("data"))
    if "eventType" in event:  # Event Grid schema
        return parse_event_grid([event])
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


# --- Google Cloud -------------------------------------------------------------------------------

GCS_FINALIZE: Final = "OBJECT_FINALIZE"
GCS_FINALIZED: Final = "google.cloud.storage.object.v1.finalized"
PUBSUB_PUBLISHED: Final = "google.cloud.pubsub.topic.v1.messagePublished"


def parse_pubsub_message(
    data: bytes | None, attributes: Mapping[str, Any], message_id: str | None
) -> ParsedEvent:
    """A Cloud Storage notification delivered by Pub/Sub: ``data`` is the message's payload
    (bytes, already base64-decoded), ``attributes`` its attributes."""
    try:
        objects = list(_from_gcs_notification(data, attributes, message_id))
    except MalformedRecord as exc:
        return ParsedEvent(errors=[RecordError(message_id, str(exc))])
    return ParsedEvent(objects=objects)


def parse_cloud_event(attributes: Mapping[str, Any], data: Any) -> ParsedEvent:
    """A CloudEvent: its context ``attributes`` (``type``, ``id``, ``source``, ``subject``...)
    and its ``data`` (a mapping, or JSON bytes/text)."""
    event_type = attributes.get("type")
    event_id = _opt_str(attributes.get("id"))
    try:
        if isinstance(data, bytes | str) and data:
            data = _json(data if isinstance(data, str) else data.decode(), "CloudEvent data")
        if event_type == GCS_FINALIZED:
            return ParsedEvent(objects=[_gcs_object(data, event_id)])
        if event_type == PUBSUB_PUBLISHED:
            message = data.get("message") if isinstance(data, Mapping) else None
            if not isinstance(message, Mapping):
                raise MalformedRecord("the Pub/Sub CloudEvent has no message")
            payload = _b64(message.get("data"), "Pub/Sub message data")
            return parse_pubsub_message(payload, message.get("attributes") or {}, event_id)
        if event_type == BLOB_CREATED:
            return ParsedEvent(objects=[_blob_created(attributes.get("subject"), data, event_id)])
    except MalformedRecord as exc:
        return ParsedEvent(errors=[RecordError(event_id, str(exc))])
    if not isinstance(event_type, str):
        return ParsedEvent(errors=[RecordError(event_id, "the CloudEvent has no type")])
    return ParsedEvent()  # deleted, archived, metadata updated, other sources: not ours


def _from_gcs_notification(
    data: bytes | None, attributes: Mapping[str, Any], message_id: str | None
) -> Iterator[ObjectRef]:
    event_type = attributes.get("eventType")
    if not isinstance(event_type, str):
        raise MalformedRecord("the Pub/Sub message is not a Cloud Storage notification")
    if event_type != GCS_FINALIZE:
        return
    resource: Mapping[str, Any] = {}
    if data:
        parsed = _json(data.decode("utf-8", "replace"), "notification payload")
        if not isinstance(parsed, Mapping):
            raise MalformedRecord("the notification payload is not a JSON object")
        resource = parsed
    merged = {
        **resource,
        "bucket": attributes.get("bucketId") or resource.get("bucket"),
        "name": attributes.get("objectId") or resource.get("name"),
        "generation": attributes.get("objectGeneration") or resource.get("generation"),
    }
    yield _gcs_object(merged, message_id)


def _gcs_object(data: Any, message_id: str | None) -> ObjectRef:
    """An object resource of the JSON API (``bucket``, ``name``, ``size`` as a string...)."""
    if not isinstance(data, Mapping):
        raise MalformedRecord("the Cloud Storage event has no object resource")
    return ObjectRef(
        bucket=_str(data, "bucket"),
        key=_str(data, "name"),  # GCS names are not URL-encoded in events
        size=_int_text(data.get("size")),
        etag=_opt_str(data.get("etag")),
        sequencer=_opt_str(str(data["generation"]) if data.get("generation") else None),
        message_id=message_id,
    )


def _b64(value: Any, what: str) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str):
        raise MalformedRecord(f"the {what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedRecord(f"the {what} is not base64 ({exc})") from exc


def _int_text(value: Any) -> int | None:
    """The JSON API writes int64 values as strings."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return _int_or_none(value)


# --- Azure --------------------------------------------------------------------------------------

BLOB_CREATED: Final = "Microsoft.Storage.BlobCreated"
SUBSCRIPTION_VALIDATION: Final = "Microsoft.EventGrid.SubscriptionValidationEvent"
_BLOB_SUBJECT: Final = "/blobServices/default/containers/"


def parse_event_grid(events: Iterable[Any]) -> ParsedEvent:
    """Event Grid events (Event Grid schema: ``eventType``; CloudEvents schema: ``type``)."""
    objects: list[ObjectRef] = []
    errors: list[RecordError] = []
    for index, event in enumerate(events):
        event_id = _opt_str(event.get("id")) if isinstance(event, Mapping) else None
        try:
            if not isinstance(event, Mapping):
                raise MalformedRecord(f"Event Grid event {index} is not a JSON object")
            event_type = event.get("eventType") or event.get("type")
            if not isinstance(event_type, str):
                raise MalformedRecord(f"Event Grid event {index} has no eventType")
            if event_type == BLOB_CREATED:
                objects.append(_blob_created(event.get("subject"), event.get("data"), event_id))
            # Anything else (a subscription validation, BlobDeleted...) asks nothing of us.
        except MalformedRecord as exc:
            errors.append(RecordError(event_id, str(exc)))
    return ParsedEvent(objects=objects, errors=errors)


def parse_queue_message(content: str | bytes, message_id: str | None) -> ParsedEvent:
    """A Storage Queue message that Event Grid wrote: the event's JSON, as text or base64."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    try:
        try:
            event = json.loads(text)
        except ValueError:
            event = _json(_b64(text.strip(), "queue message").decode("utf-8", "replace"), "event")
    except MalformedRecord as exc:
        return ParsedEvent(errors=[RecordError(message_id, f"the queue message: {exc}")])
    parsed = parse_event_grid(event if isinstance(event, list) else [event])
    # The queue message, not the event, is what is retried.
    return ParsedEvent(
        objects=[_with_message(ref, message_id) for ref in parsed.objects],
        errors=[RecordError(message_id, e.reason) for e in parsed.errors],
    )


def _with_message(ref: ObjectRef, message_id: str | None) -> ObjectRef:
    return ObjectRef(ref.bucket, ref.key, ref.size, ref.etag, ref.sequencer, message_id)


def _blob_created(subject: Any, data: Any, event_id: str | None) -> ObjectRef:
    if not isinstance(data, Mapping):
        raise MalformedRecord("the BlobCreated event has no data")
    if not isinstance(subject, str) or not subject.startswith(_BLOB_SUBJECT):
        raise MalformedRecord("the BlobCreated event's subject names no blob")
    container, sep, name = subject[len(_BLOB_SUBJECT) :].partition("/blobs/")
    if not container or not sep or not name:
        raise MalformedRecord("the BlobCreated event's subject names no blob")
    url = data.get("url")
    if isinstance(url, str):
        # The URL's path ends with /<container>/<name>, percent-encoded (path-style endpoints,
        # like Azurite's, put the account first).
        path = urlsplit(url).path
        marker = f"/{container}/"
        position = path.find(marker)
        if position >= 0 and path[position + len(marker) :]:
            name = unquote(path[position + len(marker) :])
    return ObjectRef(
        bucket=container,
        key=name,
        size=_int_or_none(data.get("contentLength")),
        etag=_opt_str(data.get("eTag")),
        sequencer=_opt_str(data.get("sequencer")),
        message_id=event_id,
    )
