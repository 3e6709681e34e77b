"""HTTP endpoints of the app: the processor callback."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from asyncimg.services.callback_endpoint import (
    body_too_large,
    error_body,
    handle_callback,
    method_not_allowed,
    too_large,
)
from asyncimg.services.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER


async def _run_sync(func: Any, payload: Any) -> Any:
    return await sync_to_async(func)(payload)


# Authenticated by HMAC, not by cookies: CSRF does not apply.
@csrf_exempt
async def callback(request: HttpRequest) -> JsonResponse:
    """``POST /async_image/callback/`` from the processor. See ARCHITECTURE.md for the contract."""
    if request.method != "POST":
        # The same JSON error as the ASGI endpoint (consumers/callback.py), not an empty 405.
        exc = method_not_allowed()
        response = JsonResponse(error_body(exc), status=exc.http_status)
        response["Allow"] = "POST"
        return response
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if too_large(declared):
        exc = body_too_large()
        return JsonResponse(error_body(exc), status=exc.http_status)
    status, body = await handle_callback(
        request.body,
        request.headers.get(TIMESTAMP_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        _run_sync,
    )
    return JsonResponse(body, status=status)
