"""Subscriptions: the current state first, then every newer version, pushed over Channels.
(Services are imported when called: see ``mutations.py``.)

The consumer joins the group *before* reading the database, so a change committed between the read
and the join cannot be lost; versions not newer than what was sent are dropped, so a change seen
both ways is sent once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from asyncimg.errors import ServiceUnavailable, ValidationError
from asyncimg.graphql.context import current_owner
from asyncimg.graphql.types import Upload
from asyncimg.services.owners import Owner
from asyncimg.services.publish import MESSAGE_TYPE, owner_group, upload_group
from asyncimg.services.state import UploadState

logger = logging.getLogger("asyncimg.graphql")

#: ids remembered per ``uploadEvents`` subscription to drop duplicate versions
_SEEN_LIMIT = 10_000


def _consumer(info: Info[Any, Any]) -> Any:
    context = info.context
    ws = context.get("ws") if isinstance(context, dict) else None
    if ws is None:
        raise ValidationError(
            "Subscriptions are served over the websocket at /graphql/ (graphql-transport-ws).",
            code="BAD_REQUEST",
        )
    return ws


@contextlib.asynccontextmanager
async def _listening(ws: Any, groups: Sequence[str]) -> AsyncIterator[Any]:
    """``listen_to_channel`` on ``groups``; a channel layer that cannot join them (its Redis
    down or restarting) is answered ``SERVICE_UNAVAILABLE``, so the client subscribes again later,
    instead of an unexpected error."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            messages = await stack.enter_async_context(
                ws.listen_to_channel(MESSAGE_TYPE, groups=groups)
            )
        except Exception as exc:  # whatever the layer raises: nothing was sent yet
            logger.warning("Subscription refused: the channel layer failed to join: %r", exc)
            raise ServiceUnavailable(
                "Live updates are unavailable for a moment; subscribe again shortly."
            ) from exc
        yield messages


def _owned_state(info: Info[Any, Any], pk: str) -> UploadState:
    from asyncimg.services.uploads import get_upload

    return get_upload(current_owner(info), pk)


# Named as in the contract when used as is; a subclass takes its own name.
@strawberry.type(name="Subscription")
class AsyncImageSubscription:
    @strawberry.subscription(
        description="The upload's current state, then every change; completes after READY, "
        "FAILED or EXPIRED."
    )
    def image_processed(
        self, info: Info[Any, Any], upload_id: strawberry.ID
    ) -> AsyncGenerator[Upload, None]:
        # A plain function returning the generator: over HTTP, BAD_REQUEST is raised here, as
        # the field's error, instead of an async generator that HTTP execution cannot iterate.
        ws = _consumer(info)
        from asyncimg.services.uploads import parse_upload_id

        return _image_processed(ws, info, str(parse_upload_id(upload_id)))

    @strawberry.subscription(description="Every change to any of your uploads.")
    def upload_events(self, info: Info[Any, Any]) -> AsyncGenerator[Upload, None]:
        return _upload_events(_consumer(info), info)


async def _image_processed(ws: Any, info: Info[Any, Any], pk: str) -> AsyncGenerator[Upload, None]:
    async with _listening(ws, [upload_group(pk)]) as messages:
        # Joined first, read second: nothing committed in between can be missed. Somebody
        # else's upload raises NOT_FOUND here, before anything is sent.
        state = await sync_to_async(_owned_state)(info, pk)
        yield Upload.from_state(state)
        if state.is_terminal:
            return
        last = state.version
        async for message in messages:
            data = message["upload"]
            # The consumer's queue gets every upload message of the connection.
            if data["id"] != pk or data["version"] <= last:
                continue
            state = UploadState.from_message(data)
            last = state.version
            yield Upload.from_state(state)
            if state.is_terminal:
                return


async def _upload_events(ws: Any, info: Info[Any, Any]) -> AsyncGenerator[Upload, None]:
    owner: Owner = await sync_to_async(current_owner)(info)
    seen: dict[str, int] = {}
    async with _listening(ws, [owner_group(owner.group_key)]) as messages:
        async for message in messages:
            data = message["upload"]
            if data["owner_key"] != owner.group_key or data["version"] <= seen.get(data["id"], 0):
                continue
            if len(seen) >= _SEEN_LIMIT:
                seen.clear()
            seen[data["id"]] = data["version"]
            yield Upload.from_state(UploadState.from_message(data))
