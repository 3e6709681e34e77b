"""The bundled service's schema: the app's fields, composed exactly as a project composes them.

A project with its own Strawberry API puts its fields beside ours the same way (README, "Use it
in your project")::

    @strawberry.type
    class Query(AsyncImageQuery):
        hello: str = "world"
"""

from __future__ import annotations

import strawberry

from asyncimg.graphql import (
    AsyncImageMutation,
    AsyncImageQuery,
    AsyncImageSubscription,
    extensions,
)

schema = strawberry.Schema(
    query=AsyncImageQuery,
    mutation=AsyncImageMutation,
    subscription=AsyncImageSubscription,
    extensions=extensions(),
)
