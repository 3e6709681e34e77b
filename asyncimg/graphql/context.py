"""Who is asking: the owner of a GraphQL operation over HTTP or over the websocket."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from asyncimg.services.owners import Owner, owner_of


def current_owner(info: Info[Any, Any], *, create_session: bool = False) -> Owner:
    """The owner behind ``info``: ``request.user``/``request.session`` over HTTP, the consumer's
    ``scope`` (set by ``AuthMiddlewareStack``) over the websocket. The client address is the one
    the ASGI server reports (behind a proxy, run uvicorn with ``--proxy-headers`` and
    ``--forwarded-allow-ips`` so that it is the client's, not the proxy's)."""
    context = info.context
    request = context.get("request") if isinstance(context, dict) else context.request
    scope = getattr(request, "scope", None)
    if scope is not None and "user" in scope:
        client = scope.get("client") or (None,)
        return owner_of(
            scope.get("user"),
            scope.get("session"),
            create_session=create_session,
            client_ip=client[0],
        )
    return owner_of(
        getattr(request, "user", None),
        getattr(request, "session", None),
        create_session=create_session,
        client_ip=getattr(request, "META", {}).get("REMOTE_ADDR"),
    )
