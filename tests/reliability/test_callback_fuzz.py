"""Hypothesis against ``POST /async_image/callback/`` (through Django's test client): arbitrary
bytes and JSON bodies, arbitrary timestamp and signature headers, and validly signed payloads that
are wrong in every other way. Every answer is JSON: a 200 with a status, or a 4xx/5xx with
``{"error": {"code": ...}}``; nothing raises; a refused callback changes nothing.

``ASYNCIMG_RELIABILITY_CALLBACK_EXAMPLES`` sets the number of examples per test."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncimg.models import CallbackEvent, ProcessedImage, Upload, UploadStatus
from tests.callbacks import SECRET, image_payload, signature
from tests.reliability.harness import env_int
from tests.test_callback import make_upload

pytestmark = pytest.mark.django_db

URL = "/async_image/callback/"
EXAMPLES = env_int("ASYNCIMG_RELIABILITY_CALLBACK_EXAMPLES", 150)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
STATUSES = {"applied", "duplicate", "ignored"}

#: header values as HTTP can carry them: printable Latin-1, no line breaks
header_text = st.text(
    st.characters(
        min_codepoint=0x20,
        max_codepoint=0xFF,
        exclude_characters="".join(map(chr, range(0x7F, 0xA0))),
    ),
    max_size=80,
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def fresh_uploads(user: Any) -> list[Upload]:
    """Uploads in each state a callback may find (waiting, in processing, finished), new for
    every example so that accepted callbacks keep finding uploads they can move."""
    pending = make_upload(user)
    processing = make_upload(user, status=UploadStatus.PROCESSING, version=2)
    ready = make_upload(user, status=UploadStatus.READY, version=3)
    return [pending, processing, ready]


def snapshot() -> tuple[Any, ...]:
    rows = Upload.objects.order_by("pk").values_list(
        "pk", "status", "version", "updated_at", "error_code", "error_message", "image_id"
    )
    return (tuple(rows), CallbackEvent.objects.count(), ProcessedImage.objects.count())


def post(client: Client, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def check(response: Any, before: tuple[Any, ...]) -> dict[str, Any]:
    """The contract for any answer; returns the JSON body."""
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    if response.status_code == 200:
        assert body["status"] in STATUSES, body
        assert isinstance(body["uploadStatus"], str), body
    else:
        assert 400 <= response.status_code < 600, response.status_code
        assert isinstance(body["error"]["code"], str), body
        assert body["error"]["code"], body
        assert isinstance(body["error"]["message"], str), body
        assert snapshot() == before, "a refused callback changed something"
    return body


def signed(body: bytes, *, secret: str = SECRET, skew: int = 0) -> dict[str, str]:
    timestamp = int(time.time()) + skew
    return {
        "X-Asyncimg-Timestamp": str(timestamp),
        "X-Asyncimg-Signature": signature(secret, timestamp, body),
    }


# --- anything at all ----------------------------------------------------------------------------

bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
)


@st.composite
def headers_for(draw: Any, body: bytes) -> dict[str, str]:
    """Every shape of the two headers: absent, junk, stale, wrong secret, several signatures."""
    now = int(time.time())
    # Weighted towards timestamps inside the window and right signatures, so that the bodies
    # get past the headers often.
    kind = draw(st.sampled_from(["none", "text", "number", "near", "near", "near", "odd"]))
    timestamps = {
        "none": st.none(),
        "text": header_text,
        "number": st.integers(min_value=-(10**13), max_value=10**13).map(str),
        "near": st.integers(min_value=-400, max_value=400).map(lambda s: str(now + s)),
        "odd": st.sampled_from([f" {now}", f"{now}.0", f"+{now}", "0" * 13, "١٢٣"]),
    }
    timestamp = draw(timestamps[kind])
    sign_as = draw(
        st.sampled_from(["none", "junk", "right", "right", "right", "wrong-secret", "among-others"])
    )
    headers = {} if timestamp is None else {"X-Asyncimg-Timestamp": timestamp}
    if sign_as == "junk":
        headers["X-Asyncimg-Signature"] = draw(header_text)
    elif sign_as != "none" and timestamp is not None:
        secret = "not-the-secret" if sign_as == "wrong-secret" else SECRET
        value = signature(secret, timestamp, body)
        if sign_as == "among-others":
            value = f"v0=abc, {draw(header_text).replace(',', '')}, {value}"
        headers["X-Asyncimg-Signature"] = value
    return headers


@FUZZ
@given(data=st.data())
def test_any_body_and_headers(client: Client, user: Any, data: Any) -> None:
    fresh_uploads(user)
    body = data.draw(bodies, label="body")
    headers = data.draw(headers_for(body), label="headers")
    before = snapshot()
    response = post(client, body, headers)
    answer = check(response, before)
    if response.status_code == 200:
        # Accepted only when signed with the secret, inside the replay window.
        timestamp = headers["X-Asyncimg-Timestamp"]
        assert abs(int(timestamp) - time.time()) <= 305, (headers, answer)
        assert signature(SECRET, timestamp, body) in headers["X-Asyncimg-Signature"]


# --- signed, and wrong in every other way ---------------------------------------------------------


def near_miss(name: str, value: Any, upload_id: str) -> Any:
    """Values of an image field that are almost right."""
    if name in {"width", "height", "size"}:
        return st.sampled_from([0, -1, 2**53 + 1, 1_000_001, 1.5, True, "100", None])
    if name == "key":
        return st.sampled_from(
            [
                f"processed/{uuid.uuid4()}/original.jpg",
                f"processed/{upload_id}/../../etc/passwd",
                f"temp/{upload_id}/x.jpg",
                f"processed/{upload_id}/" + "x" * 1100,
                "",
            ]
        )
    if name == "format":
        return st.sampled_from(["svg", "JPEG", "", "jpeg\x00", "x" * 40])
    if name == "variants":
        variant = value[0]
        return st.one_of(
            st.lists(st.just(variant), min_size=65, max_size=70),
            st.lists(
                st.fixed_dictionaries(
                    {k: st.one_of(st.just(v), json_values) for k, v in variant.items()}
                ),
                max_size=3,
            ),
            st.sampled_from(
                [
                    [],
                    [{**variant, "name": ""}],
                    [{**variant, "name": "n" * 101}],
                    [{**variant, "key": "elsewhere/x.jpg"}],
                    [{**variant, "width": 0}],
                    [variant, variant],
                ]
            ),
        )
    return st.one_of(
        st.dictionaries(st.text(max_size=20), json_values, max_size=5),
        st.sampled_from(
            [{"note": "nul \x00 byte"}, {"emoji": "\U0001f4f7" * 50}, {"deep": [[[[[]]]]]}]
        ),
    )


#: what a payload may get wrong, up to two at a time (none: it stays valid)
MISTAKES = [
    "uploadId",
    "event",
    "eventId",
    "image-field",
    "image-drop-field",
    "image",
    "error",
    "extra-key",
]


@st.composite
def payloads(draw: Any, upload_ids: list[str]) -> dict[str, Any]:
    """A valid payload for one of the uploads, then up to two mistakes."""
    upload_id = draw(st.sampled_from(upload_ids))
    event = draw(st.sampled_from(["processing", "succeeded", "failed"]))
    # A few fixed ids, so that duplicates happen.
    event_id = draw(st.one_of(st.sampled_from(["e1", "e2", "e3"]), st.uuids().map(str)))
    payload: dict[str, Any] = {"uploadId": upload_id, "event": event, "eventId": event_id}
    if event == "succeeded":
        payload["image"] = image_payload(upload_id)
    if event == "failed":
        payload["error"] = {"code": "UNSUPPORTED_TYPE", "message": "Not an image."}
    image = payload.get("image")
    for mistake in draw(st.lists(st.sampled_from(MISTAKES), max_size=2)):
        if mistake == "uploadId":
            payload["uploadId"] = draw(
                st.one_of(
                    st.uuids().map(str),
                    st.sampled_from([upload_id.upper(), upload_id.replace("-", ""), ""]),
                    json_values,
                )
            )
        elif mistake == "event":
            payload["event"] = draw(
                st.one_of(st.sampled_from(["processing", "succeeded", "failed"]), json_values)
            )
        elif mistake == "eventId":
            payload["eventId"] = draw(
                st.one_of(
                    st.text(max_size=210),
                    st.sampled_from(["", "e" * 200, "e" * 201, "tab\there", "nul\x00"]),
                    json_values,
                )
            )
        elif mistake == "image-field" and isinstance(image, dict) and image:
            name = draw(st.sampled_from(sorted(image)))
            good = image_payload(upload_id)[name]
            image[name] = draw(st.one_of(near_miss(name, good, upload_id), json_values))
        elif mistake == "image-drop-field" and isinstance(image, dict) and image:
            image.pop(draw(st.sampled_from(sorted(image))))
        elif mistake == "image":
            payload["image"] = draw(st.one_of(json_values, st.just(image_payload(upload_id))))
        elif mistake == "error":
            payload["error"] = draw(
                st.one_of(
                    st.fixed_dictionaries(
                        {
                            "code": st.one_of(st.text(max_size=80), json_values),
                            "message": st.one_of(st.text(max_size=600), json_values),
                        }
                    ),
                    json_values,
                )
            )
        elif mistake == "extra-key":
            payload[draw(st.text(max_size=10))] = draw(json_values)
    return payload


@FUZZ
@given(data=st.data())
def test_signed_payloads_of_every_shape(client: Client, user: Any, data: Any) -> None:
    ids = [str(u.pk) for u in fresh_uploads(user)]
    payload = data.draw(payloads(ids), label="payload")
    body = json.dumps(payload, ensure_ascii=data.draw(st.booleans())).encode()
    before = snapshot()
    response = post(client, body, signed(body))
    answer = check(response, before)
    if response.status_code == 200:
        assert payload["event"] in {"processing", "succeeded", "failed"}
        assert answer["uploadId"] == str(uuid.UUID(str(payload["uploadId"])))
    # A signed callback is never refused as unauthenticated.
    assert response.status_code not in (401, 403), answer
    # Delivery is at least once: the same callback again changes nothing, and is answered alike.
    after = snapshot()
    again = post(client, body, signed(body))
    repeated = check(again, after)
    assert snapshot() == after
    assert again.status_code == response.status_code
    if again.status_code == 200:
        assert repeated["status"] in {"duplicate", "ignored"}, (answer, repeated)
        assert (repeated["uploadStatus"], repeated["version"]) == (
            answer["uploadStatus"],
            answer["version"],
        )


def test_fuzzing_reaches_the_state_machine(client: Client, user: Any) -> None:
    """The generators above can produce accepted callbacks too: the oracle is not vacuous."""
    pending = fresh_uploads(user)[0]
    body = json.dumps(
        {"uploadId": str(pending.pk), "event": "succeeded", "eventId": "ok"}
        | {"image": image_payload(str(pending.pk))}
    ).encode()
    before = snapshot()
    answer = check(post(client, body, signed(body)), before)
    assert answer["status"] == "applied"
    assert snapshot() != before
    assert Upload.objects.get(pk=pending.pk).status == UploadStatus.READY
