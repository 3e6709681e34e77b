"""Metrics and structured logs in-process: through the service layer and the test client, read
back from this process's Prometheus registry (the live servers: tests/test_metrics_live.py)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from asyncimg import metrics
from asyncimg.checks import check_observability
from asyncimg.errors import FileTooLarge
from asyncimg.logs import logfmt
from asyncimg.management.commands.asyncimg_doctor import metrics_finding
from asyncimg.models import Upload
from asyncimg.services.callbacks import CallbackPayload, apply_callback
from asyncimg.services.expiry import expire_uploads
from asyncimg.services.owners import Owner
from asyncimg.services.uploads import FileSpec, request_uploads
from tests.callbacks import callback_body, signed_headers

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/async_image/metrics/"
TOKEN = "a-long-enough-scrape-token-0123456789"
ON = {"ASYNC_IMAGE_UPLOAD_METRICS": True, "ASYNC_IMAGE_UPLOAD_METRICS_TOKEN": TOKEN}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def make_upload(user: Any, **fields: Any) -> Upload:
    fields.setdefault("expires_at", timezone.now() + timedelta(minutes=10))
    upload = Upload(owner=user, filename="cat.jpg", content_type="image/jpeg", size=1000, **fields)
    upload.key = f"temp/{upload.pk}/cat.jpg"
    upload.save()
    return upload


def callback(client: Client, body: bytes, headers: dict[str, str]) -> Any:
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE", None)
    return client.post(
        "/async_image/callback/", data=body, content_type="application/json", **extra
    )


# --- off, and the endpoint's protection --------------------------------------------------------


def test_off_by_default_records_nothing_and_hides_the_endpoint(client: Client, user: Any) -> None:
    before = sample("asyncimg_callbacks_rejected_total", code="BAD_SIGNATURE")
    body = callback_body(str(uuid.uuid4()), "processing")
    assert callback(client, body, {"X-Asyncimg-Timestamp": "1", "X-Asyncimg-Signature": "v1=0"})
    assert sample("asyncimg_callbacks_rejected_total", code="BAD_SIGNATURE") == before
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_without_the_library_everything_is_a_no_op(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "prometheus_client", None)
    with override_settings(**ON):
        assert not metrics.enabled()
        metrics.transition("PENDING", "READY", ready_seconds=1.0)
        metrics.websocket_connections(1)
        assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404
        assert [m.id for m in check_observability()] == ["asyncimg.E015"]
        assert "not installed" in metrics_finding().message


@override_settings(**ON)
@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer ", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN],
)
def test_scrapers_without_the_token_are_refused(client: Client, authorization: str) -> None:
    response = client.get(URL, HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"asyncimg_" not in response.content


@override_settings(**ON)
def test_the_token_or_a_staff_session_reads_the_metrics(client: Client, user: Any) -> None:
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"# TYPE asyncimg_upload_transitions_total counter" in response.content
    client.force_login(user)
    assert client.get(URL).status_code == 401  # logged in is not enough
    user.is_staff = True
    user.save()
    assert client.get(URL).status_code == 200
    openmetrics = client.get(URL, HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert openmetrics["Content-Type"].startswith("application/openmetrics-text")


def test_without_a_token_only_staff_may_read(client: Client, user: Any) -> None:
    with override_settings(ASYNC_IMAGE_UPLOAD_METRICS=True):
        assert client.get(URL, HTTP_AUTHORIZATION="Bearer anything").status_code == 401
        user.is_staff = True
        user.save()
        client.force_login(user)
        assert client.get(URL).status_code == 200


def test_checks(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert [m.id for m in check_observability()] == []
    with override_settings(ASYNC_IMAGE_UPLOAD_METRICS=True, ASYNC_IMAGE_UPLOAD_METRICS_TOKEN="s"):
        assert [m.id for m in check_observability()] == ["asyncimg.W003"]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with override_settings(**ON):
        assert [m.id for m in check_observability()] == ["asyncimg.E017"]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with override_settings(**ON):
        assert [m.id for m in check_observability()] == []
        assert "multi-process" in metrics_finding().message
        assert "bearer token" in metrics_finding().message


def test_doctor_reports_metrics(settings: Any) -> None:
    assert metrics_finding().message == "Metrics: off (ASYNC_IMAGE_UPLOAD_METRICS is not set)."
    settings.ASYNC_IMAGE_UPLOAD_METRICS = True
    assert (
        metrics_finding().message
        == "Metrics: on (this process only), readable by staff users only."
    )


# --- what is counted ---------------------------------------------------------------------------


@override_settings(**ON)
def test_credentials_issued_reused_and_refused(user: Any) -> None:
    owner = Owner(user_id=user.pk)
    spec = FileSpec("cat.jpg", "image/jpeg", 1000)
    issued, reused = ("false",), ("true",)
    before = [sample("asyncimg_credentials_issued_total", reused=r) for r in (*issued, *reused)]
    refused = sample("asyncimg_credentials_refused_total", code="FILE_TOO_LARGE")
    request_uploads(owner, [spec, FileSpec("dog.png", "image/png", 10)])
    request_uploads(owner, [spec])  # the same file inside the reuse window: the same credential
    with pytest.raises(FileTooLarge):
        request_uploads(owner, [FileSpec("big.jpg", "image/jpeg", 1 << 40)])
    after = [sample("asyncimg_credentials_issued_total", reused=r) for r in (*issued, *reused)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1]
    assert sample("asyncimg_credentials_refused_total", code="FILE_TOO_LARGE") == refused + 1


@override_settings(**ON)
def test_duplicate_and_late_callbacks_count_as_accepted_but_not_as_transitions(user: Any) -> None:
    upload = make_upload(user)
    name = "asyncimg_callbacks_accepted_total"
    moved = {"from": "PENDING", "to": "PROCESSING"}
    start = [
        sample(name, event="processing", result=r) for r in ("applied", "duplicate", "ignored")
    ]
    transitions = sample("asyncimg_upload_transitions_total", **moved)
    client = Client()
    body = callback_body(str(upload.pk), "processing", event_id="e1")
    for _ in range(3):
        assert callback(client, body, signed_headers(body)).status_code == 200
    late = callback_body(str(upload.pk), "processing", event_id="e2")
    # Already PROCESSING: a new event id, but nothing to change.
    assert callback(client, late, signed_headers(late)).json()["status"] == "ignored"
    end = [sample(name, event="processing", result=r) for r in ("applied", "duplicate", "ignored")]
    assert sample("asyncimg_upload_transitions_total", **moved) == transitions + 1
    assert [e - s for e, s in zip(end, start, strict=True)] == [1, 2, 1]


@override_settings(**ON)
def test_sweep_results_are_counted(user: Any, s3: Any) -> None:
    for _ in range(3):
        make_upload(user, expires_at=timezone.now() - timedelta(hours=1))
    before = sample("asyncimg_sweep_uploads_total", result="expired")
    moved = sample("asyncimg_upload_transitions_total", **{"from": "PENDING", "to": "EXPIRED"})
    assert len(expire_uploads().expired) == 3
    assert sample("asyncimg_sweep_uploads_total", result="expired") == before + 3
    after = sample("asyncimg_upload_transitions_total", **{"from": "PENDING", "to": "EXPIRED"})
    assert after == moved + 3


@pytest.mark.slow
@override_settings(
    **ON,
    ASYNC_IMAGE_UPLOAD_MAX_FILES_PER_REQUEST=100,
    ASYNC_IMAGE_UPLOAD_RATE_LIMIT=(10_000, 60),
    ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER=10_000,
)
def test_label_sets_stay_bounded_after_1000_uploads(user: Any, other_user: Any) -> None:
    """Every upload gets its own file name, event ids and (hostile) error code from the
    processor; none of them may become a label value."""
    ids: list[str] = []
    for batch in range(10):
        owner = Owner(user_id=(user if batch % 2 else other_user).pk)
        specs = [FileSpec(f"f{batch}-{i}.jpg", "image/jpeg", 1000 + i) for i in range(100)]
        ids += [t.upload.id for t in request_uploads(owner, specs)]
    for index, upload_id in enumerate(ids):
        pk = uuid.UUID(upload_id)
        apply_callback(CallbackPayload(pk, "processing", f"p{index}"))
        apply_callback(
            CallbackPayload(pk, "failed", f"f{index}", error_code=f"E{index}-{upload_id}")
        )
    series = {
        (s.name, tuple(sorted(s.labels.items())))
        for family in REGISTRY.collect()
        if family.name.startswith("asyncimg_")
        for s in family.samples
    }
    values = {v for _, labels in series for _, v in labels}
    assert not any(upload_id in value for value in values for upload_id in ids)
    assert not any(value.startswith("E") and "-" in value for value in values)
    # The states, codes and outcomes this suite knows: a fixed set, whatever the traffic.
    transitions = {labels for name, labels in series if name == "asyncimg_upload_transitions_total"}
    assert len(transitions) <= 5 * 6
    assert len(series) < 300
    assert (
        sample("asyncimg_upload_transitions_total", **{"from": "PROCESSING", "to": "FAILED"})
        >= 1000
    )


# --- structured logs ---------------------------------------------------------------------------

FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def fields(line: str) -> dict[str, str]:
    return {k: json.loads(v) if v.startswith('"') else v for k, v in FIELD.findall(line)}


def test_one_line_per_committed_transition(user: Any, caplog: pytest.LogCaptureFixture) -> None:
    upload = make_upload(user)
    client = Client()
    caplog.set_level(logging.INFO, logger="asyncimg")
    events = [
        callback_body(str(upload.pk), "processing", event_id="a"),
        callback_body(str(upload.pk), "processing", event_id="a"),  # duplicate: no transition
        callback_body(
            str(upload.pk),
            "failed",
            event_id="b",
            error={"code": "DECODE_ERROR", "message": "x\nto=READY"},
        ),
    ]
    for body in events:
        assert callback(client, body, signed_headers(body)).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "asyncimg.transitions"]
    assert [fields(line) for line in lines] == [
        {
            "upload_id": str(upload.pk),
            "from": "PENDING",
            "to": "PROCESSING",
            "code": "",
            "version": "2",
        },
        {
            "upload_id": str(upload.pk),
            "from": "PROCESSING",
            "to": "FAILED",
            "code": "DECODE_ERROR",
            "version": "3",
        },
    ]
    assert all(line.startswith("transition ") and "\n" not in line for line in lines)
    duplicates = [r.getMessage() for r in caplog.records if "callback_duplicate" in r.getMessage()]
    assert len(duplicates) == 1
    assert fields(duplicates[0])["upload_id"] == str(upload.pk)


def test_one_line_per_rejected_callback_and_nothing_secret(
    user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    upload = make_upload(user)
    client = Client()
    caplog.set_level(logging.INFO, logger="asyncimg")
    body = callback_body(str(upload.pk), "processing")
    forged = signed_headers(body, secret="not-the-secret")
    assert callback(client, body, forged).status_code == 401
    unknown = callback_body(str(uuid.uuid4()), "processing")
    assert callback(client, unknown, signed_headers(unknown)).status_code == 404
    lines = [r for r in caplog.records if "callback_rejected" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING]
    first, second = (fields(r.getMessage()) for r in lines)
    assert (first["code"], first["http_status"], first["upload_id"]) == ("BAD_SIGNATURE", "401", "")
    unknown_id = json.loads(unknown)["uploadId"]
    assert (second["code"], second["upload_id"]) == ("NOT_FOUND", unknown_id)
    text = caplog.text
    assert forged["X-Asyncimg-Signature"] not in text
    assert signed_headers(body)["X-Asyncimg-Signature"].split("=")[1] not in text
    assert "test-callback-secret" not in text


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("READY", "READY"),
        ("two words", '"two words"'),
        ('q"uote', '"q\\"uote"'),
        ("a\nto=READY", '"a\\nto=READY"'),
        ("k=v", '"k=v"'),
        (None, ""),
    ],
)
def test_logfmt_quotes_what_could_forge_a_field(value: Any, written: str) -> None:
    assert logfmt("event", code=value) == f"event code={written}"


def test_the_doctor_command_prints_the_metrics_line(settings: Any) -> None:
    """Through the command itself (bucket checks fail here: no storage; the line is still there)."""
    from io import StringIO

    out = StringIO()
    settings.ASYNC_IMAGE_UPLOAD_METRICS = True
    with pytest.raises(Exception):  # noqa: B017, PT011 - the bucket does not exist here
        call_command("asyncimg_doctor", "--skip-callback", "--timeout", "1", stdout=out)
    assert "Metrics: on (this process only)" in out.getvalue()
