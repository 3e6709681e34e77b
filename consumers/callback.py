"""``POST /async_image/callback/`` served ahead of Django's middleware; same contract as
``asyncimg.views.callback`` (why: ``asyncimg/services/callback_endpoint.py``)."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer

from asyncimg.services.callback_endpoint import (
    body_too_large,
    error_body,
    handle_callback,
    too_large,
)
from asyncimg.services.callbacks import CallbackRejected

JSON = [(b"content-type", b"application/json")]


async def _run_sync(func: Any, payload: Any) -> Any:
    # Pooled threads, connections closed (returned to the pool) around the work as in a request.
    return await database_sync_to_async(func, thread_sensitive=False)(payload)


class CallbackConsumer(AsyncHttpConsumer):
    # No channel of its own: Channels would otherwise create one per request (with the Redis
    # pub/sub layer, a SUBSCRIBE and UNSUBSCRIBE round trip per callback, and a 500 while Redis is
    # down). An alias that names no configured layer gives the consumer none; publishing still
    # goes through the default layer (asyncimg.services.publish).
    channel_layer_alias = "asyncimg-callback-needs-no-layer"

    async def send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        headers = [*JSON, (b"content-length", str(len(data)).encode())]
        await self.send_response(status, data, headers=headers)

    async def reject(self, exc: CallbackRejected) -> None:
        await self.send_json(exc.http_status, error_body(exc))
        raise StopConsumer

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key.lower() == name:
                return str(value.decode("latin1"))
        return None

    async def http_request(self, message: dict[str, Any]) -> None:
        # Enforce the size limit while the body arrives, not after buffering all of it.
        if self.scope["method"] != "POST":
            exc = CallbackRejected("Only POST is allowed.", code="METHOD_NOT_ALLOWED")
            exc.http_status = 405
            await self.reject(exc)
        declared = self.header(b"content-length")
        if too_large(int(declared) if declared and declared.isdigit() else None):
            await self.reject(body_too_large())
        received = getattr(self, "body", [])
        if too_large(sum(len(chunk) for chunk in received) + len(message.get("body", b""))):
            await self.reject(body_too_large())
        await super().http_request(message)

    async def handle(self, body: bytes) -> None:
        status, payload = await handle_callback(
            body,
            self.header(b"x-asyncimg-timestamp"),
            self.header(b"x-asyncimg-signature"),
            _run_sync,
        )
        await self.send_json(status, payload)
