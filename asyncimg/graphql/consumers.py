from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, cast

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.websocket_origin import normalize_allowed_origins, normalize_origin
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
)

from asyncimg import metrics
from asyncimg.auth import authenticate_token, bearer_token
from asyncimg.conf import app_settings
from asyncimg.errors import Unauthenticated

#: RFC 6455's close code for a message larger than the endpoint accepts
WS_MESSAGE_TOO_BIG = 1009


class KeepAliveTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """``graphql-transport-ws`` with server ``ping`` messages on idle connections.

    strawberry only sends keep-alives on the legacy ``graphql-ws`` protocol, which we refuse.
    Proxies and load balancers close websockets that stay silent (often after 60 s); a ping every
    ``ASYNC_IMAGE_UPLOAD_KEEPALIVE_INTERVAL`` seconds keeps a subscription waiting for a slow
    processor open, and the client's ``pong`` shows the peer is alive.
    """

    keepalive_task: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        # Runs exactly while an accepted graphql-transport-ws connection is open.
        metrics.websocket_connections(1)
        try:
            await super().handle()
        finally:
            metrics.websocket_connections(-1)

    async def run_operation(self, operation: Any) -> None:
        # One task per operation, from subscribe to its end (complete, error or disconnect).
        metrics.subscriptions(1)
        try:
            await super().run_operation(operation)
        finally:
            metrics.subscriptions(-1)

    async def handle_message(self, message: Any) -> None:
        # strawberry indexes frames as dicts and uses ``id`` as a dict key: a JSON array, or an
        # object ``id``, raised inside its handler and left the socket open and deaf. Refused
        # here the way the protocol says: close 4400.
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("type"), str)
            or not isinstance(message.get("id", ""), str)
            or (message["type"] == "subscribe" and not _valid_subscribe_payload(message))
        ):
            await self.handle_invalid_message("Failed to parse message")
            return
        await super().handle_message(cast(Message, message))

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.keepalive_task is None:
            self.keepalive_task = asyncio.create_task(self._keepalive())

    async def _keepalive(self) -> None:
        interval = app_settings.KEEPALIVE_INTERVAL
        with contextlib.suppress(Exception):  # the connection is gone: nothing left to keep
            while True:
                await asyncio.sleep(interval)
                await self.send_message({"type": "ping"})

    async def shutdown(self) -> None:
        if self.keepalive_task is not None:
            self.keepalive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.keepalive_task
        await super().shutdown()


def _valid_subscribe_payload(message: dict[str, Any]) -> bool:
    payload = message.get("payload")
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables") or {}, dict)
        and isinstance(payload.get("operationName") or "", str)
        and isinstance(payload.get("extensions") or {}, dict)
    )


class GraphQLConsumer(GraphQLWSConsumer):
    """strawberry's Channels consumer with our limits, keep-alives and authentication.

    - **Session cookie** (same-site browsers): the user ``AuthMiddlewareStack`` found, provided
      the page's ``Origin`` is the server's own or allowed: ``ASYNC_IMAGE_UPLOAD_WEBSOCKET_ALLOWED_
      ORIGINS`` (default: ``CSRF_TRUSTED_ORIGINS``), read on every connection and independent of
      ``ALLOWED_HOSTS`` — browsers send cookies on cross-site websockets, so this is the
      websocket's CSRF protection. A socket without ``Origin`` is not a browser's.
    - **Bearer token** (mobile apps, SPAs on any origin): ``connection_init`` payload
      ``{"authorization": "Bearer <token>"}``, checked by
      ``ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR``; a bad token closes the socket with 4403, and so
      does the token's expiry when the authenticator tells it. A token carries no ambient
      credential: any origin may use one.
    - A page on another origin without a token has its cookies ignored and is closed with 4403
      at ``connection_init``.
    """

    graphql_transport_ws_handler_class = KeepAliveTransportWSHandler
    foreign_origin = False
    expiry_task: asyncio.Task[None] | None = None

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        configured = app_settings.WEBSOCKET_ALLOWED_ORIGINS
        if configured is None:
            configured = tuple(getattr(settings, "CSRF_TRUSTED_ORIGINS", ()))
        normalized = normalize_origin(origin)
        allowed = "*" in configured or (
            normalized is not None and normalized in normalize_allowed_origins(configured)
        )
        if not allowed:
            # Accepted, so that a token may still authenticate it; the cookies never will.
            self.foreign_origin = True
            self.scope["user"] = AnonymousUser()
            self.scope["session"] = None
        return True

    async def on_ws_connect(self, context: Any) -> Any:
        params = context.get("connection_params") if isinstance(context, dict) else None
        header = params.get("authorization") if isinstance(params, dict) else None
        if header is None:
            if self.foreign_origin:
                raise ConnectionRejectionError
            return await super().on_ws_connect(context)
        try:
            token = bearer_token(header if isinstance(header, str) else "") or ""
            found = await database_sync_to_async(authenticate_token)(token)
        except Unauthenticated:
            raise ConnectionRejectionError from None
        self.scope["user"] = found.user
        self.scope["session"] = None
        if found.expires_at is not None:
            delay = (found.expires_at - timezone.now()).total_seconds()
            self.expiry_task = asyncio.create_task(self._close_at_expiry(delay))
        return await super().on_ws_connect(context)

    async def _close_at_expiry(self, delay: float) -> None:
        await asyncio.sleep(max(delay, 0))
        await self.close(code=4403, reason="Token expired")

    async def disconnect(self, code: int) -> None:
        if self.expiry_task is not None:
            self.expiry_task.cancel()
        await super().disconnect(code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Checked before strawberry decodes the JSON. The ASGI server's own limit (uvicorn's
        # --ws-max-size, 16 MiB by default) bounds what reaches this far: set it to match.
        size = len(text_data) if text_data is not None else len(bytes_data or b"")
        if size > app_settings.GRAPHQL_MAX_BYTES:
            await self.close(code=WS_MESSAGE_TOO_BIG)
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data)


def graphql_ws_consumer(schema: BaseSchema) -> Any:
    """The websocket consumer of ``/graphql/``: ``graphql-transport-ws`` only (a client asking for
    the legacy ``graphql-ws``, or for no subprotocol, is not given one and the connection is closed
    at once with code 4406), server keep-alive pings, a deadline for ``connection_init`` and a cap
    on concurrent subscriptions per connection."""
    return GraphQLConsumer.as_asgi(
        schema=schema,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=app_settings.CONNECTION_INIT_TIMEOUT),
        max_subscriptions_per_connection=app_settings.MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
