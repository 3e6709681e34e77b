from __future__ import annotations

from typing import Any

import django
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

CALLBACK_PATH = "/async_image/callback/"


def build_application(*, django_asgi_handler: bool = False) -> Any:
    """HTTP → Django, except the processor callback, which needs none of Django's middleware;
    websocket ``/graphql/`` → session-authenticated GraphQL consumer whose ``Origin`` must match
    ``ALLOWED_HOSTS`` (browsers send cookies cross-site on websockets).

    Django's requests run each in one worker thread, as under WSGI (``consumers/django_http.py``).
    A project whose own views are async and long-running (each would hold a worker thread while
    it runs) passes ``django_asgi_handler=True`` to get Django's own ``ASGIHandler`` instead.
    """
    django.setup(set_prefix=False)  # before the consumers import models

    from django.core.handlers.asgi import ASGIHandler

    from consumers.django_http import OneThreadHandler

    django_app = ASGIHandler() if django_asgi_handler else OneThreadHandler()

    from consumers.callback import callback_app
    from consumers.graphql import graphql_ws_consumer

    async def http(scope: dict[str, Any], receive: Any, send: Any) -> None:
        # One exact path, compared as Django would see it (below any mount point).
        local_path = scope["path"].removeprefix(scope.get("root_path", ""))
        app = callback_app if local_path == CALLBACK_PATH else django_app
        await app(scope, receive, send)

    websocket = AllowedHostsOriginValidator(
        AuthMiddlewareStack(URLRouter([path("graphql/", graphql_ws_consumer())]))
    )
    return ProtocolTypeRouter({"http": http, "websocket": websocket})
