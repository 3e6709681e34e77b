"""Bearer-token clients (mobile apps, SPAs on other origins): one rule for HTTP and the websocket,
no cookie and no CSRF token needed; session-cookie browsers keep working as before.

Tokens come from ``tests.tokens`` (signed, with an expiry) and from djangorestframework-simplejwt
itself (``asyncimg.auth.simplejwt``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

from asyncimg.models import Upload
from tests.conftest import error_codes
from tests.test_callback import make_upload
from tests.tokens import make_token
from tests.ws import communicator

REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) { upload { id status } }
}
"""
SPEC = {"filename": "cat.jpg", "contentType": "image/jpeg", "size": 1000}
IMAGE_PROCESSED = "subscription($id: ID!) { imageProcessed(uploadId: $id) { id status } }"


@pytest.fixture(autouse=True)
def _tokens(settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR = "tests.tokens.authenticate"


def post(
    query: str, variables: dict[str, Any], client: Client | None = None, **headers: str
) -> Any:
    client = client or Client(enforce_csrf_checks=True)
    return client.post(
        "/graphql/",
        data=json.dumps({"query": query, "variables": variables}),
        content_type="application/json",
        headers=headers,
    )


# --- HTTP ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_bearer_token_alone_requests_an_upload(user: Any) -> None:
    response = post(REQUEST, {"input": SPEC}, Authorization=f"Bearer {make_token(user)}")
    assert response.status_code == 200, response.content
    upload_id = response.json()["data"]["requestImageUpload"]["upload"]["id"]
    assert Upload.objects.get(pk=upload_id).owner == user
    assert "sessionid" not in response.cookies


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-token", "Bearer ", "Basic YWxpY2U6cHc=", "bearer", "Token abc"],
)
def test_a_bad_authorization_header_is_401_unauthenticated(user: Any, header: str) -> None:
    response = post(REQUEST, {"input": SPEC}, Authorization=header)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert Upload.objects.count() == 0


@pytest.mark.django_db
def test_an_expired_token_is_401(user: Any) -> None:
    response = post(REQUEST, {"input": SPEC}, Authorization=f"Bearer {make_token(user, -1)}")
    assert (response.status_code, error_codes(response.json())) == (401, ["UNAUTHENTICATED"])


