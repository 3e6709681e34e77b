from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application
from django.urls import path, re_path


def build_application() -> Any:
    """HTTP → Django, except the processor callback, which needs none of Django's middleware;
    websocket ``/graphql/`` → session-authenticated GraphQL consumer whose ``Origin`` must match
    ``ALLOWED_HOSTS`` (browsers send cookies cross-site on websockets)."""
    django_app = get_asgi_application()  # sets up Django before the consumer imports models

    from consumers.callback import CallbackConsumer
    from consumers.graphql import graphql_ws_consumer

    http = URLRouter(
        [
            path("async_image/callback/", CallbackConsumer.as_asgi()),
            # Channels routes to any ASGI application; django-stubs expects a view here.
            re_path(r"", django_app),  # type: ignore[arg-type]
        ]
    )
    websocket = AllowedHostsOriginValidator(
        AuthMiddlewareStack(URLRouter([path("graphql/", graphql_ws_consumer())]))
    )
    return ProtocolTypeRouter({"http": http, "websocket": websocket})
