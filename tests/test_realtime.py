"""Subscriptions over real processes: two uvicorn servers sharing PostgreSQL (in CI) and Redis,
a real websocket client speaking graphql-transport-ws, callbacks over real HTTP."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client
from websockets.exceptions import ConnectionClosed

from asyncimg.models import Upload, UploadStatus
from tests.callbacks import callback_body, signed_headers
from tests.live import (
    IMAGE_PROCESSED,
    UPLOAD_EVENTS,
    AsgiServer,
    GraphQLWS,
    RedisServer,
    post_callback,
    running,
)
from tests.test_callback import make_upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def servers(
    django_db_setup: Any, django_db_blocker: Any
) -> Iterator[tuple[AsgiServer, AsgiServer]]:
    a, b = AsgiServer(REDIS_URL, name="a"), AsgiServer(REDIS_URL, name="b")
    with running(a, b):
        yield a, b


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> Any:
    """``sync_to_async`` runs ORM calls on a worker thread whose connection would outlive the
    test and block dropping the test database."""
    yield
    await sync_to_async(connections.close_all)()


def session_of(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


@pytest.fixture
def alice(user: Any) -> tuple[Any, str]:
    return user, session_of(user)


@pytest.fixture
def mallory(other_user: Any) -> tuple[Any, str]:
    return other_user, session_of(other_user)


def send(server: AsgiServer, upload: Upload, event: str, **kw: Any) -> dict[str, Any]:
    body = callback_body(str(upload.pk), event, **kw)
    response = post_callback(server, body, signed_headers(body))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def asend(server: AsgiServer, upload: Upload, event: str, **kw: Any) -> dict[str, Any]:
    return await asyncio.to_thread(send, server, upload, event, **kw)


def error_code(message: dict[str, Any]) -> str:
    """The code of an error sent for an operation: an ``error`` message (refused before
    execution) or a ``next`` whose payload carries errors (refused by the resolver)."""
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    return str(errors[0]["extensions"]["code"])


def status_of(message: dict[str, Any], field: str = "imageProcessed") -> str:
    assert message["type"] == "next", message
    return str(message["payload"]["data"][field]["status"])


async def test_callback_on_one_process_reaches_subscriber_on_another(
    servers: Any, alice: Any
) -> None:
    a, b = servers
    upload = await sync_to_async(make_upload)(alice[0])
    ws = await GraphQLWS.open(b, session=alice[1])
    await ws.subscribe("1", IMAGE_PROCESSED, {"id": str(upload.pk)})
    assert status_of(await ws.next("1")) == "PENDING"
    await asend(a, upload, "processing")
    assert status_of(await ws.next("1")) == "PROCESSING"
    await asend(a, upload, "succeeded")
    ready = await ws.next("1")
    assert status_of(ready) == "READY"
    image = ready["payload"]["data"]["imageProcessed"]["image"]
    assert image["width"] == 1600
    assert [v["name"] for v in image["variants"]] == [
        "320w.webp",
        "320w.jpeg",
        "800w.webp",
        "800w.jpeg",
    ]
    assert (await ws.next("1"))["type"] == "complete"
    await ws.close()


async def test_callback_before_subscribe_delivers_ready_first(servers: Any, alice: Any) -> None:
    a, b = servers
    upload = await sync_to_async(make_upload)(alice[0])
    await asend(a, upload, "succeeded")
    ws = await GraphQLWS.open(b, session=alice[1])
    await ws.subscribe("1", IMAGE_PROCESSED, {"id": str(upload.pk)})
    assert status_of(await ws.next("1")) == "READY"
    assert (await ws.next("1"))["type"] == "complete"
    await ws.close()


async def test_duplicate_late_and_concurrent_callbacks_deliver_one_ready(
    servers: Any, alice: Any
) -> None:
    a, b = servers
    upload = await sync_to_async(make_upload)(alice[0])
    subscribers = [await GraphQLWS.open(server, session=alice[1]) for server in (a, b, b)]
    for ws in subscribers:
        await ws.subscribe("1", IMAGE_PROCESSED, {"id": str(upload.pk)})
        assert status_of(await ws.next("1")) == "PENDING"

    succeeded = callback_body(str(upload.pk), "succeeded", event_id="ok-1")
    bodies = [succeeded, succeeded, callback_body(str(upload.pk), "succeeded")]
    bodies += [callback_body(str(upload.pk), "processing") for _ in range(3)]
    bodies += [callback_body(str(upload.pk), "failed") for _ in range(2)]
    barrier = threading.Barrier(len(bodies), timeout=30)

    def fire(index: int, body: bytes) -> int:
        barrier.wait()
        return post_callback((a, b)[index % 2], body, signed_headers(body)).status_code

    # One thread per callback (the default executor has fewer threads than the barrier needs).
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(len(bodies)) as pool:
        codes = await asyncio.gather(
            *(loop.run_in_executor(pool, fire, i, body) for i, body in enumerate(bodies))
        )
    assert set(codes) == {200}
    final = await sync_to_async(Upload.objects.get)(pk=upload.pk)
    assert final.status in (UploadStatus.READY, UploadStatus.FAILED)
    for ws in subscribers:
        statuses = []
        while True:
            message = await ws.next("1")
            if message["type"] == "complete":
                break
            statuses.append(status_of(message))
        # Possibly PROCESSING first (if a processing callback won the race), then exactly one
        # terminal state — the one in the database — and nothing after it.
        assert statuses[-1] == final.status
        assert statuses.count(final.status) == 1
        assert set(statuses[:-1]) <= {"PROCESSING"}
        await ws.close()


async def test_rejected_callbacks_publish_nothing(servers: Any, alice: Any) -> None:
    a, b = servers
    upload = await sync_to_async(make_upload)(alice[0])
    ws = await GraphQLWS.open(b, session=alice[1])
    await ws.subscribe("1", IMAGE_PROCESSED, {"id": str(upload.pk)})
    assert status_of(await ws.next("1")) == "PENDING"
    body = callback_body(str(upload.pk), "succeeded")
    bad = [
        (body, signed_headers(body, secret="wrong")),
        (body, signed_headers(body, timestamp=1)),
        (body, {}),
        (b"{", signed_headers(b"{")),
        (b"x" * 70_000, signed_headers(b"x" * 70_000)),
    ]
    for raw, headers in bad:
        response = await asyncio.to_thread(post_callback, a, raw, headers)
        assert 400 <= response.status_code < 500
    # The next message is the next valid change, with the next version: nothing came between.
    await asend(a, upload, "processing")
    assert status_of(await ws.next("1")) == "PROCESSING"
    refreshed = await sync_to_async(Upload.objects.get)(pk=upload.pk)
    assert refreshed.version == 2
    await ws.close()


async def test_nobody_else_sees_my_upload(servers: Any, alice: Any, mallory: Any) -> None:
    a, b = servers
    mine = await sync_to_async(make_upload)(alice[0])
    theirs = await sync_to_async(make_upload)(mallory[0])
    spy = await GraphQLWS.open(b, session=mallory[1])
    await spy.subscribe("steal", IMAGE_PROCESSED, {"id": str(mine.pk)})
    assert error_code(await spy.next("steal")) == "NOT_FOUND"
    assert (await spy.next("steal"))["type"] == "complete"
    await spy.subscribe("events", UPLOAD_EVENTS)
    anonymous = await GraphQLWS.open(b)
    await anonymous.subscribe("events", UPLOAD_EVENTS)
    assert error_code(await anonymous.next("events")) == "UNAUTHENTICATED"
    # Alice's changes first, then Mallory's own: the first event Mallory sees must be her own.
    await asend(a, mine, "processing")
    await asend(a, mine, "succeeded")
    await asend(a, theirs, "processing")
    event = await spy.next("events")
    assert event["payload"]["data"]["uploadEvents"] == {
        "id": str(theirs.pk),
        "status": "PROCESSING",
    }
    await spy.close()
    await anonymous.close()


async def test_queries_and_mutations_over_the_websocket(
    servers: Any, alice: Any, mallory: Any
) -> None:
    """graphql-transport-ws carries queries and mutations too: the resolvers then run on the
    event loop and move their ORM work to a thread (asyncimg/graphql/resolve.py)."""
    _, b = servers
    mine = await sync_to_async(make_upload)(alice[0])
    ws = await GraphQLWS.open(b, session=alice[1])
    await ws.subscribe(
        "q", "query($id: ID!) { upload(id: $id) { id status } }", {"id": str(mine.pk)}
    )
    assert (await ws.next("q"))["payload"]["data"]["upload"] == {
        "id": str(mine.pk),
        "status": "PENDING",
    }
    assert (await ws.next("q"))["type"] == "complete"
    await ws.subscribe("list", "{ uploads(first: 5) { totalCount edges { node { id } } } }")
    listed = (await ws.next("list"))["payload"]["data"]["uploads"]
    assert listed["totalCount"] == 1
    assert [e["node"]["id"] for e in listed["edges"]] == [str(mine.pk)]
    mutation = """mutation($input: RequestImageUploadInput!) {
      requestImageUpload(input: $input) { upload { id status } presignedPost { url } } }"""
    variables = {"input": {"filename": "dog.png", "contentType": "image/png", "size": 2048}}
    await ws.subscribe("m", mutation, variables)
    ticket = (await ws.next("m"))["payload"]["data"]["requestImageUpload"]
    assert ticket["upload"]["status"] == "PENDING"
    assert ticket["presignedPost"]["url"]
    created = await sync_to_async(Upload.objects.get)(pk=ticket["upload"]["id"])
    assert (created.owner_id, created.content_type) == (alice[0].pk, "image/png")
    await ws.subscribe(
        "cancel", "mutation($id: ID!) { cancelUpload(id: $id) { status } }", {"id": str(mine.pk)}
    )
    assert (await ws.next("cancel"))["payload"]["data"]["cancelUpload"]["status"] == "FAILED"
    spy = await GraphQLWS.open(b, session=mallory[1])
    await spy.subscribe("q", "query($id: ID!) { upload(id: $id) { id } }", {"id": str(created.pk)})
    assert error_code(await spy.next("q")) == "NOT_FOUND"
    await ws.close()
    await spy.close()


async def test_sibling_subscriptions_do_not_disturb_each_other(servers: Any, alice: Any) -> None:
    a, b = servers
    first = await sync_to_async(make_upload)(alice[0])
    second = await sync_to_async(make_upload)(alice[0])
    ws = await GraphQLWS.open(b, session=alice[1])
    await ws.subscribe("first", IMAGE_PROCESSED, {"id": str(first.pk)})
    await ws.subscribe("first-again", IMAGE_PROCESSED, {"id": str(first.pk)})
    await ws.subscribe("second", IMAGE_PROCESSED, {"id": str(second.pk)})
    await ws.subscribe("all", UPLOAD_EVENTS)
    for op in ("first", "first-again", "second"):
        assert status_of(await ws.next(op)) == "PENDING"
    # Completing one subscription of a group leaves the group: its sibling must keep receiving.
    await ws.ws.send('{"id": "first", "type": "complete"}')
    await asend(a, first, "succeeded")
    assert status_of(await ws.next("first-again")) == "READY"
    await asend(a, second, "failed")
    assert status_of(await ws.next("second")) == "FAILED"
    statuses = [status_of(await ws.next("all"), "uploadEvents") for _ in range(2)]
    assert statuses == ["READY", "FAILED"]
    assert ws.buffer.get("first", []) == []
    await ws.close()


async def test_protocol_and_origin_rules(servers: Any, alice: Any) -> None:
    from websockets.asyncio.client import connect

    _, b = servers
    legacy = await connect(
        b.ws_url, subprotocols=["graphql-ws"], additional_headers={"Origin": b.url}
    )  # type: ignore[list-item]
    # The legacy protocol is not negotiated; the server closes the connection with 4406.
    assert legacy.subprotocol is None
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(legacy.recv(), 20)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406
    # A cross-site page carrying alice's cookie: its cookies are ignored, and without a token
    # connection_init is refused with 4403.
    cross_site = await connect(
        b.ws_url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"Origin": "https://evil.example", "Cookie": f"sessionid={alice[1]}"},
    )
    await cross_site.send('{"type": "connection_init"}')
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(cross_site.recv(), 20)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_subscription_cap(servers: Any, alice: Any, settings: Any) -> None:
    _, b = servers
    upload = await sync_to_async(make_upload)(alice[0])
    ws = await GraphQLWS.open(b, session=alice[1])
    for index in range(50):
        await ws.subscribe(str(index), IMAGE_PROCESSED, {"id": str(upload.pk)})
    for index in range(50):
        assert status_of(await ws.next(str(index))) == "PENDING"
    await ws.subscribe("one-too-many", IMAGE_PROCESSED, {"id": str(upload.pk)})
    message = await ws.next("one-too-many")
    assert message["type"] == "error", message
    await ws.close()


async def test_redis_outage_keeps_the_state_and_resubscribe_recovers(
    django_db_blocker: Any, alice: Any
) -> None:
    redis = RedisServer()
    server = AsgiServer(redis.url, name="outage")
    with running(redis, server):
        upload = await sync_to_async(make_upload)(alice[0])
        ws = await GraphQLWS.open(server, session=alice[1])
        await ws.subscribe("1", IMAGE_PROCESSED, {"id": str(upload.pk)})
        assert status_of(await ws.next("1")) == "PENDING"
        redis.stop()
        result = await asend(server, upload, "succeeded")
        assert result["status"] == "applied"
        assert result["published"] is False
        refreshed = await sync_to_async(Upload.objects.get)(pk=upload.pk)
        assert refreshed.status == UploadStatus.READY
        # A subscription opened while Redis is down cannot join its group: a coded, retryable
        # error (it was INTERNAL_SERVER_ERROR), and the connection stays usable.
        other = await sync_to_async(make_upload)(alice[0])
        await ws.subscribe("2", IMAGE_PROCESSED, {"id": str(other.pk)})
        assert error_code(await ws.next("2")) == "SERVICE_UNAVAILABLE"
        redis.start()
        again = await GraphQLWS.open(server, session=alice[1])
        await again.subscribe("1", IMAGE_PROCESSED, {"id": str(upload.pk)})
        assert status_of(await again.next("1")) == "READY"
        await again.close()
        await ws.close()


async def test_keepalive_pings_and_connection_init_deadline(
    django_db_blocker: Any, alice: Any
) -> None:
    import json

    from websockets.asyncio.client import connect

    timers = {"ASYNCIMG_TEST_INIT_TIMEOUT": "1", "ASYNCIMG_TEST_KEEPALIVE": "0.2"}
    server = AsgiServer(REDIS_URL, name="timers", env=timers)
    with running(server):
        # A client that never sends connection_init is closed with 4408 after the deadline.
        silent = await connect(
            server.ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            additional_headers={"Origin": server.url},
        )
        await asyncio.wait_for(silent.wait_closed(), 20)
        assert silent.close_code == 4408
        # An initialised connection gets protocol pings from the server while idle.
        ws = await GraphQLWS.open(server, session=alice[1])
        message = json.loads(await asyncio.wait_for(ws.ws.recv(), 10))
        assert message["type"] == "ping"
        await ws.close()


async def test_callback_route_ahead_of_django_keeps_the_contract(servers: Any, alice: Any) -> None:
    """The ASGI application answers the callback without Django's middleware: same answers."""
    import requests

    a, _ = servers
    upload = await sync_to_async(make_upload)(alice[0])
    url = f"{a.url}/async_image/callback/"
    get = await asyncio.to_thread(requests.get, url, timeout=10)
    assert get.status_code == 405
    assert get.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert get.headers["Allow"] == "POST"
    big = b"{" + b" " * 70_000 + b"}"
    response = await asyncio.to_thread(
        requests.post, url, data=big, headers=signed_headers(big), timeout=10
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "BODY_TOO_LARGE"

    def chunks() -> Any:  # no Content-Length: the limit is enforced while the body arrives
        for _ in range(100):
            yield b" " * 1024

    streamed = await asyncio.to_thread(requests.post, url, data=chunks(), timeout=10)
    assert streamed.status_code == 413
    body = callback_body(str(upload.pk), "processing")
    response = await asyncio.to_thread(post_callback, a, body, signed_headers(body))
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.json()["status"] == "applied"
    assert (await asend(a, upload, "processing", event_id=None))["status"] == "ignored"
