"""The signed processor callback: verification, validation, idempotency and the state machine."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.test import Client
from django.utils import timezone

from asyncimg.models import CallbackEvent, ProcessedImage, Upload, UploadStatus
from asyncimg.services.publish import upload_group
from asyncimg.signals import upload_failed, upload_processed
from tests.callbacks import SECRET, callback_body, image_payload, signed_headers

URL = "/async_image/callback/"


def make_upload(user: Any, **fields: Any) -> Upload:
    fields.setdefault("expires_at", timezone.now() + timedelta(minutes=10))
    upload = Upload(owner=user, filename="cat.jpg", content_type="image/jpeg", size=1000, **fields)
    upload.key = f"temp/{upload.pk}/cat.jpg"
    upload.save()
    return upload


def post(client: Client, body: bytes, headers: dict[str, str] | None = None) -> Any:
    headers = signed_headers(body) if headers is None else headers
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE", None)
    return client.post(URL, data=body, content_type="application/json", **extra)


class Published:
    """A member of the upload's group on the (in-memory) channel layer, to count what is sent."""

    def __init__(self, upload_id: Any) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(upload_group(str(upload_id)), self.channel)

    def messages(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(self.layer.channels[self.channel].get_nowait()[1])
            except Exception:
                return out


# Real commits (not a rolled-back test transaction): publishing happens on commit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def upload(user: Any) -> Upload:
    return make_upload(user)


# --- happy paths -----------------------------------------------------------------------------


def test_processing_then_succeeded(client: Client, upload: Upload) -> None:
    published = Published(upload.pk)
    received: list[Any] = []
    upload_processed.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t1")
    try:
        first = post(client, callback_body(str(upload.pk), "processing"))
        assert first.status_code == 200
        assert first.json()["status"] == "applied"
        assert first.json()["uploadStatus"] == "PROCESSING"
        second = post(client, callback_body(str(upload.pk), "succeeded"))
        assert second.json() == {
            "status": "applied",
            "uploadId": str(upload.pk),
            "uploadStatus": "READY",
            "version": 3,
            "published": True,
        }
    finally:
        upload_processed.disconnect(dispatch_uid="t1")
    upload.refresh_from_db()
    assert upload.status == UploadStatus.READY
    assert upload.version == 3
    assert upload.image is not None
    assert upload.image.width == 1600
    assert len(upload.image.variants) == 4
    messages = published.messages()
    assert [(m["upload"]["status"], m["upload"]["version"]) for m in messages] == [
        ("PROCESSING", 2),
        ("READY", 3),
    ]
    assert messages[1]["upload"]["image"]["variants"][0]["url"]
    assert len(received) == 1
    assert received[0]["image"].pk == upload.image.pk
    assert received[0]["state"].status == "READY"


def test_failed(client: Client, upload: Upload) -> None:
    received: list[Any] = []
    upload_failed.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t2")
    try:
        response = post(client, callback_body(str(upload.pk), "failed"))
    finally:
        upload_failed.disconnect(dispatch_uid="t2")
    assert response.json()["uploadStatus"] == "FAILED"
    upload.refresh_from_db()
    assert (upload.error_code, upload.error_message) == ("UNSUPPORTED_TYPE", "Not an image.")
    assert [r["state"].error_code for r in received] == ["UNSUPPORTED_TYPE"]


def test_the_processing_answer_carries_what_the_credential_declared(
    client: Client, user: Any
) -> None:
    """Storage that enforces no POST policy lets anything through: the processor re-checks the
    object's size and type against the declaration it reads from this answer."""
    upload = make_upload(user)  # cat.jpg, image/jpeg, 1000 bytes
    body = callback_body(str(upload.pk), "processing", event_id="evt-declared")
    for status in ("applied", "duplicate"):  # a redelivery is re-checked too
        answer = post(client, body).json()
        assert answer["status"] == status
        assert (answer["declaredSize"], answer["declaredContentType"]) == (1000, "image/jpeg")


# --- at-least-once delivery ------------------------------------------------------------------


def test_duplicate_event_changes_nothing(client: Client, upload: Upload) -> None:
    body = callback_body(str(upload.pk), "processing", event_id="evt-1")
    assert post(client, body).json()["status"] == "applied"
    published = Published(upload.pk)
    again = post(client, body)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    upload.refresh_from_db()
    assert upload.version == 2
    assert CallbackEvent.objects.count() == 1
    assert published.messages() == []


def test_duplicate_success_creates_one_image(client: Client, upload: Upload) -> None:
    body = callback_body(str(upload.pk), "succeeded", event_id="evt-ok")
    for _ in range(3):
        assert post(client, body).status_code == 200
    assert ProcessedImage.objects.count() == 1
    upload.refresh_from_db()
    assert upload.version == 2


def test_out_of_order_events_end_in_the_same_state(client: Client, upload: Upload) -> None:
    assert (
        post(client, callback_body(str(upload.pk), "succeeded")).json()["uploadStatus"] == "READY"
    )
    late = post(client, callback_body(str(upload.pk), "processing"))
    assert late.status_code == 200
    assert late.json()["status"] == "ignored"
    assert late.json()["uploadStatus"] == "READY"
    failed_late = post(client, callback_body(str(upload.pk), "failed"))
    assert failed_late.json()["uploadStatus"] == "READY"
    upload.refresh_from_db()
    assert (upload.status, upload.version, upload.error_code) == ("READY", 2, "")
    assert ProcessedImage.objects.count() == 1


def test_terminal_states_never_change(client: Client, user: Any) -> None:
    for status in (UploadStatus.FAILED, UploadStatus.EXPIRED):
        upload = make_upload(user, status=status, version=5)
        for event in ("processing", "succeeded", "failed"):
            assert post(client, callback_body(str(upload.pk), event)).status_code == 200
        upload.refresh_from_db()
        assert (upload.status, upload.version) == (status, 5)
    assert ProcessedImage.objects.count() == 0


def test_concurrent_callbacks_have_one_winner(user: Any) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("needs row locks; SQLite locks the whole database (PostgreSQL, MariaDB do)")
    upload = make_upload(user)
    bodies = [callback_body(str(upload.pk), "succeeded") for _ in range(6)]
    bodies += [callback_body(str(upload.pk), "failed") for _ in range(3)]
    bodies += [callback_body(str(upload.pk), "processing") for _ in range(3)]
    bodies.append(bodies[0])  # and a duplicate of one of them
    barrier = threading.Barrier(len(bodies))
    results: list[str] = []

    def run(body: bytes) -> None:
        client = Client()
        barrier.wait()
        response = post(client, body)
        results.append(f"{response.status_code}:{response.json().get('status')}")
        connection.close()

    threads = [threading.Thread(target=run, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    upload.refresh_from_db()
    assert all(r.startswith("200:") for r in results), results
    assert upload.status in (UploadStatus.READY, UploadStatus.FAILED)
    terminal_wins = CallbackEvent.objects.filter(upload=upload, event__in=["succeeded", "failed"])
    assert terminal_wins.count() == 1
    assert ProcessedImage.objects.count() == (1 if upload.status == UploadStatus.READY else 0)
    # Versions count applied transitions exactly.
    assert upload.version == 1 + CallbackEvent.objects.filter(upload=upload).count()


# --- rejected callbacks: 4xx, nothing changed, nothing published ------------------------------


def assert_rejected(
    client: Client, upload: Upload, body: bytes, headers: Any, status: int, code: str
) -> None:
    published = Published(upload.pk)
    response = post(client, body, headers)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    upload.refresh_from_db()
    assert (upload.status, upload.version) == (UploadStatus.PENDING, 1)
    assert CallbackEvent.objects.count() == 0
    assert published.messages() == []


def test_bad_signature(client: Client, upload: Upload) -> None:
    body = callback_body(str(upload.pk), "succeeded")
    assert_rejected(
        client, upload, body, signed_headers(body, secret="wrong"), 401, "BAD_SIGNATURE"
    )


def test_signature_of_another_body(client: Client, upload: Upload) -> None:
    body = callback_body(str(upload.pk), "succeeded")
    headers = signed_headers(callback_body(str(upload.pk), "failed"))
    assert_rejected(client, upload, body, headers, 401, "BAD_SIGNATURE")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: {**h, "X-Asyncimg-Signature": h["X-Asyncimg-Signature"].replace("v1=", "v0=")},
        lambda h: {**h, "X-Asyncimg-Signature": h["X-Asyncimg-Signature"][:-2]},
        lambda h: {**h, "X-Asyncimg-Signature": "v1=" + "0" * 64},
        lambda h: {**h, "X-Asyncimg-Signature": "v1=ünïcode"},
    ],
)
def test_malformed_signatures(client: Client, upload: Upload, mangle: Any) -> None:
    body = callback_body(str(upload.pk), "succeeded")
    assert_rejected(client, upload, body, mangle(signed_headers(body)), 401, "BAD_SIGNATURE")


def test_missing_headers(client: Client, upload: Upload) -> None:
    body = callback_body(str(upload.pk), "succeeded")
    assert_rejected(client, upload, body, {}, 401, "MISSING_SIGNATURE")
    only_ts = {"X-Asyncimg-Timestamp": str(int(time.time()))}
    assert_rejected(client, upload, body, only_ts, 401, "MISSING_SIGNATURE")


@pytest.mark.parametrize("skew", [-301, 301, -86400, 10**9])
def test_stale_or_future_timestamps(client: Client, upload: Upload, skew: int) -> None:
    body = callback_body(str(upload.pk), "succeeded")
    headers = signed_headers(body, timestamp=int(time.time()) + skew)
    assert_rejected(client, upload, body, headers, 401, "STALE_TIMESTAMP")


@pytest.mark.parametrize("stamp", ["abc", "-5", "1e9", "12345678901234", "١٢٣"])
def test_malformed_timestamps(client: Client, upload: Upload, stamp: str) -> None:
    body = callback_body(str(upload.pk), "succeeded")
    headers = signed_headers(body)
    headers["X-Asyncimg-Timestamp"] = stamp
    assert_rejected(client, upload, body, headers, 401, "BAD_TIMESTAMP")


def test_secret_rotation(client: Client, upload: Upload, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = ["new-secret-xxxxxxxxxxxx", SECRET]
    old = callback_body(str(upload.pk), "processing")
    assert post(client, old, signed_headers(old, secret=SECRET)).status_code == 200
    new = callback_body(str(upload.pk), "succeeded")
    response = post(client, new, signed_headers(new, secret="new-secret-xxxxxxxxxxxx"))
    assert response.json()["uploadStatus"] == "READY"
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = ["new-secret-xxxxxxxxxxxx"]
    retired = callback_body(str(upload.pk), "failed")
    assert post(client, retired, signed_headers(retired)).status_code == 401


def test_unknown_upload(client: Client, upload: Upload) -> None:
    body = callback_body("00000000-0000-4000-8000-000000000000", "succeeded")
    assert_rejected(client, upload, body, None, 404, "NOT_FOUND")


def test_oversized_body(client: Client, upload: Upload, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_MAX_BODY_SIZE = 2048
    body = callback_body(str(upload.pk), "processing", padding="x" * 4096)
    assert_rejected(client, upload, body, None, 413, "BODY_TOO_LARGE")


def valid(upload: Upload) -> dict[str, Any]:
    return json.loads(callback_body(str(upload.pk), "succeeded"))


@pytest.mark.parametrize(
    ("make_body", "code"),
    [
        (lambda u: b"{not json", "MALFORMED_JSON"),
        (lambda u: b"\xff\xfe\x00", "MALFORMED_JSON"),
        (lambda u: b"[" * 30_000 + b"]" * 30_000, "MALFORMED_JSON"),
        (lambda u: b"[]", "INVALID_PAYLOAD"),
        (lambda u: b'"string"', "INVALID_PAYLOAD"),
        (lambda u: json.dumps({**valid(u), "uploadId": "nope"}).encode(), "INVALID_PAYLOAD"),
        (lambda u: json.dumps({**valid(u), "event": "deleted"}).encode(), "INVALID_PAYLOAD"),
        (lambda u: json.dumps({**valid(u), "eventId": ""}).encode(), "INVALID_PAYLOAD"),
        (lambda u: json.dumps({**valid(u), "eventId": 5}).encode(), "INVALID_PAYLOAD"),
        (lambda u: json.dumps({**valid(u), "eventId": "x" * 201}).encode(), "INVALID_PAYLOAD"),
        (lambda u: json.dumps({**valid(u), "image": None}).encode(), "INVALID_PAYLOAD"),
        (
            lambda u: json.dumps(
                {**valid(u), "image": {**image_payload(str(u.pk)), "width": -1}}
            ).encode(),
            "INVALID_PAYLOAD",
        ),
        (
            lambda u: json.dumps(
                {**valid(u), "image": {**image_payload(str(u.pk)), "width": "9"}}
            ).encode(),
            "INVALID_PAYLOAD",
        ),
        (
            lambda u: json.dumps(
                {**valid(u), "image": {**image_payload(str(u.pk)), "width": 10**7}}
            ).encode(),
            "INVALID_PAYLOAD",
        ),
        (
            lambda u: json.dumps(
                {**valid(u), "image": {**image_payload(str(u.pk)), "format": "svg"}}
            ).encode(),
            "INVALID_PAYLOAD",
        ),
        (  # a key outside this upload's processed prefix
            lambda u: json.dumps({**valid(u), "image": image_payload("other-upload")}).encode(),
            "INVALID_PAYLOAD",
        ),
        (
            lambda u: json.dumps(
                {
                    **valid(u),
                    "image": {**image_payload(str(u.pk)), "key": f"processed/{u.pk}/../../x"},
                }
            ).encode(),
            "INVALID_PAYLOAD",
        ),
        (
            lambda u: json.dumps(
                {**valid(u), "image": {**image_payload(str(u.pk)), "variants": [{}] * 100}}
            ).encode(),
            "INVALID_PAYLOAD",
        ),
        (
            lambda u: json.dumps({**valid(u), "event": "failed", "error": "boom"}).encode(),
            "INVALID_PAYLOAD",
        ),
    ],
)
def test_invalid_payloads(client: Client, upload: Upload, make_body: Any, code: str) -> None:
    assert_rejected(client, upload, make_body(upload), None, 400, code)


def test_only_post(client: Client, upload: Upload) -> None:
    for response in (client.get(URL), client.put(URL)):
        assert response.status_code == 405
        assert response["Allow"] == "POST"
        assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_not_configured(client: Client, upload: Upload, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = []
    body = callback_body(str(upload.pk), "succeeded")
    assert_rejected(client, upload, body, None, 503, "NOT_CONFIGURED")
