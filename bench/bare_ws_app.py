"""The baseline of ``bench/subscriptions.py``: the barest websocket application uvicorn serves.

It accepts every websocket, answers each text frame with the same frame and holds the connection
until the client leaves: no framework, no channel layer, no database. What one such connection
costs the server (memory, the handshake) is what any websocket costs there; the product's
subscriptions are measured against it in the same run.
"""

from __future__ import annotations

from typing import Any


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept", "subprotocol": "graphql-transport-ws"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