@pytest.mark.django_db
def test_tokens_are_refused_when_no_authenticator_is_configured(user: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR = None
    response = post(REQUEST, {"input": SPEC}, Authorization=f"Bearer {make_token(user)}")
    assert response.status_code == 401
    assert "TOKEN_AUTHENTICATOR" in response.json()["errors"][0]["message"]


@pytest.mark.django_db
def test_a_request_with_cookie_and_token_is_the_token_user(user: Any, other_user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(other_user)
    response = post(REQUEST, {"input": SPEC}, client, Authorization=f"Bearer {make_token(user)}")
    upload_id = response.json()["data"]["requestImageUpload"]["upload"]["id"]
    assert Upload.objects.get(pk=upload_id).owner == user


@pytest.mark.django_db
def test_a_cookie_request_without_csrf_token_gets_a_coded_403(user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = post(REQUEST, {"input": SPEC}, client)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert error_codes(response.json()) == ["CSRF_FAILED"]
    assert Upload.objects.count() == 0
    # With the token from the cookie, as same-site pages send it, it works as before.
    client.get("/graphql/", HTTP_ACCEPT="text/html")
    ok = post(REQUEST, {"input": SPEC}, client, X_CSRFToken=client.cookies["csrftoken"].value)
    assert ok.status_code == 200
    assert "errors" not in ok.json()


@pytest.mark.django_db
def test_simplejwt_access_tokens(user: Any, settings: Any) -> None:
    from rest_framework_simplejwt.tokens import AccessToken

    settings.ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR = "asyncimg.auth.simplejwt.authenticate"
    token = AccessToken.for_user(user)
    response = post(REQUEST, {"input": SPEC}, Authorization=f"Bearer {token}")
    assert response.status_code == 200, response.content
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    response = post(REQUEST, {"input": SPEC}, Authorization=f"Bearer {expired}")
    assert (response.status_code, error_codes(response.json())) == (401, ["UNAUTHENTICATED"])
    forged = str(token)[:-4] + ("AAAA" if not str(token).endswith("AAAA") else "BBBB")
    assert post(REQUEST, {"input": SPEC}, Authorization=f"Bearer {forged}").status_code == 401


@pytest.mark.django_db
def test_simplejwt_gives_the_expiry(user: Any) -> None:
    from rest_framework_simplejwt.tokens import AccessToken

    from asyncimg.auth.simplejwt import authenticate

    token = AccessToken.for_user(user)
    found = authenticate(str(token))
    assert found is not None
    assert found.user == user
    assert found.expires_at is not None
    assert int(found.expires_at.timestamp()) == token["exp"]
    assert authenticate("garbage") is None


# --- websocket -------------------------------------------------------------------------------


@pytest.fixture
async def _close_thread_connections() -> Any:
    yield
    await sync_to_async(connections.close_all)()


async def init(ws: Any, payload: dict[str, Any] | None) -> dict[str, Any]:
    connected, _ = await ws.connect()
    assert connected
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        message["payload"] = payload
    await ws.send_json_to(message)
    answer: dict[str, Any] = await ws.receive_output(timeout=5)
    return answer


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_thread_connections")
@pytest.mark.parametrize("origin", [None, "https://spa.example.net"])
async def test_a_token_in_connection_init_authenticates_the_socket(
    user: Any, origin: str | None
) -> None:
    """From a native app (no Origin) or a SPA on an origin no setting allows: a token carries no
    ambient credential, so the origin does not matter."""
    upload = await sync_to_async(make_upload)(user)
    token = await sync_to_async(make_token)(user)
    ws = communicator(origin, "api.example.com")
    answer = await init(ws, {"authorization": f"Bearer {token}"})
    assert json.loads(answer["text"]) == {"type": "connection_ack"}
    await ws.send_json_to(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": IMAGE_PROCESSED, "variables": {"id": str(upload.pk)}},
        }
    )
    first = await ws.receive_json_from()
    assert first["payload"]["data"]["imageProcessed"] == {"id": str(upload.pk), "status": "PENDING"}
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_thread_connections")
async def test_somebody_elses_upload_is_not_found_for_a_token_socket(
    user: Any, other_user: Any
) -> None:
    upload = await sync_to_async(make_upload)(other_user)
    token = await sync_to_async(make_token)(user)
    ws = communicator(None)
    await init(ws, {"authorization": f"Bearer {token}"})
    await ws.send_json_to(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": IMAGE_PROCESSED, "variables": {"id": str(upload.pk)}},
        }
    )
    message = await ws.receive_json_from()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_thread_connections")
@pytest.mark.parametrize(
    "payload",
    [
        {"authorization": "Bearer nope"},
        {"authorization": "Basic abc"},
        {"authorization": 42},
        {"authorization": ""},
    ],
)
async def test_a_bad_token_closes_the_socket_with_4403(payload: dict[str, Any]) -> None:
    answer = await init(communicator(None), payload)
    assert (answer["type"], answer["code"]) == ("websocket.close", 4403)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_thread_connections")
async def test_an_expired_token_closes_the_socket(user: Any) -> None:
    expired = await sync_to_async(make_token)(user, -1)
    answer = await init(communicator(None), {"authorization": f"Bearer {expired}"})
    assert (answer["type"], answer["code"]) == ("websocket.close", 4403)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_thread_connections")
async def test_the_socket_is_closed_when_its_token_expires(user: Any) -> None:
    token = await sync_to_async(make_token)(user, 1.0)
    ws = communicator(None)
    answer = await init(ws, {"authorization": f"Bearer {token}"})
    assert json.loads(answer["text"])["type"] == "connection_ack"
    closed = await ws.receive_output(timeout=10)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4403)
