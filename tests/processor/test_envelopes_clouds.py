"""Every GCP and Azure event shape that can reach the processor, built the way each cloud nests it
(Cloud Storage notifications in Pub/Sub, Eventarc CloudEvents, Event Grid events)."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest

from asyncimg_processor.envelopes import (
    ObjectRef,
    parse_cloud_event,
    parse_event,
    parse_event_grid,
    parse_pubsub_message,
    parse_queue_message,
)

NAME = "temp/0f8e/holiday photo+1 東京.jpg"
RESOURCE = {
    "kind": "storage#object",
    "id": f"bucket/{NAME}/1700000000000001",
    "name": NAME,
    "bucket": "bucket",
    "generation": "1700000000000001",
    "metageneration": "1",
    "contentType": "image/jpeg",
    "size": "12345",
    "etag": "CIH2/5HZ9oIDEAE=",
}
GCS_REF = ObjectRef("bucket", NAME, 12345, "CIH2/5HZ9oIDEAE=", "1700000000000001", "m1")


def notification(event_type: str = "OBJECT_FINALIZE") -> tuple[bytes, dict[str, str]]:
    attributes = {
        "notificationConfig": "projects/_/buckets/bucket/notificationConfigs/1",
        "eventType": event_type,
        "payloadFormat": "JSON_API_V1",
        "bucketId": "bucket",
        "objectId": NAME,
        "objectGeneration": "1700000000000001",
        "eventTime": "2026-01-01T00:00:00.000000Z",
    }
    return json.dumps(RESOURCE).encode(), attributes


def test_pubsub_notification_names_the_object_as_is() -> None:
    data, attributes = notification()
    parsed = parse_pubsub_message(data, attributes, "m1")
    assert parsed.objects == [GCS_REF]
    assert parsed.errors == []


def test_pubsub_notification_without_payload_uses_the_attributes() -> None:
    _, attributes = notification()
    parsed = parse_pubsub_message(b"", {**attributes, "payloadFormat": "NONE"}, "m1")
    assert parsed.objects == [ObjectRef("bucket", NAME, None, None, "1700000000000001", "m1")]


@pytest.mark.parametrize(
    "event_type", ["OBJECT_DELETE", "OBJECT_ARCHIVE", "OBJECT_METADATA_UPDATE"]
)
def test_other_gcs_event_types_are_ignored(event_type: str) -> None:
    data, attributes = notification(event_type)
    parsed = parse_pubsub_message(data, attributes, "m1")
    assert (parsed.objects, parsed.errors) == ([], [])


def test_a_message_that_is_no_notification_is_an_error_of_that_message() -> None:
    parsed = parse_pubsub_message(b'{"hello": 1}', {}, "m9")
    [error] = parsed.errors
    assert error.message_id == "m9"
    assert "not a Cloud Storage notification" in error.reason
    bad = parse_pubsub_message(b"{not json", notification()[1], "m8")
    assert bad.errors[0].message_id == "m8"


def test_pubsub_push_envelope() -> None:
    data, attributes = notification()
    push = {
        "message": {
            "attributes": attributes,
            "data": base64.b64encode(data).decode(),
            "messageId": "m1",
            "publishTime": "2026-01-01T00:00:00Z",
        },
        "subscription": "projects/p/subscriptions/s",
    }
    assert parse_event(push).objects == [GCS_REF]


def cloud_event(event_type: str, data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "m1",
        "type": event_type,
        "source": "//storage.googleapis.com/projects/_/buckets/bucket",
        "subject": f"objects/{NAME}",
        "time": "2026-01-01T00:00:00Z",
        "datacontenttype": "application/json",
        "data": data,
    }


def test_eventarc_finalized_cloud_event() -> None:
    event = cloud_event("google.cloud.storage.object.v1.finalized", RESOURCE)
    assert parse_event(event).objects == [GCS_REF]
    # functions-framework may hand over the data undecoded
    attributes = {k: v for k, v in event.items() if k != "data"}
    assert parse_cloud_event(attributes, json.dumps(RESOURCE).encode()).objects == [GCS_REF]


@pytest.mark.parametrize(
    "event_type",
    [
        "google.cloud.storage.object.v1.deleted",
        "google.cloud.storage.object.v1.archived",
        "google.cloud.storage.object.v1.metadataUpdated",
    ],
)
def test_other_cloud_events_are_ignored(event_type: str) -> None:
    parsed = parse_event(cloud_event(event_type, RESOURCE))
    assert (parsed.objects, parsed.errors) == ([], [])


def test_pubsub_cloud_event_of_a_notification() -> None:
    data, attributes = notification()
    message = {"data": base64.b64encode(data).decode(), "attributes": attributes, "messageId": "x"}
    event = cloud_event("google.cloud.pubsub.topic.v1.messagePublished", {"message": message})
    assert parse_event(event).objects == [GCS_REF]


def test_finalized_cloud_event_without_a_name_is_an_error() -> None:
    parsed = parse_event(cloud_event("google.cloud.storage.object.v1.finalized", {"bucket": "b"}))
    assert parsed.objects == []
    assert "'name'" in parsed.errors[0].reason


# --- Event Grid ---------------------------------------------------------------------------------

BLOB = "temp/0f8e/holiday photo+1 😀.jpg"


def blob_created(
    *, url: str | None = None, event_type: str = "Microsoft.Storage.BlobCreated"
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "api": "PutBlob",
        "eTag": "0x8DC0000000000001",
        "contentType": "image/jpeg",
        "contentLength": 12345,
        "blobType": "BlockBlob",
        "sequencer": "00000000000000000000000000019a0f0000000000000001",
    }
    if url is not None:
        data["url"] = url
    return {
        "topic": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a",
        # The subject carries the name raw; characters it cannot hold are mangled.
        "subject": "/blobServices/default/containers/uploads/blobs/temp/0f8e/holiday photo+1 ?.jpg",
        "eventType": event_type,
        "eventTime": "2026-01-01T00:00:00Z",
        "id": "e1",
        "data": data,
        "dataVersion": "",
        "metadataVersion": "1",
    }


BLOB_REF = ObjectRef(
    "uploads", BLOB, 12345, "0x8DC0000000000001", "00000000000000000000000000019a0f0000000000000001"
)
ENCODED = "temp/0f8e/holiday%20photo%2B1%20%F0%9F%98%80.jpg"


@pytest.mark.parametrize(
    "url",
    [
        f"https://a.blob.core.windows.net/uploads/{ENCODED}",
        f"http://127.0.0.1:10000/devstoreaccount1/uploads/{ENCODED}",  # path style (Azurite)
    ],
)
def test_blob_created_takes_the_name_from_the_decoded_url(url: str) -> None:
    event = blob_created(url=url)
    assert parse_event_grid([event]).objects == [dataclasses.replace(BLOB_REF, message_id="e1")]
    assert parse_event(event).objects == parse_event([event]).objects  # alone or a delivery


def test_blob_created_without_url_takes_the_subject() -> None:
    [ref] = parse_event_grid([blob_created()]).objects
    assert (ref.bucket, ref.key) == ("uploads", "temp/0f8e/holiday photo+1 ?.jpg")


def test_cloud_events_schema_of_blob_created() -> None:
    grid = blob_created(url=f"https://a.blob.core.windows.net/uploads/{ENCODED}")
    event = {
        "specversion": "1.0",
        "type": grid["eventType"],
        "source": grid["topic"],
        "subject": grid["subject"],
        "id": "e1",
        "time": grid["eventTime"],
        "data": grid["data"],
    }
    assert parse_event(event).objects[0].key == BLOB


@pytest.mark.parametrize(
    "event_type",
    [
        "Microsoft.EventGrid.SubscriptionValidationEvent",
        "Microsoft.Storage.BlobDeleted",
        "Microsoft.Storage.BlobTierChanged",
    ],
)
def test_validation_and_other_event_grid_events_are_ignored(event_type: str) -> None:
    parsed = parse_event_grid([blob_created(event_type=event_type)])
    assert (parsed.objects, parsed.errors) == ([], [])


def test_a_subject_naming_no_blob_is_an_error_of_that_event() -> None:
    bad = {**blob_created(), "subject": "/blobServices/default/containers/uploads", "id": "e2"}
    parsed = parse_event_grid([bad, blob_created()])
    assert [ref.key for ref in parsed.objects] == ["temp/0f8e/holiday photo+1 ?.jpg"]
    assert [e.message_id for e in parsed.errors] == ["e2"]


@pytest.mark.parametrize("encode", [False, True])
def test_queue_message_plain_or_base64(encode: bool) -> None:
    text = json.dumps(blob_created(url=f"https://a.blob.core.windows.net/uploads/{ENCODED}"))
    content = base64.b64encode(text.encode()).decode() if encode else text
    parsed = parse_queue_message(content, "q1")
    assert [(ref.key, ref.message_id) for ref in parsed.objects] == [(BLOB, "q1")]


def test_an_unreadable_queue_message_is_its_error() -> None:
    parsed = parse_queue_message("not json, not base64!", "q2")
    assert parsed.objects == []
    assert parsed.errors[0].message_id == "q2"
