"""The whole pipeline over real HTTP: GraphQL credential → browser-style POST to S3 (moto server)
→ S3 event → SQS → worker → the Lambda handler → signed callback to a uvicorn process → READY in
the database and pushed to a websocket subscriber."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

from asyncimg.management.commands.asyncimg_worker import build_worker
from asyncimg.models import ImageFingerprint, Upload, UploadStatus
from config.embedded import provision
from tests.conftest import graphql_client
from tests.images import jpeg_bytes
from tests.live import IMAGE_PROCESSED, AsgiServer, GraphQLWS, running

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) { upload { id filename } presignedPost { url fields } }
}
"""
NAMES = ["holiday photo.jpg", "a+b=c.jpg", "фото ünïcödé 東京.jpg"]


@pytest.fixture(scope="module")
def callback_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[AsgiServer]:
    server = AsgiServer(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), name="pipeline")
    with running(server):
        yield server


@pytest.fixture
def pipeline(moto_endpoint: str, settings: Any, callback_server: AsgiServer) -> Any:
    bucket = "asyncimg-pipeline"
    provisioned = provision(
        moto_endpoint,
        bucket=bucket,
        queue="asyncimg-pipeline-events",
        origins=[callback_server.url],
        prefix="temp/",
    )
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = moto_endpoint
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = bucket
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = provisioned.queue_url
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = f"{callback_server.url}/async_image/callback/"
    return provisioned


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> Any:
    yield
    await sync_to_async(connections.close_all)()


def upload_file(user: Any, filename: str, data: bytes) -> tuple[str, str]:
    client = Client()
    client.force_login(user)
    result = graphql_client(client)(
        REQUEST, {"input": {"filename": filename, "contentType": "image/jpeg", "size": len(data)}}
    )
    ticket = result["data"]["requestImageUpload"]
    post = ticket["presignedPost"]
    response = requests.post(
        post["url"], data=post["fields"], files={"file": (filename, data, "image/jpeg")}, timeout=30
    )
    assert response.status_code == 204, response.text
    return ticket["upload"]["id"], str(client.cookies["sessionid"].value)


async def test_upload_is_processed_and_pushed(
    pipeline: Any, callback_server: AsgiServer, user: Any, settings: Any
) -> None:
    s3 = boto3.client("s3", endpoint_url=settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL)
    data = jpeg_bytes(1200, 900)
    uploads = [await sync_to_async(upload_file)(user, name, data) for name in NAMES]
    session = uploads[0][1]
    ws = await GraphQLWS.open(callback_server, session=session)
    for upload_id, _ in uploads:
        await ws.subscribe(upload_id, IMAGE_PROCESSED, {"id": upload_id})
        assert (await ws.next(upload_id))["payload"]["data"]["imageProcessed"][
            "status"
        ] == "PENDING"

    worker = await sync_to_async(build_worker)(wait_time=1)
    await asyncio.to_thread(worker.run, once=True)
    assert worker.stats.failed == 0

    s3_objects = {
        o["Key"]
        for o in s3.list_objects_v2(Bucket=settings.ASYNC_IMAGE_UPLOAD_BUCKET).get("Contents", [])
    }
    for (upload_id, _), name in zip(uploads, NAMES, strict=True):
        statuses = []
        while True:
            message = await ws.next(upload_id)
            if message["type"] == "complete":
                break
            statuses.append(message["payload"]["data"]["imageProcessed"])
        assert [s["status"] for s in statuses] == ["PROCESSING", "READY"], name
        image = statuses[-1]["image"]
        assert image["width"] == 1200
        assert {v["name"].split(".")[0] for v in image["variants"]} == {"320w", "800w"}
        upload = await sync_to_async(Upload.objects.select_related("image").get)(pk=upload_id)
        assert upload.status == UploadStatus.READY
        assert upload.filename == name
        assert upload.image is not None
        # The worker ran the default analyzers; the hash of each (identical) file is indexed.
        assert set(upload.image.metadata["placeholder"]) == {"hash", "dataUrl"}
        assert await ImageFingerprint.objects.filter(
            upload_id=upload_id, phash=upload.image.metadata["perceptualHash"]
        ).aexists()
        # Outputs stored, the temporary upload gone.
        assert upload.image.key in s3_objects
        assert all(v["key"] in s3_objects for v in upload.image.variants)
        assert upload.key not in s3_objects
        head = s3.head_object(
            Bucket=settings.ASYNC_IMAGE_UPLOAD_BUCKET, Key=upload.image.variants[0]["key"]
        )
        assert head["ContentType"].startswith("image/")
    await ws.close()


async def test_svg_disguised_as_jpeg_fails_with_its_code(
    pipeline: Any, callback_server: AsgiServer, user: Any
) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    upload_id, _ = await sync_to_async(upload_file)(user, "cat.jpg", svg)
    worker = await sync_to_async(build_worker)(wait_time=1)
    await asyncio.to_thread(worker.run, once=True)
    upload = await sync_to_async(Upload.objects.get)(pk=upload_id)
    assert upload.status == UploadStatus.FAILED
    assert upload.error_code == "UNSUPPORTED_TYPE"


@pytest.fixture
def mobile_server(pipeline: Any, moto_endpoint: str, settings: Any) -> Iterator[AsgiServer]:
    """A second server of the project, on the pipeline's bucket (the callback server of the
    module is on the test bucket); both share Redis, so a callback to one reaches the other."""
    server = AsgiServer(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        name="mobile",
        env={
            "ASYNCIMG_TEST_BUCKET": settings.ASYNC_IMAGE_UPLOAD_BUCKET,
            "ASYNC_IMAGE_UPLOAD_ENDPOINT_URL": moto_endpoint,
        },
    )
    with running(server):
        yield server


async def test_a_mobile_client_with_only_a_token(mobile_server: AsgiServer, user: Any) -> None:
    """A native app: no cookie, no CSRF token, no Origin; ``Authorization: Bearer`` over HTTP and
    the token in ``connection_init`` on the websocket (the ``websockets`` library)."""
    import json

    from websockets.asyncio.client import connect

    from tests.tokens import make_token

    token = await sync_to_async(make_token)(user)
    data = jpeg_bytes(800, 600)
    variables = {"input": {"filename": "phone.jpg", "contentType": "image/jpeg", "size": len(data)}}
    response = await asyncio.to_thread(
        requests.post,
        f"{mobile_server.url}/graphql/",
        json={"query": REQUEST, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert "sessionid" not in response.cookies
    ticket = response.json()["data"]["requestImageUpload"]
    upload_id = ticket["upload"]["id"]
    post = ticket["presignedPost"]
    stored = await asyncio.to_thread(
        requests.post,
        post["url"],
        data=post["fields"],
        files={"file": ("phone.jpg", data, "image/jpeg")},
        timeout=30,
    )
    assert stored.status_code == 204, stored.text

    async with connect(mobile_server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        subscribe = {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": IMAGE_PROCESSED, "variables": {"id": upload_id}},
        }
        await ws.send(json.dumps(subscribe))
        worker = await sync_to_async(build_worker)(wait_time=1)
        await asyncio.to_thread(worker.run, once=True)
        statuses = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] == "complete":
                break
            statuses.append(message["payload"]["data"]["imageProcessed"]["status"])
    assert statuses[0] == "PENDING"
    assert statuses[-1] == "READY"
    upload = await sync_to_async(Upload.objects.get)(pk=upload_id)
    assert upload.owner_id == user.pk
