"""The whole pipeline on Azure's shape, over real HTTP, with no internet.

GraphQL credential (a create/write SAS for one blob) → the client's PUT of a real JPEG to
Azurite's blob service → Event Grid ``Microsoft.Storage.BlobCreated`` → Azurite's queue service
→ ``asyncimg_worker --source azure-queue`` → the processor reads and writes Azurite with
azure-storage-blob → signed callback to a uvicorn server of the project (Azure backend) → READY
pushed to a websocket subscriber, with variant URLs (read SAS) that Azurite serves.

Event Grid cannot run here (no emulator exists): the test writes to the queue the event Event
Grid would write, in the documented Event Grid schema, built from the blob's real properties
(:func:`tests.processor.emulators.blob_created_event`). Likewise the Azure Functions host cannot
run here (Core Tools download their runtime at install): the function registered by
``azure/function_app.py`` is taken from the real azure-functions ``FunctionApp`` and called with
a real ``azure.functions.EventGridEvent``, as the host would.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import io
import json
import os
from collections.abc import Iterator
from typing import Any

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
from tests.live import IMAGE_PROCESSED, GraphQLWS
from tests.processor import emulators
from tests.processor.emulators import ConfiguredAsgiServer

azurite = clouds.azurite
azurite_queue = emulators.azurite_queue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CONTAINER = "asyncimg-pipeline-azure"
SECRET = "test-callback-secret"  # tests/settings.py's, which the server accepts
REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) {
    upload { id filename } presignedPost { url fields method headers }
  }
}
"""
NAMES = ["holiday photo.jpg", "a+b=c.jpg", "фото ünïcödé 東京.jpg"]


def backend_settings(blob_endpoint: str) -> dict[str, Any]:
    return {
        "ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND": "asyncimg.storage.azure.AzureBlobBackend",
        "ASYNC_IMAGE_UPLOAD_ENDPOINT_URL": blob_endpoint,
        "ASYNC_IMAGE_UPLOAD_BUCKET": CONTAINER,
        "ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_NAME": clouds.AZURITE_ACCOUNT,
        "ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY": clouds.AZURITE_KEY,
    }


