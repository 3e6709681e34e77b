"""Resolvers that run their ORM work where they are: in Django's thread, or off the event loop.

The same schema serves two executions. Over HTTP the view is synchronous (``views.py``): strawberry
executes the operation in Django's request thread, and a resolver simply calls the ORM. Over the
websocket the consumer executes operations on the event loop, where the ORM must not run: there a
resolver returns an awaitable of the same call in a worker thread (``sync_to_async``), which
graphql-core awaits like the result of an ``async def`` resolver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from asgiref.sync import sync_to_async

P = ParamSpec("P")
T = TypeVar("T")


def orm(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``func(*args, **kwargs)``, or on an event loop an awaitable of it run in a thread.

    Typed as ``T`` because that is what GraphQL sees: graphql-core awaits the awaitable before
    completing the field, so the schema's type is the function's.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return func(*args, **kwargs)
    awaitable: Any = sync_to_async(func)(*args, **kwargs)
    return cast(T, awaitable)
