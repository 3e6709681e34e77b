"""The whole pipeline on Google Cloud's shape, over real HTTP and gRPC, with no internet.

GraphQL credential (V4 signed POST policy) → browser-style form POST of a real JPEG to
fake-gcs-server → Cloud Storage notification (``OBJECT_FINALIZE``, ``JSON_API_V1``) published by
fake-gcs-server to the Pub/Sub emulator → ``asyncimg_worker --source pubsub`` (synchronous pull)
→ the processor reads and writes fake-gcs-server with google-cloud-storage → signed callback to
a uvicorn server of the project (GCS backend) → READY pushed to a websocket subscriber, with
variant URLs signed by the server that fake-gcs-server serves.

The Cloud Run function path runs the function under functions-framework, the runtime Cloud Run
functions use, in its own process over HTTP. Eventarc itself cannot run here: the test delivers
the CloudEvent Eventarc would (binary content mode, ``google.cloud.storage.object.v1.finalized``,
data: the object's JSON API resource read back from fake-gcs-server).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client
from PIL import Image

from asyncimg.management.commands.asyncimg_worker import build_worker
from asyncimg.models import Upload, UploadStatus
from tests import clouds
from tests.conftest import graphql_client
from tests.images import jpeg_bytes
from tests.live import IMAGE_PROCESSED, ROOT, GraphQLWS, free_port, wait_for_port
from tests.processor import emulators
from tests.processor.emulators import ConfiguredAsgiServer

gcs_key = clouds.gcs_key
pubsub_emulator = emulators.pubsub_emulator
fake_gcs_events = emulators.fake_gcs_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BUCKET = "asyncimg-pipeline-gcs"
SECRET = "test-callback-secret"  # tests/settings.py's, which the server accepts
REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) {
    upload { id filename } presignedPost { url fields method headers }
  }
}
"""
NAMES = ["holiday photo.jpg", "a+b=c.jpg", "фото ünïcödé 東京.jpg"]


def backend_settings(endpoint: str) -> dict[str, Any]:
    return {
        "ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND": "asyncimg.storage.gcs.GCSBackend",
        "ASYNC_IMAGE_UPLOAD_ENDPOINT_URL": endpoint,
        "ASYNC_IMAGE_UPLOAD_BUCKET": BUCKET,
        "ASYNC_IMAGE_UPLOAD_GCS_PROJECT": emulators.PROJECT,
    }


@pytest.fixture(scope="module")
def gcs_server(
    django_db_setup: Any, django_db_blocker: Any, fake_gcs_events: str
) -> Iterator[ConfiguredAsgiServer]:
    server = ConfiguredAsgiServer(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        backend_settings(fake_gcs_events),
        name="pipeline-gcs",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pipeline(fake_gcs_events: str, gcs_server: ConfiguredAsgiServer, settings: Any) -> Any:
    for name, value in backend_settings(fake_gcs_events).items():
        setattr(settings, name, value)
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = None
    settings.ASYNC_IMAGE_UPLOAD_PUBSUB_SUBSCRIPTION = emulators.subscribe()
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = f"{gcs_server.url}/async_image/callback/"
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = [SECRET]
    return emulators.empty_bucket(fake_gcs_events, BUCKET)


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> Any:
    yield
    await sync_to_async(connections.close_all)()


def upload_file(user: Any, filename: str, data: bytes) -> tuple[str, str]:
    """The mutation, then the browser's form POST of the file to the signed policy's URL."""
    client = Client()
    client.force_login(user)
    result = graphql_client(client)(
        REQUEST, {"input": {"filename": filename, "contentType": "image/jpeg", "size": len(data)}}
    )
    ticket = result["data"]["requestImageUpload"]
    post = ticket["presignedPost"]
    assert post["method"] == "POST"
    response = requests.post(
        post["url"], data=post["fields"], files={"file": (filename, data, "image/jpeg")}, timeout=30
    )
    assert response.status_code == 204, response.text
    return ticket["upload"]["id"], str(client.cookies["sessionid"].value)


async def statuses_until_complete(ws: GraphQLWS, upload_id: str) -> list[dict[str, Any]]:
    statuses = []
    while True:
        message = await ws.next(upload_id)
        if message["type"] == "complete":
            return statuses
        statuses.append(message["payload"]["data"]["imageProcessed"])


async def test_pubsub_worker_processes_and_the_result_is_pushed(
    pipeline: Any, gcs_server: ConfiguredAsgiServer, user: Any, settings: Any
) -> None:
    data = jpeg_bytes(1200, 900)
    uploads = [await sync_to_async(upload_file)(user, name, data) for name in NAMES]
    ws = await GraphQLWS.open(gcs_server, session=uploads[0][1])
    for upload_id, _ in uploads:
        await ws.subscribe(upload_id, IMAGE_PROCESSED, {"id": upload_id})
        first = await ws.next(upload_id)
        assert first["payload"]["data"]["imageProcessed"]["status"] == "PENDING"

    worker = await sync_to_async(build_worker)(wait_time=2)  # the source: the one setting set
    assert worker.source == settings.ASYNC_IMAGE_UPLOAD_PUBSUB_SUBSCRIPTION
    await asyncio.to_thread(worker.run, once=True)
    # The three finalizations, and the OBJECT_DELETE notifications of the raw uploads the
    # worker removed (acknowledged and ignored) as far as they arrived before the queue drained.
    assert worker.stats.received >= 3
    assert (worker.stats.deleted, worker.stats.failed) == (worker.stats.received, 0)

    names = {blob.name for blob in pipeline.client.list_blobs(BUCKET)}
    for (upload_id, _), name in zip(uploads, NAMES, strict=True):
        statuses = await statuses_until_complete(ws, upload_id)
        assert [s["status"] for s in statuses] == ["PROCESSING", "READY"], name
        image = statuses[-1]["image"]
        assert image["width"] == 1200
        upload = await sync_to_async(Upload.objects.select_related("image").get)(pk=upload_id)
        assert upload.status == UploadStatus.READY
        assert upload.filename == name
        assert upload.image is not None
        assert upload.key not in names  # the raw upload is gone
        assert {upload.image.key, *(v["key"] for v in upload.image.variants)} <= names
        # The server signed the variant's URL (V4) and fake-gcs-server serves the image.
        variant = image["variants"][0]
        response = await asyncio.to_thread(requests.get, variant["url"], timeout=10)
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).width == int(variant["name"][:-6])
    blob = pipeline.get_blob(upload.image.variants[0]["key"])
    assert blob.cache_control == "public, max-age=31536000, immutable"
    await ws.close()


