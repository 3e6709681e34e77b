"""The ASGI application for a project serving our GraphQL schema: HTTP through Django's own
``ASGIHandler``, the ``/graphql/`` websocket through the authenticated ``graphql-transport-ws``
consumer for that schema (which checks the page's ``Origin``: see
:class:`asyncimg.graphql.consumers.GraphQLConsumer`).

A project that routes websockets itself uses :func:`websocket_urlpatterns` instead::

    application = ProtocolTypeRouter({
        "http": get_asgi_application(),
        "websocket": AuthMiddlewareStack(URLRouter(
            websocket_urlpatterns(schema) + my_websocket_urlpatterns)),
    })
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strawberry import Schema


def websocket_urlpatterns(schema: Schema, *, path: str = "graphql/") -> list[Any]:
    """URL patterns routing the GraphQL websocket at ``path`` to the consumer built for
    ``schema``. Put them inside ``channels.auth.AuthMiddlewareStack`` (session users)."""
    from django.urls import path as route

    from asyncimg.graphql.consumers import graphql_ws_consumer

    return [route(path, graphql_ws_consumer(schema))]


def build_application(*, schema: Schema, path: str = "graphql/") -> Any:
    """The whole ASGI application: ``http`` → Django, ``websocket`` ``/graphql/`` → GraphQL.

    Call it from the project's ``asgi.py`` after ``DJANGO_SETTINGS_MODULE`` is set; it sets Django
    up (as ``get_asgi_application()`` does) before anything imports models.
    """
    from django.core.asgi import get_asgi_application

    django_app = get_asgi_application()

    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter

    websocket = AuthMiddlewareStack(URLRouter(websocket_urlpatterns(schema, path=path)))
    return ProtocolTypeRouter({"http": django_app, "websocket": websocket})
