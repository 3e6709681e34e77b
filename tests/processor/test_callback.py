"""The callback client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest

from asyncimg_processor.callback import (
    CallbackClient,
    CallbackPayload,
    CallbackRejected,
    CallbackResponse,
    CallbackUnavailable,
    event_id,
    sign,
)
from tests.processor.conftest import CallbackReceiver


def payload(event: str = "processing") -> CallbackPayload:
    return CallbackPayload(
        upload_id="u1",
        event=event,  # type: ignore[arg-type]
        event_id=event_id("u1", event, "etag", "seq"),
    )


def client(receiver: CallbackReceiver, **kwargs: object) -> CallbackClient:
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    return CallbackClient(receiver.url, receiver.secret, **kwargs)  # type: ignore[arg-type]


def test_sign_matches_the_documented_formula() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1_700_000_000, body) == f"v1={expected}"


def test_event_ids_are_stable_and_distinct() -> None:
    assert event_id("u", "succeeded", "e", "s") == event_id("u", "succeeded", "e", "s")
    assert event_id("u", "succeeded", "e", "s") != event_id("u", "failed", "e", "s")
    assert event_id("u", "succeeded", "e", "s") != event_id("u", "succeeded", "e2", "s")


def test_signed_json_body(callback_receiver: CallbackReceiver) -> None:
    body = CallbackPayload(
        upload_id="u1",
        event="failed",
        event_id="abc",
        error={"code": "CORRUPT_IMAGE", "message": "bad"},
    )
    response = client(callback_receiver).send(body)

    assert (response.status, response.attempts) == (200, 1)
    [received] = callback_receiver.received
    assert received.signature_ok
    assert received.headers["Content-Type"] == "application/json"
    assert abs(int(received.headers["X-Asyncimg-Timestamp"]) - time.time()) < 5
    assert json.loads(received.body) == {
        "uploadId": "u1",
        "event": "failed",
        "eventId": "abc",
        "error": {"code": "CORRUPT_IMAGE", "message": "bad"},
    }


def test_the_app_s_answer_is_read(callback_receiver: CallbackReceiver) -> None:
    payload = CallbackPayload(upload_id="u1", event="processing", event_id="abc")
    callback_receiver.answers["processing"] = {"status": "ignored", "uploadStatus": "FAILED"}
    response = client(callback_receiver).send(payload)
    assert response.body == {"status": "ignored", "uploadStatus": "FAILED"}
    assert response.upload_status == "FAILED"

    callback_receiver.answers["processing"] = {"uploadStatus": 3}  # hostile: not a status
    assert client(callback_receiver).send(payload).upload_status is None


def test_the_declaration_is_read_from_the_answer(callback_receiver: CallbackReceiver) -> None:
    payload = CallbackPayload(upload_id="u1", event="processing", event_id="abc")
    callback_receiver.answers["processing"] = {
        "uploadStatus": "PROCESSING",
        "declaredSize": 1000,
        "declaredContentType": "image/png",
    }
    response = client(callback_receiver).send(payload)
    assert (response.declared_size, response.declared_content_type) == (1000, "image/png")

    for hostile in ({"declaredSize": -1}, {"declaredSize": True}, {"declaredSize": "1000"}):
        assert CallbackResponse(200, 1, body=hostile).declared_size is None
    for hostile_type in ({"declaredContentType": ""}, {"declaredContentType": 3}):
        assert CallbackResponse(200, 1, body=hostile_type).declared_content_type is None
    older_app = CallbackResponse(200, 1, body={"uploadStatus": "PROCESSING"})
    assert (older_app.declared_size, older_app.declared_content_type) == (None, None)


def test_an_answer_that_is_not_a_json_object_is_ignored() -> None:
    from asyncimg_processor.callback import CallbackResponse, _json

    assert _json(b"<html>ok</html>") is None
    assert _json(b"[1, 2]") is None
    assert _json(b"") is None
    assert CallbackResponse(status=200, attempts=1, body=None).upload_status is None


def test_retries_on_500_and_429_then_succeeds_with_the_same_event_id(
    callback_receiver: CallbackReceiver,
) -> None:
    callback_receiver.script = [500, 429, 503]
    sleeps: list[float] = []
    response = client(callback_receiver, sleep=sleeps.append, backoff_base=0.5).send(payload())

    assert (response.status, response.attempts) == (200, 4)
    assert len(callback_receiver.received) == 4
    assert len({r.json["eventId"] for r in callback_receiver.received}) == 1
    assert all(r.signature_ok for r in callback_receiver.received)
    # Full jitter under an exponential cap: 0.5, 1, 2 seconds.
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [0.5, 1.0, 2.0], strict=True))


def test_no_retry_on_400(callback_receiver: CallbackReceiver) -> None:
    callback_receiver.script = [400]
    with pytest.raises(CallbackRejected) as info:
        client(callback_receiver).send(payload())
    assert info.value.status == 400
    assert "nope" in info.value.body
    assert len(callback_receiver.received) == 1


def test_bad_secret_is_rejected_not_retried(callback_receiver: CallbackReceiver) -> None:
    bad = CallbackClient(callback_receiver.url, "wrong-secret", sleep=lambda _s: None)
    with pytest.raises(CallbackRejected) as info:
        bad.send(payload())
    assert info.value.status == 401
    assert len(callback_receiver.received) == 1


def test_gives_up_after_the_attempts(callback_receiver: CallbackReceiver) -> None:
    callback_receiver.script = [502] * 10
    with pytest.raises(CallbackUnavailable, match="after 3 attempts: HTTP 502"):
        client(callback_receiver, attempts=3).send(payload())
    assert len(callback_receiver.received) == 3


def test_timeout_is_retried(callback_receiver: CallbackReceiver) -> None:
    callback_receiver.script = ["hang"]
    callback_receiver.hang_seconds = 1.0
    started = time.monotonic()
    response = client(callback_receiver, timeout=0.2).send(payload())
    assert response.attempts == 2
    assert time.monotonic() - started < 1.0
    assert len({r.json["eventId"] for r in callback_receiver.received}) == 1


def test_connection_refused_is_retried_then_unavailable() -> None:
    dead = CallbackClient("http://127.0.0.1:9/cb", "s", attempts=2, sleep=lambda _s: None)
    with pytest.raises(CallbackUnavailable, match="after 2 attempts"):
        dead.send(payload())


def test_redirects_are_not_followed(callback_receiver: CallbackReceiver) -> None:
    callback_receiver.script = [301]
    with pytest.raises(CallbackRejected) as info:
        client(callback_receiver).send(payload())
    assert info.value.status == 301


@pytest.mark.parametrize(("url", "secret"), [("ftp://x/cb", "s"), ("http://x/cb", "")])
def test_bad_configuration_is_refused(url: str, secret: str) -> None:
    with pytest.raises(ValueError, match="callback"):
        CallbackClient(url, secret)


def test_traceparent_is_sent_when_given(callback_receiver: CallbackReceiver) -> None:
    header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    client(callback_receiver).send(
        CallbackPayload(upload_id="u1", event="processing", event_id="e", traceparent=header)
    )
    client(callback_receiver).send(payload())
    first, second = callback_receiver.received
    sent = {k.lower(): v for k, v in first.headers.items()}
    assert sent["traceparent"] == header
    assert first.signature_ok
    assert "traceparent" not in {k.lower() for k in second.headers}
    assert "traceparent" not in json.loads(first.body)
