"""The moderation policy applied to the rekognition analyzer's labels: reject, hold, approve,
reject after hold, each pushed to a websocket subscriber (the bundled ASGI application, in
process), with the processed objects in the moto server's bucket deleted on rejection.

The processor is not run here: the callbacks carry the metadata its ``rekognition`` analyzer
sends (tests/test_rekognition.py runs the analyzer against Rekognition's wire protocol)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.urls import reverse

from asyncimg.models import ImageFingerprint, ProcessedImage, Upload, UploadStatus
from tests.callbacks import callback_body, image_payload
from tests.conftest import BUCKET, graphql_client
from tests.test_callback import make_upload, post
from tests.tokens import make_token
from tests.ws import communicator

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = "id status error { code } moderation { status labels { name confidence } } image { url }"
IMAGE_PROCESSED = f"subscription($id: ID!) {{ imageProcessed(uploadId: $id) {{ {FIELDS} }} }}"
POLICY = {"reject": {"Explicit Nudity": 80}, "hold": {"Suggestive": 50, "Violence": 60}}


@pytest.fixture(autouse=True)
def _policy(settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR = "tests.tokens.authenticate"
    settings.ASYNC_IMAGE_UPLOAD_MODERATION = POLICY


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> Any:
    yield
    await sync_to_async(connections.close_all)()


def moderated_body(upload: Upload, labels: list[dict[str, Any]] | None) -> bytes:
    image = image_payload(str(upload.pk))
    if labels is not None:
        image["metadata"]["rekognition"] = {
            "labels": [{"name": "Person", "confidence": 99.1}],
            "moderationLabels": labels,
        }
    image["metadata"]["perceptualHash"] = "0123456789abcdef"
    return callback_body(str(upload.pk), "succeeded", image=image)


def store_outputs(s3: Any, upload: Upload) -> list[str]:
    keys = [image_payload(str(upload.pk))["key"]] + [
        v["key"] for v in image_payload(str(upload.pk))["variants"]
    ]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    return keys


def stored(s3: Any, upload: Upload) -> list[str]:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"processed/{upload.pk}/")
    return [o["Key"] for o in listing.get("Contents", [])]


class Subscriber:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, user: Any, upload: Upload) -> Subscriber:
        ws = communicator(None)
        connected, _ = await ws.connect()
        assert connected
        token = await sync_to_async(make_token)(user)
        await ws.send_json_to(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        ack = await ws.receive_json_from()
        assert ack["type"] == "connection_ack", ack
        await ws.send_json_to(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": IMAGE_PROCESSED, "variables": {"id": str(upload.pk)}},
            }
        )
        self = cls(ws)
        assert (await self.next())["status"] == "PENDING"
        return self

    async def next(self) -> dict[str, Any]:
        message = await self.ws.receive_json_from(timeout=10)
        assert message["type"] == "next", message
        data: dict[str, Any] = message["payload"]["data"]["imageProcessed"]
        return data

    async def completes(self) -> None:
        message = await self.ws.receive_json_from(timeout=10)
        assert message["type"] == "complete", message
        await self.ws.disconnect()


def admin_action(upload: Upload, action: str) -> Any:
    client = Client()
    admin, _ = User.objects.get_or_create(
        username="reviewer", defaults={"is_staff": True, "is_superuser": True}
    )
    client.force_login(admin)
    return client.post(
        reverse("admin:asyncimg_upload_changelist"),
        {"action": action, "_selected_action": [str(upload.pk)]},
    )


async def deliver(body: bytes) -> dict[str, Any]:
    response = await sync_to_async(post)(Client(), body)
    assert response.status_code == 200, response.content
    result: dict[str, Any] = response.json()
    return result


async def test_reject_fails_the_upload_and_deletes_its_outputs(user: Any, s3: Any) -> None:
    upload = await sync_to_async(make_upload)(user)
    await sync_to_async(store_outputs)(s3, upload)
    sub = await Subscriber.open(user, upload)
    labels = [{"name": "Explicit Nudity", "parentName": "", "confidence": 91.5}]
    await deliver(moderated_body(upload, labels))
    failed = await sub.next()
    assert failed["status"] == "FAILED"
    assert failed["error"] == {"code": "REJECTED_BY_MODERATION"}
    assert failed["image"] is None
    await sub.completes()
    assert await sync_to_async(stored)(s3, upload) == []
    row = await Upload.objects.aget(pk=upload.pk)
    assert row.image_id is None
    assert await ProcessedImage.objects.acount() == 0
    assert not await ImageFingerprint.objects.filter(upload_id=upload.pk).aexists()


async def test_a_child_label_matches_its_parent_rule(user: Any, s3: Any) -> None:
    upload = await sync_to_async(make_upload)(user)
    labels = [{"name": "Graphic Male Nudity", "parentName": "Explicit Nudity", "confidence": 85}]
    await deliver(moderated_body(upload, labels))
    row = await Upload.objects.aget(pk=upload.pk)
    assert (row.status, row.error_code) == (UploadStatus.FAILED, "REJECTED_BY_MODERATION")


async def test_below_the_confidence_nothing_happens(user: Any, s3: Any) -> None:
    upload = await sync_to_async(make_upload)(user)
    labels = [{"name": "Explicit Nudity", "parentName": "", "confidence": 79.9}]
    await deliver(moderated_body(upload, labels))
    row = await Upload.objects.aget(pk=upload.pk)
    assert (row.status, row.moderation_status) == (UploadStatus.READY, "")


async def test_hold_then_approve(user: Any, s3: Any) -> None:
    upload = await sync_to_async(make_upload)(user)
    sub = await Subscriber.open(user, upload)
    await deliver(moderated_body(upload, [{"name": "Suggestive", "confidence": 70.0}]))
    held = await sub.next()
    assert held["status"] == "READY"
    assert held["moderation"] == {
        "status": "PENDING_REVIEW",
        "labels": [{"name": "Suggestive", "confidence": 70.0}],
    }
    assert held["image"] is None  # withheld from the (non-staff) owner
    # The owner's HTTP query withholds it too; a staff member sees it.
    query = "query($id: ID!) { upload(id: $id) { image { url } } }"
    owner_http = await sync_to_async(_as)(user, query, upload)
    assert owner_http["data"]["upload"]["image"] is None
    response = await sync_to_async(admin_action)(upload, "approve_held")
    assert response.status_code == 302
    approved = await sub.next()
    assert approved["status"] == "READY"
    assert approved["moderation"]["status"] == "APPROVED"
    assert approved["image"]["url"]
    await sub.completes()
    # Deciding twice changes nothing.
    await sync_to_async(admin_action)(upload, "reject_held")
    assert (await Upload.objects.aget(pk=upload.pk)).status == UploadStatus.READY


async def test_hold_then_reject(user: Any, s3: Any) -> None:
    upload = await sync_to_async(make_upload)(user)
    await sync_to_async(store_outputs)(s3, upload)
    sub = await Subscriber.open(user, upload)
    await deliver(moderated_body(upload, [{"name": "Violence", "confidence": 99.0}]))
    assert (await sub.next())["moderation"]["status"] == "PENDING_REVIEW"
    await sync_to_async(admin_action)(upload, "reject_held")
    rejected = await sub.next()
    assert rejected["status"] == "FAILED"
    assert rejected["error"] == {"code": "REJECTED_BY_MODERATION"}
    assert rejected["moderation"]["status"] == "REJECTED"
    assert rejected["image"] is None
    await sub.completes()
    assert await sync_to_async(stored)(s3, upload) == []
    assert await ProcessedImage.objects.acount() == 0
    assert not await ImageFingerprint.objects.filter(upload_id=upload.pk).aexists()


def _as(user: Any, query: str, upload: Upload) -> dict[str, Any]:
    client = Client()
    client.force_login(user)
    return graphql_client(client)(query, {"id": str(upload.pk)})


def test_staff_owner_sees_a_held_image(django_user_model: Any, s3: Any) -> None:
    staff = django_user_model.objects.create_user("mod", password="pw", is_staff=True)
    upload = make_upload(staff)
    post(Client(), moderated_body(upload, [{"name": "Suggestive", "confidence": 99.0}]))
    result = _as(staff, "query($id: ID!) { upload(id: $id) { image { url } } }", upload)
    assert result["data"]["upload"]["image"]["url"]


@pytest.mark.parametrize(
    "metadata",
    [
        {},  # the analyzer is not enabled, or failed
        {"rekognition": "down"},
        {"rekognition": {"labels": []}},
    ],
)
def test_no_moderation_result_under_a_policy_holds(user: Any, metadata: Any, s3: Any) -> None:
    """Fail closed: a policy that cannot be applied holds the upload for a person."""
    upload = make_upload(user)
    image = image_payload(str(upload.pk))
    image["metadata"].update(metadata)
    post(Client(), callback_body(str(upload.pk), "succeeded", image=image))
    row = Upload.objects.get(pk=upload.pk)
    assert (row.status, row.moderation_status) == (UploadStatus.READY, "PENDING_REVIEW")


def test_without_a_policy_labels_are_only_reported(user: Any, settings: Any, s3: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_MODERATION = {}
    upload = make_upload(user)
    post(Client(), moderated_body(upload, [{"name": "Explicit Nudity", "confidence": 99.0}]))
    row = Upload.objects.get(pk=upload.pk)
    assert (row.status, row.moderation_status) == (UploadStatus.READY, "")
    result = _as(user, "query($id: ID!) { upload(id: $id) { image { labels { name } } } }", upload)
    assert result["data"]["upload"]["image"]["labels"] == [{"name": "Person"}]


@pytest.mark.parametrize(
    "labels",
    [
        "Explicit Nudity",
        [{"name": "Explicit Nudity", "confidence": "99"}],
        [{"name": 5, "confidence": 99}],
        [None, 3, []],
        [{"name": "x" * 200, "confidence": 1e308}] * 200,
        [{"name": "x" * 200, "confidence": 99.5}] * 200,
    ],
)
def test_malformed_moderation_labels_never_reject(user: Any, labels: Any, s3: Any) -> None:
    """Hostile or broken labels are dropped (never a 500); with no valid labels the upload is
    held, because the policy could not be applied. Stored labels stay bounded."""
    upload = make_upload(user)
    response = post(Client(), moderated_body(upload, labels))
    assert response.status_code == 200, response.content
    row = Upload.objects.get(pk=upload.pk)
    assert row.status == UploadStatus.READY
    assert len(json.dumps(row.moderation_labels)) < 10_000
