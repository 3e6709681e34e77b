"""HTTP endpoints of the app: the processor callback."""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

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

logger = logging.getLogger(__name__)


def _error(exc: CallbackRejected) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": exc.code, "message": exc.message}}, status=exc.http_status
    )


def _apply(payload: CallbackPayload) -> Outcome:
    committed: list[UploadState] = []
    outcome = apply_callback(payload, on_commit=committed.append)
    outcome.published = committed
    return outcome


# Authenticated by HMAC, not by cookies: CSRF does not apply.
@csrf_exempt
@require_POST
async def callback(request: HttpRequest) -> JsonResponse:
    """``POST /async_image/callback/`` from the processor. See ARCHITECTURE.md for the contract."""
    limit = app_settings.CALLBACK_MAX_BODY_SIZE
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _error(
            CallbackRejected(
                f"Body larger than {limit} bytes.", code="BODY_TOO_LARGE", http_status=413
            )
        )
    body = request.body
    try:
        if len(body) > limit:
            raise CallbackRejected(
                f"Body larger than {limit} bytes.", code="BODY_TOO_LARGE", http_status=413
            )
        verify_signature(
            body, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
        )
        payload = parse_payload(body)
        # One thread hop for all the database work of the callback. Under ASGI that thread is
        # new for every request: connections come from the PostgreSQL pool (config/settings.py),
        # not from CONN_MAX_AGE, which a new thread never reuses.
        outcome = await sync_to_async(_apply)(payload)
    except CallbackRejected as exc:
        logger.warning("asyncimg: callback rejected: %s %s", exc.code, exc.message)
        return _error(exc)
    published = True
    for state in outcome.published:
        published = await apublish(state) and published
    return JsonResponse(
        {
            "status": "applied"
            if outcome.applied
            else "duplicate"
            if outcome.duplicate
            else "ignored",
            "uploadId": outcome.state.id,
            "uploadStatus": outcome.state.status,
            "version": outcome.state.version,
            "published": published,
        }
    )
