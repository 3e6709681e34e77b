"""The callback endpoint's logic, independent of how the request arrived.

Served twice with the same behaviour: as a Django view (``asyncimg.urls``, for any URLconf, WSGI
included) and, in our ASGI application, as a bare ASGI callable ahead of Django
(``consumers/callback.py``): the callback is authenticated by its HMAC signature, so the session,
CSRF and authentication middleware have nothing to do for it. On PostgreSQL its database work is
one statement sent from the event loop (``callbacks_pg``); elsewhere, one thread hop to the ORM.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asyncimg.conf import app_settings
from asyncimg.models import Upload, UploadStatus
from asyncimg.services import callbacks_pg
from asyncimg.services.callbacks import (
    CallbackPayload,
    CallbackRejected,
    Outcome,
    apply_callback,
    parse_payload,
    verify_signature,
)
from asyncimg.services.publish import apublish
from asyncimg.services.state import UploadState
from asyncimg.signals import upload_failed, upload_processed

logger = logging.getLogger("asyncimg.callback")

#: Runs the synchronous database work from async code (``sync_to_async`` or Channels'
#: ``database_sync_to_async``).
RunSync = Callable[[Callable[[CallbackPayload], Outcome], CallbackPayload], Awaitable[Outcome]]


def too_large(declared: int | None) -> bool:
    return declared is not None and declared > app_settings.CALLBACK_MAX_BODY_SIZE


def error_body(exc: CallbackRejected) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message}}


def method_not_allowed() -> CallbackRejected:
    """For anything but POST; answer it with ``Allow: POST``."""
    return CallbackRejected("Only POST is allowed.", code="METHOD_NOT_ALLOWED", http_status=405)


def body_too_large() -> CallbackRejected:
    limit = app_settings.CALLBACK_MAX_BODY_SIZE
    return CallbackRejected(
        f"Body larger than {limit} bytes.", code="BODY_TOO_LARGE", http_status=413
    )


def _apply(payload: CallbackPayload) -> Outcome:
    committed: list[UploadState] = []
    outcome = apply_callback(payload, on_commit=committed.append)
    outcome.published = committed
    return outcome


async def _send_signals(state: UploadState, image: Any) -> None:
    # Checked first: with no receiver (the usual case) there is nothing to run in a thread.
    if state.status == UploadStatus.READY and upload_processed.has_listeners(Upload):
        await upload_processed.asend(sender=Upload, state=state, image=image)
    elif state.status == UploadStatus.FAILED and upload_failed.has_listeners(Upload):
        await upload_failed.asend(sender=Upload, state=state)


async def handle_callback(
    body: bytes, timestamp: str | None, signature: str | None, run_sync: RunSync
) -> tuple[int, dict[str, Any]]:
    """Verify, validate and apply one callback; publish what committed. ``(status, JSON body)``."""
    try:
        if len(body) > app_settings.CALLBACK_MAX_BODY_SIZE:
            raise body_too_large()
        verify_signature(body, timestamp, signature)
        payload = parse_payload(body)
        if callbacks_pg.available():
            # PostgreSQL: one statement from the event loop, then the signals here.
            outcome, image = await callbacks_pg.apply_callback(payload)
            if outcome.applied:
                await _send_signals(outcome.state, image)
        else:
            # One thread hop for all the database work of the callback (signals included).
            outcome = await run_sync(_apply, payload)
    except CallbackRejected as exc:
        logger.warning("asyncimg: callback rejected: %s %s", exc.code, exc.message)
        return exc.http_status, error_body(exc)
    published = True
    for state in outcome.published:
        published = await apublish(state) and published
    return 200, {
        "status": "applied" if outcome.applied else "duplicate" if outcome.duplicate else "ignored",
        "uploadId": outcome.state.id,
        "uploadStatus": outcome.state.status,
        "version": outcome.state.version,
        "published": published,
    }
