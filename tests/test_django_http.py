"""Django's HTTP requests under our ASGI application: each one in a single worker thread
(``consumers/django_http.py``), with the behaviour of Django's own ASGI handler."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import User
from django.db import connection
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from consumers.django_http import OneThreadHandler

pytestmark = pytest.mark.django_db(transaction=True)


class RecordThread:
    """Middleware that notes the thread it runs in, before and after the view."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.threads = [threading.get_ident()]  # type: ignore[attr-defined]
        response: HttpResponse = self.get_response(request)
        response["X-Threads"] = json.dumps([*request.threads, threading.get_ident()])  # type: ignore[attr-defined]
        return response


def where(request: HttpRequest) -> JsonResponse:
    request.threads.append(threading.get_ident())  # type: ignore[attr-defined]
    return JsonResponse({"users": User.objects.count()})


async def async_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"async": True})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(f"part{i}\n" for i in range(3))


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("bug")


@csrf_exempt
def echo_size(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"size": len(request.body)})


urlpatterns = [
    path("where/", where),
    path("async/", async_view),
    path("stream/", stream),
    path("boom/", boom),
    path("echo/", echo_size),
]


@pytest.fixture
def handler(settings: Any) -> OneThreadHandler:
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.RecordThread"]
    settings.DEBUG = False
    return OneThreadHandler()


def communicator(handler: Any, method: str, url: str, body: bytes = b"") -> ApplicationCommunicator:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"accept", b"text/html"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    return ApplicationCommunicator(handler, scope)


async def call(handler: Any, method: str, url: str, body: bytes = b"") -> dict[str, Any]:
    app = communicator(handler, method, url, body)
    await app.send_input({"type": "http.request", "body": body})
    start = await app.receive_output(10)
    response: dict[str, Any] = {"status": start["status"], "body": b""}
    response["header_map"] = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    while True:
        message = await app.receive_output(10)
        response["body"] += message.get("body", b"")
        if not message.get("more_body"):
            return response


async def test_middleware_and_view_share_one_thread_off_the_loop(handler: Any) -> None:
    response = await call(handler, "GET", "/where/")
    assert response["status"] == 200
    threads = json.loads(response["header_map"]["x-threads"])
    assert len(set(threads)) == 1, threads  # request middleware, view, response middleware
    assert threads[0] != threading.get_ident()  # not the event loop's thread
    # Django's stock middleware ran too (security headers on the response).
    assert response["header_map"]["x-content-type-options"] == "nosniff"
    assert json.loads(response["body"]) == {"users": 0}


async def test_database_connection_goes_back_after_the_request(handler: Any) -> None:
    for _ in range(3):
        assert (await call(handler, "GET", "/where/"))["status"] == 200
    pool = getattr(connection, "pool", None) if connection.vendor == "postgresql" else None
    if pool is None:
        pytest.skip("only a connection pool shows what is checked out")
    stats = await sync_to_async(pool.get_stats)()
    # Every connection the requests took is back in the pool: none is held by a worker thread.
    assert stats["pool_size"] >= 1
    assert stats["pool_available"] == stats["pool_size"]


async def test_async_views_still_work(handler: Any) -> None:
    response = await call(handler, "GET", "/async/")
    assert (response["status"], json.loads(response["body"])) == (200, {"async": True})


# Django's own warning: a sync iterator is consumed in a thread first (as in ASGIHandler).
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
async def test_streaming_responses(handler: Any) -> None:
    response = await call(handler, "GET", "/stream/")
    assert (response["status"], response["body"]) == (200, b"part0\npart1\npart2\n")


async def test_an_exception_is_a_500_and_the_server_goes_on(handler: Any) -> None:
    response = await call(handler, "GET", "/boom/")
    assert response["status"] == 500
    assert b"bug" not in response["body"]  # DEBUG is off: no traceback to the client
    assert (await call(handler, "GET", "/async/"))["status"] == 200


async def test_body_over_the_limit_is_refused(handler: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert json.loads((await call(handler, "POST", "/echo/", b"x" * 999))["body"]) == {"size": 999}
    response = await call(handler, "POST", "/echo/", b"x" * 5000)
    assert response["status"] == 400  # RequestDataTooBig, as under Django's own handlers


async def test_unknown_path_is_a_404(handler: Any) -> None:
    assert (await call(handler, "GET", "/nowhere/"))["status"] == 404


@pytest.mark.parametrize("django_asgi_handler", [False, True])
async def test_application_serves_django_either_way(django_asgi_handler: bool) -> None:
    from consumers.asgi import build_application

    application = build_application(django_asgi_handler=django_asgi_handler)
    response = await call(application, "GET", "/graphql/")  # GraphiQL, through Django
    assert response["status"] == 200
    assert b"graphiql" in response["body"].lower()
    assert "csrftoken=" in response["header_map"].get("set-cookie", "")
