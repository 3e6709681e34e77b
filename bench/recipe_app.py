"""The peer of ``bench/push_latency.py``: what a team builds from the Strawberry and Channels docs
instead of adopting this project — on the same tables (``asyncimg``'s ``Upload`` and
``ProcessedImage`` stand in for the team's own models), the same sessions and the same callback
bodies.

* the callback: a plain synchronous Django view that checks the processor's HMAC signature,
  loads the upload with the ORM, sets its status (on ``succeeded`` it first creates the image
  row), ``save()``s it and calls ``async_to_sync(channel_layer.group_send)`` — the pattern of the
  Channels tutorial;
* the subscription: a Strawberry ``@strawberry.subscription`` served by Strawberry's stock
  ``GraphQLWSConsumer``, which joins the upload's group with ``listen_to_channel`` (first, so no
  message is lost), yields the current state read with the ORM, then one state per message, and
  ends after a terminal state;
* the channel layer the Channels docs configure, ``RedisChannelLayer`` (``recipe_settings``).

Deliberately nothing clever, but nothing careless either: the owner is checked, the signature is
verified in constant time, and the message carries the new status so the subscription needs no
second query (cheaper than re-reading the row, which favours the recipe).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import time
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from strawberry.types import Info

from asyncimg.models import ProcessedImage, Upload

EVENT_STATUS = {"processing": "PROCESSING", "succeeded": "READY", "failed": "FAILED"}
TERMINAL = {"READY", "FAILED", "EXPIRED"}


@strawberry.enum
class UploadStatus(enum.Enum):
    PENDING = "PENDING"
    UPLOADED = "UPLOADED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


@strawberry.type
class UploadType:
    id: strawberry.ID
    status: UploadStatus
    filename: str


@strawberry.type
class Query:
    hello: str = "world"


def group_name(upload_id: str) -> str:
    return f"upload_{upload_id}"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def image_processed(
        self, info: Info, upload_id: strawberry.ID
    ) -> AsyncGenerator[UploadType, None]:
        ws = info.context["ws"]
        user = ws.scope["user"]
        async with ws.listen_to_channel("upload.changed", groups=[group_name(upload_id)]) as cm:
            upload = await Upload.objects.aget(pk=upload_id, owner_id=user.pk)
            yield UploadType(
                id=strawberry.ID(str(upload.pk)),
                status=UploadStatus(upload.status),
                filename=upload.filename,
            )
            if upload.status in TERMINAL:
                return
            async for message in cm:
                yield UploadType(
                    id=strawberry.ID(str(upload.pk)),
                    status=UploadStatus(message["status"]),
                    filename=upload.filename,
                )
                if message["status"] in TERMINAL:
                    return


schema = strawberry.Schema(query=Query, subscription=Subscription)


def _signed(request: HttpRequest) -> bool:
    timestamp = request.headers.get("X-Asyncimg-Timestamp", "")
    signature = request.headers.get("X-Asyncimg-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    for secret in settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS:
        mac = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
        if hmac.compare_digest(signature, "v1=" + mac.hexdigest()):
            return True
    return False


@csrf_exempt
@require_POST
def callback(request: HttpRequest) -> HttpResponse:
    if not _signed(request):
        return JsonResponse({"error": "bad signature"}, status=401)
    payload: dict[str, Any] = json.loads(request.body)
    status = EVENT_STATUS[payload["event"]]
    upload = Upload.objects.get(pk=payload["uploadId"])
    if upload.status in TERMINAL:
        return JsonResponse({"status": "ignored", "uploadStatus": upload.status})
    if payload["event"] == "succeeded":
        image = payload["image"]
        upload.image = ProcessedImage.objects.create(
            key=image["key"],
            width=image["width"],
            height=image["height"],
            format=image["format"],
            size=image["size"],
            variants=image["variants"],
            metadata=image["metadata"],
        )
    upload.status = status
    upload.save()
    async_to_sync(get_channel_layer().group_send)(
        group_name(str(upload.pk)), {"type": "upload.changed", "status": status}
    )
    return JsonResponse({"status": "applied", "uploadStatus": status})


urlpatterns = [path("async_image/callback/", callback)]
