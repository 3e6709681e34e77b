"""The transport floor of ``bench/push_latency.py``: the push's hops with nothing else in them.

An ASGI application with no Django, no database and no GraphQL, served by the same uvicorn on the
same Redis as the project: ``POST /publish/<group>`` sends its body to ``<group>`` through the
same channel layer (``RedisPubSubChannelLayer``, one PUBLISH) and answers 200; a websocket on
``/ws/<group>`` joins ``<group>`` and writes every message it receives as a text frame. The
benchmark drives it like the project (signed-callback-sized bodies, same rate, a random one of two
servers), so the difference between the two is what the product itself adds to a push.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer

layer = RedisPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])


async def _body(receive: Any) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    group = scope.get("path", "").rsplit("/", 1)[-1]
    if scope["type"] == "http":
        body = await _body(receive)
        await layer.group_send(group, {"type": "push", "text": body.decode()})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await send({"type": "websocket.accept"})

        async def pump() -> None:
            while True:
                message = await layer.receive(channel)
                await send({"type": "websocket.send", "text": message["text"]})

        task = asyncio.create_task(pump())
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await layer.group_discard(group, channel)
