"""GraphQL building blocks for a project's own Strawberry schema.

::

    @strawberry.type
    class Query(AsyncImageQuery):
        hello: str = "world"

    schema = strawberry.Schema(query=Query, mutation=AsyncImageMutation,
                               subscription=AsyncImageSubscription, extensions=extensions())

Inherit from the three types (or ``strawberry.tools.merge_types`` them with the project's own),
serve the schema with :class:`asyncimg.graphql.views.GraphQLView` over HTTP and
:func:`asyncimg.asgi.build_application` over the websocket. Importable before Django is set up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncimg.graphql.mutations import AsyncImageMutation
from asyncimg.graphql.queries import AsyncImageQuery
from asyncimg.graphql.subscriptions import AsyncImageSubscription

__all__ = ["AsyncImageMutation", "AsyncImageQuery", "AsyncImageSubscription", "extensions"]


def extensions(*, max_tokens: int = 2000) -> list[Callable[[], Any] | type]:
    """The schema extensions the app's contract relies on, in order: stable ``extensions.code``
    on every error (first, so that it sees every error, parse errors included), a token limit, a
    parse cache, and the document limits with cached validation (see
    :mod:`asyncimg.graphql.limits`). Add the project's own after them, and no second validation
    cache."""
    from strawberry.extensions import MaxTokensLimiter

    from asyncimg.graphql.errors import ErrorCodes
    from asyncimg.graphql.limits import document_limits, parse_cache
    from asyncimg.graphql.roots import RootValue

    return [
        ErrorCodes,
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        # Clients send the same few operations again and again: parse and validate each once.
        # Over the websocket both run in a thread, off the event loop the whole process shares.
        parse_cache,
        document_limits,
        # Plain fields with defaults on the project's root types (`hello: str = "world"`).
        RootValue,
    ]
