"""OpenTelemetry spans of the upload path: the credential, each callback, each push.

Off unless ``ASYNC_IMAGE_UPLOAD_TRACING`` is on and opentelemetry-api is installed (the ``otel``
extra); the project configures the tracer provider and exporter as usual (opentelemetry-sdk,
``OTEL_EXPORTER_OTLP_ENDPOINT``...). Spans carry ``asyncimg.upload_id``.

One upload is one trace, across processes, with nothing stored: its trace id *is* the upload's
UUID (128 bits, never zero). Every span about an upload starts under a remote parent of that trace
(:func:`upload_context`); the processor computes the same ``traceparent`` from the upload id
(``asyncimg_processor.callback.traceparent_for``) and sends it with its callbacks, so its own
spans, if it records any, land in the same trace. The span that was current when a credential
was requested (the project's HTTP request span) is kept as a link, not as the parent.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

from asyncimg.conf import app_settings

try:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the extra is not installed: every function below does nothing
    trace = None  # type: ignore[assignment]

TRACER = "asyncimg"


def enabled() -> bool:
    return trace is not None and app_settings.TRACING


def upload_context(upload_id: Any, traceparent: str | None = None) -> Any:
    """The parent context of an upload's spans: ``traceparent`` when it names the upload's
    trace, else the upload's own trace (see the module's docstring)."""
    assert trace is not None
    pk = uuid.UUID(str(upload_id))
    if traceparent:
        extracted = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
        parent = trace.get_current_span(extracted).get_span_context()
        if parent.is_valid and parent.trace_id == pk.int:
            return extracted
    root = trace.SpanContext(
        trace_id=pk.int,
        span_id=(pk.int & ((1 << 64) - 1)) or 1,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(root))


@contextlib.contextmanager
def span(
    name: str,
    upload_id: Any,
    *,
    traceparent: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """A span of ``upload_id``'s trace around the block; yields it (None when tracing is off)."""
    if not enabled():
        yield None
        return
    assert trace is not None
    tracer = trace.get_tracer(TRACER)
    context = upload_context(upload_id, traceparent)
    with tracer.start_as_current_span(
        name,
        context=context,
        attributes={"asyncimg.upload_id": str(upload_id), **(attributes or {})},
    ) as current:
        yield current


def started() -> int:
    """A start time for :func:`credential_spans` (nanoseconds, as OpenTelemetry counts)."""
    return time.time_ns()


def credential_spans(upload_ids: list[str], start_time: int, **attributes: Any) -> None:
    """One ``asyncimg.request_upload`` span per new upload, from ``start_time`` to now: the ids
    exist only once the credentials are signed, and each span opens its upload's trace."""
    if not enabled() or not upload_ids:
        return
    assert trace is not None
    tracer = trace.get_tracer(TRACER)
    caller = trace.get_current_span().get_span_context()
    links = [trace.Link(caller)] if caller.is_valid else []
    for upload_id in upload_ids:
        tracer.start_span(
            "asyncimg.request_upload",
            context=upload_context(upload_id),
            links=links,
            start_time=start_time,
            attributes={"asyncimg.upload_id": upload_id, **attributes},
        ).end()
