"""``POST /async_image/callback/`` as a plain ASGI application served ahead of Django.

Same contract as ``asyncimg.views.callback`` (why a second way in:
``asyncimg/services/callback_endpoint.py``). It is a bare ASGI callable rather than a Channels
consumer: a consumer costs a dispatch task and a channel-layer lookup per request, and the callback
needs none of it (it publishes through the default layer in ``asyncimg.services.publish``).
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async

from asyncimg.services.callback_endpoint import (
    body_too_large,
    error_body,
    handle_callback,
    method_not_allowed,
    too_large,
)

Scope = dict[str, Any]


async def _run_sync(func: Any, payload: Any) -> Any:
    # Pooled threads, connections closed (returned to the pool) around the work as in a request.
    return await database_sync_to_async(func, thread_sensitive=False)(payload)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin1"))
    return None


async def _respond(
    send: Any, status: int, body: dict[str, Any], *extra: tuple[bytes, bytes]
) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def callback_app(scope: Scope, receive: Any, send: Any) -> None:
    """The processor's callback: size limits enforced while the body arrives, then
    :func:`~asyncimg.services.callback_endpoint.handle_callback`."""
    if scope["method"] != "POST":
        exc = method_not_allowed()
        await _respond(send, exc.http_status, error_body(exc), (b"allow", b"POST"))
        return
    declared = _header(scope, b"content-length")
    if too_large(int(declared) if declared and declared.isdigit() else None):
        exc = body_too_large()
        await _respond(send, exc.http_status, error_body(exc))
        return
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        received += len(chunk)
        if too_large(received):
            exc = body_too_large()
            await _respond(send, exc.http_status, error_body(exc))
            return
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    status, payload = await handle_callback(
        b"".join(chunks),
        _header(scope, b"x-asyncimg-timestamp"),
        _header(scope, b"x-asyncimg-signature"),
        _run_sync,
    )
    await _respond(send, status, payload)
