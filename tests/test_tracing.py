"""OpenTelemetry spans, collected by the SDK's in-memory exporter: one upload is one trace, from
the credential through the processor's callbacks (with the ``traceparent`` the processor computes)
to the pushes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from asyncimg import tracing
from asyncimg.services.owners import Owner
from asyncimg.services.uploads import FileSpec, request_uploads
from asyncimg_processor.callback import traceparent_for
from tests.callbacks import callback_body, image_payload, signed_headers

pytestmark = pytest.mark.django_db(transaction=True)

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)  # once per process: OpenTelemetry's rule
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def post_callback(client: Client, body: bytes, traceparent: str | None) -> Any:
    headers = signed_headers(body)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE", None)
    if traceparent:
        extra["HTTP_TRACEPARENT"] = traceparent
    return client.post(
        "/async_image/callback/", data=body, content_type="application/json", **extra
    )


def upload_and_process(user: Any) -> str:
    [ticket] = request_uploads(Owner(user_id=user.pk), [FileSpec("cat.jpg", "image/jpeg", 1000)])
    upload_id = ticket.upload.id
    client = Client()
    header = traceparent_for(upload_id)  # what the processor sends
    for body in (
        callback_body(upload_id, "processing", event_id="p"),
        callback_body(upload_id, "succeeded", event_id="s", image=image_payload(upload_id)),
    ):
        assert post_callback(client, body, header).status_code == 200
    return upload_id


@override_settings(ASYNC_IMAGE_UPLOAD_TRACING=True)
def test_one_upload_is_one_trace(spans: InMemorySpanExporter, user: Any) -> None:
    upload_id = upload_and_process(user)
    finished = spans.get_finished_spans()
    ours = [s for s in finished if (s.attributes or {}).get("asyncimg.upload_id") == upload_id]
    assert sorted(s.name for s in ours) == [
        "asyncimg.callback",
        "asyncimg.callback",
        "asyncimg.push",
        "asyncimg.push",
        "asyncimg.request_upload",
    ]
    assert {s.context.trace_id for s in ours} == {uuid.UUID(upload_id).int}
    # Nothing about this upload went into another trace.
    assert all(s in ours for s in finished if s.context.trace_id == uuid.UUID(upload_id).int)
    events = [s.attributes["asyncimg.event"] for s in ours if s.name == "asyncimg.callback"]
    assert events == ["processing", "succeeded"]
    pushed = [s.attributes["asyncimg.status"] for s in ours if s.name == "asyncimg.push"]
    assert pushed == ["PROCESSING", "READY"]


def test_off_unless_configured(spans: InMemorySpanExporter, user: Any) -> None:
    upload_and_process(user)
    assert spans.get_finished_spans() == ()


@override_settings(ASYNC_IMAGE_UPLOAD_TRACING=True)
def test_a_traceparent_of_another_trace_does_not_split_the_upload(
    spans: InMemorySpanExporter, user: Any
) -> None:
    [ticket] = request_uploads(Owner(user_id=user.pk), [FileSpec("cat.jpg", "image/jpeg", 1000)])
    upload_id = ticket.upload.id
    for header in (
        traceparent_for(str(uuid.uuid4())),
        "00-garbage",
        "00-" + "0" * 32 + "-" + "0" * 16 + "-01",
    ):
        body = callback_body(upload_id, "processing", event_id=f"p-{header}")
        assert post_callback(Client(), body, header).status_code == 200
    callbacks = [s for s in spans.get_finished_spans() if s.name == "asyncimg.callback"]
    assert len(callbacks) == 3
    assert {s.context.trace_id for s in callbacks} == {uuid.UUID(upload_id).int}


@override_settings(ASYNC_IMAGE_UPLOAD_TRACING=True)
def test_the_request_s_own_span_is_linked(spans: InMemorySpanExporter, user: Any) -> None:
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("POST /graphql/") as outer:
        [ticket] = request_uploads(
            Owner(user_id=user.pk), [FileSpec("cat.jpg", "image/jpeg", 1000)]
        )
    [span] = [s for s in spans.get_finished_spans() if s.name == "asyncimg.request_upload"]
    assert span.context.trace_id == uuid.UUID(ticket.upload.id).int
    assert [link.context.span_id for link in span.links] == [outer.get_span_context().span_id]


def test_processor_traceparent_matches_the_app_s_trace() -> None:
    upload_id = str(uuid.uuid4())
    header = traceparent_for(upload_id)
    assert header is not None
    version, trace_id, span_id, flags = header.split("-")
    assert (version, flags, len(span_id)) == ("00", "01", 16)
    assert int(trace_id, 16) == uuid.UUID(upload_id).int
    assert traceparent_for("not-a-uuid") is None
    with override_settings(ASYNC_IMAGE_UPLOAD_TRACING=True):
        context = tracing.upload_context(upload_id, header)
    assert trace.get_current_span(context).get_span_context().trace_id == int(trace_id, 16)
