"""Fan-out of upload changes to subscribers over the Channels layer.

Two groups per change: the upload's own (``imageProcessed``) and its owner's (``uploadEvents``).
Publishing never breaks the caller: the state is already committed, and a client that reconnects
reads it first (see docs/realtime.md).
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from asyncimg import metrics, tracing
from asyncimg.services.state import UploadState

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "asyncimg.upload"


def upload_group(upload_id: str) -> str:
    return f"asyncimg.upload.{upload_id}"


def owner_group(owner_key: str) -> str:
    return f"asyncimg.owner.{owner_key}"


async def apublish(state: UploadState) -> bool:
    """Send ``state`` to both groups; False (logged) when the channel layer is unreachable."""
    layer = get_channel_layer()
    if layer is None:
        return False
    message = {"type": MESSAGE_TYPE, "upload": state.to_message()}
    try:
        with tracing.span(
            "asyncimg.push",
            state.id,
            attributes={"asyncimg.status": state.status, "asyncimg.version": state.version},
        ):
            await layer.group_send(upload_group(state.id), message)
            await layer.group_send(owner_group(state.owner_key), message)
    except Exception:
        logger.exception("asyncimg: could not publish upload %s v%s", state.id, state.version)
        metrics.push(published=False)
        return False
    metrics.push(published=True)
    return True


def publish(state: UploadState) -> bool:
    """Synchronous :func:`apublish`, for ``transaction.on_commit`` in sync code."""
    return bool(async_to_sync(apublish)(state))