async def test_a_disguised_upload_fails_with_its_code(pipeline: Any, user: Any) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    upload_id, _ = await sync_to_async(upload_file)(user, "cat.jpg", svg)
    worker = await sync_to_async(build_worker)(source="pubsub", wait_time=2)
    await asyncio.to_thread(worker.run, once=True)
    upload = await sync_to_async(Upload.objects.get)(pk=upload_id)
    assert upload.status == UploadStatus.FAILED
    assert upload.error_code == "UNSUPPORTED_TYPE"


@pytest.fixture
def cloud_function(
    pipeline: Any, fake_gcs_events: str, gcs_server: ConfiguredAsgiServer
) -> Iterator[str]:
    """``gcp/main.py`` (the deployed entry point) under functions-framework, over HTTP."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'lambda'}",
        "STORAGE_EMULATOR_HOST": fake_gcs_events,
        "GOOGLE_CLOUD_PROJECT": emulators.PROJECT,
        "ASYNCIMG_CALLBACK_URL": f"{gcs_server.url}/async_image/callback/",
        "ASYNCIMG_CALLBACK_SECRET": SECRET,
        "ASYNCIMG_BUCKET": BUCKET,
        "ASYNCIMG_VARIANT_WIDTHS": "320,800",
    }
    source = ROOT / "lambda/asyncimg_processor/gcp/main.py"
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "functions_framework", "--source", str(source)),
            *("--target", "on_object_finalized", "--signature-type", "cloudevent"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, process)
    yield f"http://127.0.0.1:{port}/"
    process.terminate()
    process.wait(10)


def eventarc_delivery(
    function_url: str, resource: dict[str, Any], event_type: str
) -> requests.Response:
    """POST the CloudEvent the way Eventarc delivers it (binary content mode)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4().int)[:16],
        "ce-type": event_type,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{resource['bucket']}",
        "ce-subject": f"objects/{resource['name']}",
        "ce-time": resource.get("updated", "2026-01-01T00:00:00Z"),
        "Content-Type": "application/json",
    }
    return requests.post(function_url, data=json.dumps(resource), headers=headers, timeout=60)


async def test_cloud_function_processes_a_finalized_object(
    cloud_function: str,
    pipeline: Any,
    fake_gcs_events: str,
    gcs_server: ConfiguredAsgiServer,
    user: Any,
) -> None:
    upload_id, session = await sync_to_async(upload_file)(user, "red flower.jpg", jpeg_bytes())
    ws = await GraphQLWS.open(gcs_server, session=session)
    await ws.subscribe("1", IMAGE_PROCESSED, {"id": upload_id})
    assert (await ws.next("1"))["payload"]["data"]["imageProcessed"]["status"] == "PENDING"
    upload = await sync_to_async(Upload.objects.get)(pk=upload_id)
    # The object's JSON API resource, as GCS puts it in the event's data.
    object_url = f"{fake_gcs_events}/storage/v1/b/{BUCKET}/o/{quote(upload.key, safe='')}"
    resource = (await asyncio.to_thread(requests.get, object_url, timeout=10)).json()
    assert resource["name"] == upload.key

    # Another event type is acknowledged and ignored.
    ignored = await asyncio.to_thread(
        eventarc_delivery, cloud_function, resource, "google.cloud.storage.object.v1.deleted"
    )
    assert ignored.status_code == 200
    answer = await asyncio.to_thread(
        eventarc_delivery, cloud_function, resource, "google.cloud.storage.object.v1.finalized"
    )
    assert answer.status_code == 200, answer.text

    statuses = await statuses_until_complete(ws, "1")
    assert [s["status"] for s in statuses] == ["PROCESSING", "READY"]
    assert {v["name"] for v in statuses[-1]["image"]["variants"]} == {"320w.webp", "320w.jpg"}
    assert pipeline.get_blob(upload.key) is None
    await ws.close()