@pytest.fixture(scope="module")
def azure_server(
    django_db_setup: Any, django_db_blocker: Any, azurite: str
) -> Iterator[ConfiguredAsgiServer]:
    server = ConfiguredAsgiServer(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        backend_settings(azurite),
        name="pipeline-azure",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def container(azurite: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient(azurite, credential=emulators.AZURITE_CREDENTIAL)
    container = client.get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    names = [blob.name for blob in container.list_blobs()]
    if names:
        container.delete_blobs(*names)
    return container


@pytest.fixture
def queue(
    azurite: str,
    azurite_queue: str,
    azure_server: ConfiguredAsgiServer,
    container: Any,
    settings: Any,
) -> Any:
    """A fresh queue, and the worker's settings: the Azure backend, the queue, the callback."""
    for name, value in backend_settings(azurite).items():
        setattr(settings, name, value)
    queue = emulators.new_queue(azurite_queue)
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = None
    settings.ASYNC_IMAGE_UPLOAD_AZURE_QUEUE_URL = queue.url
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = f"{azure_server.url}/async_image/callback/"
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = [SECRET]
    return queue


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> Any:
    yield
    await sync_to_async(connections.close_all)()


def upload_file(user: Any, filename: str, data: bytes) -> tuple[str, str]:
    """The mutation, then the client's PUT of the file's bytes with the SAS and headers."""
    client = Client()
    client.force_login(user)
    result = graphql_client(client)(
        REQUEST, {"input": {"filename": filename, "contentType": "image/jpeg", "size": len(data)}}
    )
    ticket = result["data"]["requestImageUpload"]
    post = ticket["presignedPost"]
    assert post["method"] == "PUT"
    assert post["headers"]["x-ms-blob-type"] == "BlockBlob"
    response = requests.put(post["url"], data=data, headers=post["headers"], timeout=30)
    assert response.status_code == 201, response.text
    return ticket["upload"]["id"], str(client.cookies["sessionid"].value)


def event_grid_delivers(azurite: str, container: Any, upload_id: str) -> dict[str, Any]:
    """The BlobCreated event of the upload's blob, as Event Grid would deliver it."""
    upload = Upload.objects.get(pk=upload_id)
    properties = container.get_blob_client(upload.key).get_blob_properties()
    return emulators.blob_created_event(azurite, CONTAINER, upload.key, properties)


async def statuses_until_complete(ws: GraphQLWS, upload_id: str) -> list[dict[str, Any]]:
    statuses = []
    while True:
        message = await ws.next(upload_id)
        if message["type"] == "complete":
            return statuses
        statuses.append(message["payload"]["data"]["imageProcessed"])


async def test_queue_worker_processes_and_the_result_is_pushed(
    queue: Any, azurite: str, container: Any, azure_server: ConfiguredAsgiServer, user: Any
) -> None:
    data = jpeg_bytes(1200, 900)
    uploads = [await sync_to_async(upload_file)(user, name, data) for name in NAMES]
    ws = await GraphQLWS.open(azure_server, session=uploads[0][1])
    for upload_id, _ in uploads:
        await ws.subscribe(upload_id, IMAGE_PROCESSED, {"id": upload_id})
        first = await ws.next(upload_id)
        assert first["payload"]["data"]["imageProcessed"]["status"] == "PENDING"
    # Event Grid writes each event's JSON as the message text; a subscription validation (sent
    # to webhooks, never to queues) is ignored all the same. One message is base64, as written
    # by clients whose queue SDK encodes.
    for index, (upload_id, _) in enumerate(uploads):
        event = json.dumps(await sync_to_async(event_grid_delivers)(azurite, container, upload_id))
        queue.send_message(base64.b64encode(event.encode()).decode() if index == 1 else event)
    validation = {
        "id": "v1",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "subject": "",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
    }
    queue.send_message(json.dumps(validation))

    worker = await sync_to_async(build_worker)(wait_time=1)
    assert worker.source == queue.url
    await asyncio.to_thread(worker.run, once=True)
    assert (worker.stats.received, worker.stats.deleted, worker.stats.failed) == (4, 4, 0)
    assert queue.get_queue_properties().approximate_message_count == 0

    names = {blob.name for blob in container.list_blobs()}
    for (upload_id, _), name in zip(uploads, NAMES, strict=True):
        statuses = await statuses_until_complete(ws, upload_id)
        assert [s["status"] for s in statuses] == ["PROCESSING", "READY"], name
        upload = await sync_to_async(Upload.objects.select_related("image").get)(pk=upload_id)
        assert upload.status == UploadStatus.READY
        assert upload.filename == name
        assert upload.image is not None
        assert upload.key not in names  # the raw upload is gone
        assert {upload.image.key, *(v["key"] for v in upload.image.variants)} <= names
        # The server signed a read SAS for the variant, and Azurite serves the image.
        variant = statuses[-1]["image"]["variants"][0]
        response = await asyncio.to_thread(requests.get, variant["url"], timeout=10)
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).width == int(variant["name"][:-6])
    properties = container.get_blob_client(upload.image.variants[0]["key"]).get_blob_properties()
    assert properties.content_settings.cache_control == "public, max-age=31536000, immutable"
    await ws.close()


async def test_a_failing_message_stays_then_goes_to_the_poison_queue(
    queue: Any, azurite: str, container: Any, user: Any, settings: Any
) -> None:
    upload_id, _ = await sync_to_async(upload_file)(user, "a.jpg", jpeg_bytes())
    queue.send_message(
        json.dumps(await sync_to_async(event_grid_delivers)(azurite, container, upload_id))
    )
    # A secret the app does not know: the callback gets 401, the message is not deleted.
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = ["not-the-servers-secret"]
    worker = await sync_to_async(build_worker)(wait_time=1)
    worker.visibility_timeout = 1
    worker.max_dequeues = 1
    await asyncio.to_thread(worker.run, once=True)
    assert (worker.stats.received, worker.stats.failed) == (1, 1)
    await asyncio.sleep(1.5)  # the visibility timeout: it is back, dequeued a second time
    await asyncio.to_thread(worker.run, once=True)
    assert worker.stats.failed == 2
    assert queue.get_queue_properties().approximate_message_count == 0
    poisoned = list(worker.poison_queue.receive_messages())
    assert [json.loads(m.content)["eventType"] for m in poisoned] == [
        "Microsoft.Storage.BlobCreated"
    ]
    worker.poison_queue.delete_queue()
    upload = await sync_to_async(Upload.objects.get)(pk=upload_id)
    assert upload.status == UploadStatus.PENDING  # nothing reached the app


@pytest.fixture
def function_app(
    azurite: str, azure_server: ConfiguredAsgiServer, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The function ``azure/function_app.py`` registers, configured by app settings."""
    from asyncimg_processor import azure_function, handler

    monkeypatch.setenv("ASYNCIMG_CALLBACK_URL", f"{azure_server.url}/async_image/callback/")
    monkeypatch.setenv("ASYNCIMG_CALLBACK_SECRET", SECRET)
    monkeypatch.setenv("ASYNCIMG_BUCKET", CONTAINER)
    monkeypatch.setenv("ASYNCIMG_AZURE_CONNECTION_STRING", emulators.connection_string(azurite))
    # A fresh configuration and client, as in a new Functions instance.
    monkeypatch.setattr(handler, "_config", None)
    monkeypatch.setattr(azure_function, "_store", None)
    module = importlib.import_module("asyncimg_processor.azure.function_app")
    [function] = module.app.get_functions()
    trigger = function.get_trigger()
    assert (trigger.type, trigger.name) == ("eventGridTrigger", "event")
    return function.get_user_function()


async def test_azure_function_processes_a_blob_created_event(
    function_app: Any,
    queue: Any,  # for the settings: the mutation signs for Azurite
    container: Any,
    azurite: str,
    azure_server: ConfiguredAsgiServer,
    user: Any,
) -> None:
    import azure.functions as func

    upload_id, session = await sync_to_async(upload_file)(user, "red flower.jpg", jpeg_bytes())
    ws = await GraphQLWS.open(azure_server, session=session)
    await ws.subscribe("1", IMAGE_PROCESSED, {"id": upload_id})
    assert (await ws.next("1"))["payload"]["data"]["imageProcessed"]["status"] == "PENDING"
    event = await sync_to_async(event_grid_delivers)(azurite, container, upload_id)

    def deliver(event_type: str) -> None:
        function_app(
            func.EventGridEvent(
                id=event["id"],
                data=event["data"],
                topic=event["topic"],
                subject=event["subject"],
                event_type=event_type,
                event_time=None,
                data_version=event["dataVersion"],
            )
        )

    await asyncio.to_thread(deliver, "Microsoft.Storage.BlobDeleted")  # ignored
    await asyncio.to_thread(deliver, "Microsoft.Storage.BlobCreated")

    statuses = await statuses_until_complete(ws, "1")
    assert [s["status"] for s in statuses] == ["PROCESSING", "READY"]
    upload = await sync_to_async(Upload.objects.get)(pk=upload_id)
    assert upload.key not in {blob.name for blob in container.list_blobs()}
    await ws.close()
