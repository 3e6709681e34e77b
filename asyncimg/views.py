"""HTTP endpoints of the app: the processor callback."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from asyncimg.conf import app_settings
from asyncimg.services.callbacks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallbackPayload,
    CallbackRejected,
    Outcome,
    apply_callback,
    parse_payload,
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
        response = _error(
            CallbackRejected("Only POST is allowed.", code="METHOD_NOT_ALLOWED", http_status=405)
        )
        response["Allow"] = "POST"
        return response
    limit = app_settings.CALLBACK_MAX_BODY_SIZE
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
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
        outcome = await sync_to_async(_apply)(payload)
    except CallbackRejected as exc:
        logger.warning("asyncimg: callback rejected: %s %s", exc.code, exc.message)
        return _error(exc)
    except DatabaseError:
        # Nothing was applied (one transaction); the processor retries on 5xx.
        logger.exception("asyncimg: callback could not be applied")
        return _error(
            CallbackRejected(
                "The callback could not be applied; retry later.",
                code="NOT_APPLIED",
                http_status=500,
            )
        )
    published = True
    for state in outcome.published:
        published = await apublish(state) and published
    status = "applied" if outcome.applied else "duplicate" if outcome.duplicate else "ignored"
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
