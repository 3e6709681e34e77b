"""The ASGI application for a project serving our GraphQL schema: HTTP through Django's own
``ASGIHandler``, the ``/graphql/`` websocket through the authenticated ``graphql-transport-ws``
consumer for that schema.

A project that routes websockets itself uses :func:`websocket_urlpatterns` instead::

    application = ProtocolTypeRouter({
        "http": get_asgi_application(),
        "websocket": WebsocketOriginValidator(AuthMiddlewareStack(URLRouter(
            websocket_urlpatterns(schema) + my_websocket_urlpatterns))),
    })
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier

if TYPE_CHECKING:
    from strawberry import Schema


def websocket_urlpatterns(schema: Schema, *, path: str = "graphql/") -> list[Any]:
    """URL patterns routing the GraphQL websocket at ``path`` to the consumer built for ``schema``.

    Put them inside ``AuthMiddlewareStack`` (session users) and :class:`WebsocketOriginValidator`.
    """
    from django.urls import path as route

    from asyncimg.graphql.consumers import graphql_ws_consumer

    return [route(path, graphql_ws_consumer(schema))]


class WebsocketOriginValidator:
    """Accepts a websocket only from ``ASYNC_IMAGE_UPLOAD_WEBSOCKET_ALLOWED_ORIGINS``; by default
    from the page's own host (the ``Origin`` matches the ``Host`` header) and
    ``CSRF_TRUSTED_ORIGINS``. A socket without ``Origin`` (not a browser) is let through: the
    origin check protects browsers' cookies, and other clients authenticate with a token.

    Read on every connection, so ``override_settings`` works.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers", []))
            origin = headers.get(b"origin")
            if origin is not None and not self.allowed(
                origin.decode("latin1"), headers.get(b"host", b"").decode("latin1")
            ):
                return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)

    @staticmethod
    def allowed(origin: str, host: str) -> bool:
        from django.conf import settings

        from asyncimg.conf import app_settings

        origin = origin.rstrip("/").lower()
        configured = app_settings.WEBSOCKET_ALLOWED_ORIGINS
        if configured is not None:
            return "*" in configured or origin in {o.lower() for o in configured}
        trusted = {o.rstrip("/").lower() for o in getattr(settings, "CSRF_TRUSTED_ORIGINS", [])}
        if origin in trusted:
            return True
        parts = urlsplit(origin)
        return bool(host) and parts.scheme in {"http", "https"} and parts.netloc == host.lower()


def build_application(*, schema: Schema, path: str = "graphql/") -> Any:
    """The whole ASGI application: ``http`` → Django, ``websocket`` ``/graphql/`` → GraphQL.

    Call it from the project's ``asgi.py`` after ``DJANGO_SETTINGS_MODULE`` is set; it sets Django
    up (as ``get_asgi_application()`` does) before anything imports models.
    """
    from django.core.asgi import get_asgi_application

    django_app = get_asgi_application()

    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter

    websocket = WebsocketOriginValidator(
        AuthMiddlewareStack(URLRouter(websocket_urlpatterns(schema, path=path)))
    )
    return ProtocolTypeRouter({"http": django_app, "websocket": websocket})
