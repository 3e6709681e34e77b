"""HTTP endpoints of the app: the processor callback and the Prometheus metrics."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from asyncimg import metrics as _metrics
from asyncimg import tracing
from asyncimg.conf import app_settings
from asyncimg.services.callbacks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallbackPayload,
    CallbackRejected,
    Outcome,
    accepted,
    apply_callback,
    parse_payload,
    rejected,
    verify_signature,
)
from asyncimg.services.publish import apublish
from asyncimg.services.state import UploadState

logger = logging.getLogger("asyncimg.callback")


def _error(exc: CallbackRejected) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": exc.code, "message": exc.message}}, status=exc.http_status
    )


def _apply(payload: CallbackPayload) -> Outcome:
    # Publishing waits for the view (below, on the event loop): no async_to_sync hop per change.
    committed: list[UploadState] = []
    outcome = apply_callback(payload, on_commit=committed.append)
    outcome.published = committed
    return outcome


# Authenticated by its HMAC signature, not by cookies: CSRF does not apply.
@csrf_exempt
async def callback(request: HttpRequest) -> JsonResponse:
    """``POST /async_image/callback/`` from the processor. See ARCHITECTURE.md for the contract.

    Async, so that the whole database part is one thread hop (signals included) and publishing
    runs on the event loop."""
    if request.method != "POST":
        refused = CallbackRejected(
            "Only POST is allowed.", code="METHOD_NOT_ALLOWED", http_status=405
        )
        rejected(refused)
        response = _error(refused)
        response["Allow"] = "POST"
        return response
    limit = app_settings.CALLBACK_MAX_BODY_SIZE
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    payload: CallbackPayload | None = None
    try:
        if declared > limit or len(request.body) > limit:
            raise CallbackRejected(
                f"Body larger than {limit} bytes.", code="BODY_TOO_LARGE", http_status=413
            )
        body = request.body
        verify_signature(
            body, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
        )
        payload = parse_payload(body)
        with tracing.span(
            "asyncimg.callback",
            payload.upload_id,
            traceparent=request.headers.get("traceparent"),
            attributes={"asyncimg.event": payload.event},
        ):
            outcome = await sync_to_async(_apply)(payload)
    except CallbackRejected as exc:
        rejected(exc, payload)
        return _error(exc)
    except DatabaseError:
        # Nothing was applied (one transaction); the processor retries on 5xx.
        logger.exception("asyncimg: callback could not be applied")
        not_applied = CallbackRejected(
            "The callback could not be applied; retry later.", code="NOT_APPLIED", http_status=500
        )
        rejected(not_applied, payload)
        return _error(not_applied)
    published = True
    for state in outcome.published:
        published = await apublish(state) and published
    status = accepted(payload, outcome)
    body_out: dict[str, Any] = {
        "status": status,
        "uploadId": outcome.state.id,
        "uploadStatus": outcome.state.status,
        "version": outcome.state.version,
        "published": published,
    }
    if payload.event == "processing":
        # What the credential promised: storage that enforces no policy (moto, MinIO, Azure SAS)
        # lets anything through, so the processor re-checks the object against it.
        body_out["declaredSize"] = outcome.state.size
        body_out["declaredContentType"] = outcome.state.content_type
    return JsonResponse(body_out)


def _may_scrape(request: HttpRequest) -> bool:
    token = app_settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header[:7].lower() == "bearer ":
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())
    user = getattr(request, "user", None)  # AuthenticationMiddleware's, when installed
    return bool(user is not None and user.is_active and user.is_staff)


def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition (``GET``), every process's when ``PROMETHEUS_MULTIPROC_DIR`` is
    set. 404 while metrics are off; otherwise only for ``Authorization: Bearer
    <ASYNC_IMAGE_UPLOAD_METRICS_TOKEN>`` (the scraper) or a staff user's session (a person
    looking), 401 for anyone else: the figures describe the business and its failures."""
    if not _metrics.enabled():
        raise Http404("Metrics are off (ASYNC_IMAGE_UPLOAD_METRICS).")
    if not _may_scrape(request):
        response = HttpResponse("Unauthorized.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="asyncimg metrics"'
        return response
    body, content_type = _metrics.exposition(request.headers.get("Accept"))
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
