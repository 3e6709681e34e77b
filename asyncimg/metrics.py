"""Prometheus metrics of the upload path: one recording function per event, called from the one
place the event happens (the state machine, the callback endpoint, the credential service, the
publisher, the websocket consumer, the sweeps).

Everything here is a no-op unless prometheus-client is installed (the ``metrics`` extra) and
``ASYNC_IMAGE_UPLOAD_METRICS`` is on; the setting is read on every call, so ``override_settings``
works. Labels take values from small fixed sets (states, error codes, outcomes), never ids: the
number of series does not grow with traffic.

Several server processes: set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, the same for all
of them, emptied at deploy) in their environment before they start. Each process then writes its
values to files there, and :func:`exposition` (the view) sums them up, so any one process answers
for all. Gauges count live processes only: call ``prometheus_client.multiprocess.
mark_process_dead(pid)`` from the server's worker-exit hook (gunicorn ``child_exit``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from asyncimg.conf import app_settings

try:
    import prometheus_client
except ImportError:  # the extra is not installed: every function below does nothing
    prometheus_client = None  # type: ignore[assignment]

#: seconds from the ``processing`` callback to the final one
PROCESSING_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
#: seconds from the credential to READY (the client's wait, upload included)
READY_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)


def installed() -> bool:
    return prometheus_client is not None


def enabled() -> bool:
    """Metrics are recorded: the library is there and the setting is on."""
    return prometheus_client is not None and app_settings.METRICS


@dataclass(frozen=True)
class _Metrics:
    credentials_issued: Any
    credentials_refused: Any
    transitions: Any
    processing_seconds: Any
    ready_seconds: Any
    callbacks_accepted: Any
    callbacks_rejected: Any
    pushes: Any
    websocket_connections: Any
    subscriptions: Any
    sweep_uploads: Any
    orphans_removed: Any


@cache
def _metrics() -> _Metrics:
    """Created once per process, on the default registry (beside the project's own metrics)."""
    pc = prometheus_client
    assert pc is not None
    return _Metrics(
        credentials_issued=pc.Counter(
            "asyncimg_credentials_issued",
            "Upload credentials handed out; reused: a live one returned again.",
            ["reused"],
        ),
        credentials_refused=pc.Counter(
            "asyncimg_credentials_refused",
            "Credential requests refused, by error code (RATE_LIMITED, FILE_TOO_LARGE...).",
            ["code"],
        ),
        transitions=pc.Counter(
            "asyncimg_upload_transitions",
            "Committed upload state changes.",
            ["from", "to"],
        ),
        processing_seconds=pc.Histogram(
            "asyncimg_processing_duration_seconds",
            "From the processing callback to the final one (READY or FAILED).",
            ["outcome"],
            buckets=PROCESSING_BUCKETS,
        ),
        ready_seconds=pc.Histogram(
            "asyncimg_upload_to_ready_seconds",
            "From the upload credential to READY.",
            buckets=READY_BUCKETS,
        ),
        callbacks_accepted=pc.Counter(
            "asyncimg_callbacks_accepted",
            "Callbacks answered 200: applied, duplicate (eventId seen) or ignored (late).",
            ["event", "result"],
        ),
        callbacks_rejected=pc.Counter(
            "asyncimg_callbacks_rejected",
            "Callbacks refused (4xx) or not applied (5xx), by error code.",
            ["code"],
        ),
        pushes=pc.Counter(
            "asyncimg_pushes",
            "Upload changes sent to the channel layer: published or failed.",
            ["result"],
        ),
        websocket_connections=pc.Gauge(
            "asyncimg_websocket_connections",
            "Open GraphQL websocket connections.",
            multiprocess_mode="livesum",
        ),
        subscriptions=pc.Gauge(
            "asyncimg_subscriptions",
            "Active GraphQL subscriptions.",
            multiprocess_mode="livesum",
        ),
        sweep_uploads=pc.Counter(
            "asyncimg_sweep_uploads",
            "Uploads settled by the sweeps: uploaded, expired, timed_out; unchecked: left "
            "PENDING because storage did not answer.",
            ["result"],
        ),
        orphans_removed=pc.Counter(
            "asyncimg_orphans_removed",
            "Processor outputs deleted because their upload will never be READY.",
        ),
    )


def _on() -> _Metrics | None:
    return _metrics() if enabled() else None


def credentials_issued(new: int, reused: int) -> None:
    if (m := _on()) is not None:
        if new:
            m.credentials_issued.labels("false").inc(new)
        if reused:
            m.credentials_issued.labels("true").inc(reused)


def credential_refused(code: str) -> None:
    if (m := _on()) is not None:
        m.credentials_refused.labels(code).inc()


def transition(
    source: str,
    target: str,
    *,
    processing_seconds: float | None = None,
    ready_seconds: float | None = None,
) -> None:
    if (m := _on()) is not None:
        m.transitions.labels(source, target).inc()
        if processing_seconds is not None:
            m.processing_seconds.labels(target.lower()).observe(max(processing_seconds, 0.0))
        if ready_seconds is not None:
            m.ready_seconds.observe(max(ready_seconds, 0.0))


def callback_accepted(event: str, result: str) -> None:
    if (m := _on()) is not None:
        m.callbacks_accepted.labels(event, result).inc()


def callback_rejected(code: str) -> None:
    if (m := _on()) is not None:
        m.callbacks_rejected.labels(code).inc()


def push(published: bool) -> None:
    if (m := _on()) is not None:
        m.pushes.labels("published" if published else "failed").inc()


def websocket_connections(delta: int) -> None:
    if (m := _on()) is not None:
        m.websocket_connections.inc(delta)


def subscriptions(delta: int) -> None:
    if (m := _on()) is not None:
        m.subscriptions.inc(delta)


def sweep(result: str, count: int) -> None:
    if count and (m := _on()) is not None:
        m.sweep_uploads.labels(result).inc(count)


def orphans_removed(count: int) -> None:
    if count and (m := _on()) is not None:
        m.orphans_removed.inc(count)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """The text exposition of every metric of this process, or of all processes sharing
    ``PROMETHEUS_MULTIPROC_DIR``; and its content type (OpenMetrics if ``accept`` asks for it)."""
    pc = prometheus_client
    assert pc is not None
    from prometheus_client import exposition as expo

    _metrics()  # registered before the first event, so a fresh process shows every name
    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = pc.CollectorRegistry()
        mp.MultiProcessCollector(registry)
    else:
        registry = pc.REGISTRY
    encoder, content_type = expo.choose_encoder(accept or "")
    return encoder(registry), content_type
