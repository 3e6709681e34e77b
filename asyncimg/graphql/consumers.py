from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from strawberry.channels import GraphQLWSConsumer
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from asyncimg.conf import app_settings


class KeepAliveTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """``graphql-transport-ws`` with server ``ping`` messages on idle connections.

    strawberry only sends keep-alives on the legacy ``graphql-ws`` protocol, which we refuse.
    Proxies and load balancers close websockets that stay silent (often after 60 s); a ping every
    ``ASYNC_IMAGE_UPLOAD_KEEPALIVE_INTERVAL`` seconds keeps a subscription waiting for a slow
    processor open, and the client's ``pong`` shows the peer is alive.
    """

    keepalive_task: asyncio.Task[None] | None = None

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


class GraphQLConsumer(GraphQLWSConsumer):
    graphql_transport_ws_handler_class = KeepAliveTransportWSHandler


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
