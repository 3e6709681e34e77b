from __future__ import annotations

from datetime import timedelta
from typing import Any

from strawberry.channels import GraphQLWSConsumer
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from asyncimg.conf import app_settings
from graphql_schema.schema import schema


def graphql_ws_consumer() -> Any:
    """The websocket consumer of ``/graphql/``: ``graphql-transport-ws`` only (the legacy
    ``graphql-ws`` protocol is refused at the handshake), server keep-alive pings, a deadline for
    ``connection_init`` and a cap on concurrent subscriptions per connection."""
    return GraphQLWSConsumer.as_asgi(
        schema=schema,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        keep_alive=True,
        keep_alive_interval=app_settings.KEEPALIVE_INTERVAL,
        connection_init_wait_timeout=timedelta(seconds=app_settings.CONNECTION_INIT_TIMEOUT),
        max_subscriptions_per_connection=app_settings.MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
