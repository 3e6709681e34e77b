"""ASGI entry point of the recipe server (``uvicorn bench.recipe_asgi:application``), written as
the Channels docs write ``asgi.py``: Django's ``get_asgi_application()`` first, then the
websocket route inside ``AllowedHostsOriginValidator(AuthMiddlewareStack(...))``."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.recipe_settings")

from django.core.asgi import get_asgi_application

django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402
from strawberry.channels import GraphQLWSConsumer  # noqa: E402

from bench.recipe_app import schema  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter([path("graphql/", GraphQLWSConsumer.as_asgi(schema=schema))])
            )
        ),
    }
)
