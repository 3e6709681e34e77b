"""The processor → Django callback: signature, payload and application to the state machine.

Contract (ARCHITECTURE.md): ``X-Asyncimg-Timestamp: <unix seconds>`` and
``X-Asyncimg-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>``; body
``{"uploadId", "event": "processing"|"succeeded"|"failed", "eventId", "image"?, "error"?}``.
Delivery is at-least-once: a duplicate ``eventId`` and a late event both change nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from django.apps import apps
from django.db import IntegrityError, router, transaction

from asyncimg import logs, metrics
from asyncimg.conf import app_settings
from asyncimg.errors import AsyncImgError
from asyncimg.models import (
    AbstractProcessedImage,
    CallbackEvent,
    ModerationStatus,
    Upload,
    UploadStatus,
)
from asyncimg.services import analysis
from asyncimg.services.state import UploadState
from asyncimg.services.transitions import transition
from asyncimg.signals import upload_failed, upload_processed

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Asyncimg-Signature"
TIMESTAMP_HEADER = "X-Asyncimg-Timestamp"
EVENTS = ("processing", "succeeded", "failed")
FORMATS = frozenset({"jpeg", "png", "webp", "gif", "avif", "heic", "heif"})
MAX_DIMENSION = 1_000_000
MAX_VARIANTS = 64


class CallbackRejected(AsyncImgError):
    """A callback that is refused as a whole (4xx); nothing was changed."""

    def __init__(self, message: str, *, code: str, http_status: int = 400) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Asyncimg-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify_signature(
    body: bytes, timestamp: str | None, signature: str | None, *, now: float | None = None
) -> None:
    """Accept ``body`` only if signed by one configured secret inside the replay window."""
    secrets = app_settings.CALLBACK_SECRETS
    if not secrets:
        raise CallbackRejected(
            "Callbacks are not configured (ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS).",
            code="NOT_CONFIGURED",
            http_status=503,
        )
    if not timestamp or not signature:
        raise CallbackRejected(
            f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required.",
            code="MISSING_SIGNATURE",
            http_status=401,
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise CallbackRejected(
            f"{TIMESTAMP_HEADER} must be a Unix time in seconds.",
            code="BAD_TIMESTAMP",
            http_status=401,
        )
    skew = abs((time.time() if now is None else now) - int(timestamp))
    if skew > app_settings.CALLBACK_REPLAY_WINDOW:
        raise CallbackRejected(
            f"{TIMESTAMP_HEADER} is {int(skew)} s away from the server's clock; the limit is "
            f"{app_settings.CALLBACK_REPLAY_WINDOW} s. Check the clocks (NTP) or this is a replay.",
            code="STALE_TIMESTAMP",
            http_status=401,
        )
    offered = [part.strip() for part in signature.split(",") if part.strip().startswith("v1=")]
    # Compare against every secret and every offered signature without stopping early, so the
    # time taken says nothing about which comparison came close.
    matched = False
    for secret in secrets:
        expected = sign(secret, timestamp, body)
        for candidate in offered[:4]:
            matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise CallbackRejected("Bad signature.", code="BAD_SIGNATURE", http_status=401)


@dataclass(frozen=True)
class ImagePayload:
    key: str
    width: int
    height: int
    format: str
    size: int
    variants: list[dict[str, Any]]
    metadata: dict[str, Any]

    def model_fields(self) -> dict[str, Any]:
        """The processed-image model's field values (the names are the same)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class CallbackPayload:
    upload_id: uuid.UUID
    event: str
    event_id: str
    image: ImagePayload | None = None
    error_code: str = ""
    error_message: str = ""


def _bad(message: str) -> CallbackRejected:
    return CallbackRejected(message, code="INVALID_PAYLOAD")


def _int(data: dict[str, Any], name: str, where: str, *, low: int = 0) -> int:
    value = data.get(name)
    if type(value) is not int or not low <= value <= (1 << 53):
        raise _bad(f"{where}.{name} must be an integer ≥ {low}.")
    if name in {"width", "height"} and value > MAX_DIMENSION:
        raise _bad(f"{where}.{name} is implausibly large.")
    return value


def _key(data: dict[str, Any], where: str, prefix: str) -> str:
    key = data.get("key")
    if not isinstance(key, str) or not key.startswith(prefix) or len(key) > 1024 or ".." in key:
        raise _bad(f"{where}.key must be an object key under {prefix!r}.")
    return key


def _format(data: dict[str, Any], where: str) -> str:
    value = data.get("format")
    if not isinstance(value, str) or value.lower() not in FORMATS:
        raise _bad(f"{where}.format must be one of {', '.join(sorted(FORMATS))}.")
    return value.lower()


def _image(data: Any, upload_id: uuid.UUID) -> ImagePayload:
    if not isinstance(data, dict):
        raise _bad("image must be an object for a succeeded event.")
    prefix = f"{app_settings.PROCESSED_IMAGE_PATH}{upload_id}/"
    variants_in = data.get("variants", [])
    if not isinstance(variants_in, list) or len(variants_in) > MAX_VARIANTS:
        raise _bad(f"image.variants must be a list of at most {MAX_VARIANTS} objects.")
    variants = []
    for index, variant in enumerate(variants_in):
        where = f"image.variants[{index}]"
        if not isinstance(variant, dict):
            raise _bad(f"{where} must be an object.")
        name = variant.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 100:
            raise _bad(f"{where}.name must be a short string.")
        variants.append(
            {
                "name": name,
                "width": _int(variant, "width", where, low=1),
                "height": _int(variant, "height", where, low=1),
                "format": _format(variant, where),
                "key": _key(variant, where, prefix),
                "size": _int(variant, "size", where),
            }
        )
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _bad("image.metadata must be an object.")
    return ImagePayload(
        key=_key(data, "image", prefix),
        width=_int(data, "width", "image", low=1),
        height=_int(data, "height", "image", low=1),
        format=_format(data, "image"),
        size=_int(data, "size", "image"),
        variants=variants,
        metadata=metadata,
    )


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: Python reads them, databases' JSON columns refuse them.
    raise ValueError(f"{name} is not a JSON value")


def parse_payload(body: bytes) -> CallbackPayload:
    """Strictly validated payload; anything unexpected is INVALID_PAYLOAD (400)."""
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise CallbackRejected(f"Body is not JSON: {exc}", code="MALFORMED_JSON") from None
    if not isinstance(data, dict):
        raise _bad("Body must be a JSON object.")
    try:
        upload_id = uuid.UUID(str(data.get("uploadId")))
    except ValueError:
        raise _bad("uploadId must be a UUID.") from None
    event = data.get("event")
    if event not in EVENTS:
        raise _bad(f"event must be one of {', '.join(EVENTS)}.")
    event_id = data.get("eventId")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 200 or not event_id.isprintable():
        raise _bad("eventId must be a printable string of 1 to 200 characters.")
    if event == "succeeded":
        return CallbackPayload(
            upload_id, event, event_id, image=_image(data.get("image"), upload_id)
        )
    if event == "failed":
        error = data.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise _bad("error.code is required for a failed event.")
        code = error["code"][:64] or "PROCESSING_FAILED"
        message = error.get("message")
        return CallbackPayload(
            upload_id,
            event,
            event_id,
            error_code=code,
            error_message=(message if isinstance(message, str) else "")[:500],
        )
    return CallbackPayload(upload_id, event, event_id)


@dataclass
class Outcome:
    """``applied``: the state changed; ``duplicate``: this eventId was applied before; neither:
    the state machine ignored a late event. ``state`` is the upload's state afterwards."""

    applied: bool
    duplicate: bool
    state: UploadState
    published: list[UploadState] = field(default_factory=list)


class _Ignored(Exception):
    """Rolls back a transaction whose transition did not apply."""


def apply_callback(
    payload: CallbackPayload, *, on_commit: Callable[[UploadState], Any] | None = None
) -> Outcome:
    """Apply one verified callback in one transaction.

    ``on_commit`` receives the new state after commit (default: publish synchronously). A late or
    duplicate event commits nothing; an unknown upload is NOT_FOUND (404).
    """
    from asyncimg.services.publish import publish

    publisher = on_commit or publish
    image_model: Any = apps.get_model(app_settings.PROCESSED_IMAGE_MODEL)
    created_image: list[AbstractProcessedImage] = []

    def after_commit(state: UploadState) -> None:
        publisher(state)
        if state.status == UploadStatus.READY:
            upload_processed.send(sender=Upload, state=state, image=created_image[0])
        elif state.status == UploadStatus.FAILED:
            upload_failed.send(sender=Upload, state=state)

    def after_reject(state: UploadState) -> None:
        # Rejected by moderation: what the processor stored must not stay reachable.
        discard_outputs(payload.upload_id)
        after_commit(state)

    using = router.db_for_write(Upload)
    try:
        with transaction.atomic(using=using):
            if payload.event == "processing":
                state = transition(
                    payload.upload_id, UploadStatus.PROCESSING, on_commit=after_commit
                )
            elif payload.event == "failed":
                state = transition(
                    payload.upload_id,
                    UploadStatus.FAILED,
                    on_commit=after_commit,
                    error_code=payload.error_code,
                    error_message=payload.error_message,
                )
            else:
                assert payload.image is not None
                decision, labels = analysis.moderation_decision(payload.image.metadata)
                if decision == analysis.REJECT:
                    state = transition(
                        payload.upload_id,
                        UploadStatus.FAILED,
                        on_commit=after_reject,
                        error_code=analysis.REJECTED_BY_MODERATION,
                        error_message=analysis.REJECTED_MESSAGE,
                        moderation_labels=labels,
                    )
                else:
                    image = image_model.objects.using(using).create(**payload.image.model_fields())
                    created_image.append(image)
                    held = decision == analysis.HOLD
                    state = transition(
                        payload.upload_id,
                        UploadStatus.READY,
                        on_commit=after_commit,
                        image_id=image.pk,
                        error_code="",
                        error_message="",
                        moderation_status=ModerationStatus.PENDING_REVIEW if held else "",
                        moderation_labels=labels,
                    )
                    if state is not None:
                        analysis.record_fingerprint(
                            payload.upload_id, payload.image.metadata, using=using
                        )
            if state is None:
                raise _Ignored
            # Last, so that a duplicate (unique eventId) rolls the whole change back.
            CallbackEvent.objects.using(using).create(
                event_id=payload.event_id, upload_id=payload.upload_id, event=payload.event
            )
        return Outcome(applied=True, duplicate=False, state=state)
    except (_Ignored, IntegrityError) as exc:
        is_duplicate = CallbackEvent.objects.using(using).filter(
            upload_id=payload.upload_id, event_id=payload.event_id
        )
        if isinstance(exc, IntegrityError) and not is_duplicate.exists():
            # Another constraint failed (a value the database refuses): nothing was applied, and
            # answering "duplicate" would make the processor drop the event. 500: it retries.
            raise
        upload = (
            Upload.objects.using(using).select_related("image").filter(pk=payload.upload_id).first()
        )
        if upload is None:
            raise CallbackRejected("Unknown upload.", code="NOT_FOUND", http_status=404) from None
        duplicate = isinstance(exc, IntegrityError) or is_duplicate.exists()
        if payload.event == "succeeded" and upload.status in DISCARDED:
            # Cancelled or expired while the processor worked: its outputs have no owner.
            discard_outputs(payload.upload_id)
        return Outcome(applied=False, duplicate=duplicate, state=UploadState.from_model(upload))


def accepted(payload: CallbackPayload, outcome: Outcome) -> str:
    """Record a callback answered 200; its ``status`` for the answer: applied, duplicate or
    ignored (a late event the state machine left alone)."""
    result = "applied" if outcome.applied else "duplicate" if outcome.duplicate else "ignored"
    metrics.callback_accepted(payload.event, result)
    if result != "applied":  # an applied one has its transition's line
        logs.callbacks.info(
            logs.logfmt(
                "callback_" + result,
                upload_id=payload.upload_id,
                event=payload.event,
                status=outcome.state.status,
            )
        )
    return result


def rejected(exc: CallbackRejected, payload: CallbackPayload | None = None) -> None:
    """Record a refused callback: one log line and the counter, by code. The upload id only when
    the body was verified and parsed: an unverified body's claims are not logged as facts."""
    metrics.callback_rejected(exc.code)
    logs.callbacks.warning(
        logs.logfmt(
            "callback_rejected",
            code=exc.code,
            http_status=exc.http_status,
            upload_id=payload.upload_id if payload is not None else None,
            message=exc.message[:200],
        )
    )


#: final states whose upload keeps no processed image
DISCARDED = frozenset({UploadStatus.FAILED, UploadStatus.EXPIRED})


def discard_outputs(upload_id: Any) -> None:
    """Delete what the processor wrote for an upload that will never be READY. Best effort: a
    storage error is logged and leaves the objects (the callback or sweep still succeeds)."""
    from asyncimg.storage import get_backend

    prefix = f"{app_settings.PROCESSED_IMAGE_PATH}{upload_id}/"
    try:
        deleted = get_backend().delete_prefix(prefix)
    except Exception:
        logger.warning("asyncimg: could not delete %s*", prefix, exc_info=True)
        return
    if deleted:
        metrics.orphans_removed(deleted)
        logger.info("asyncimg: deleted %d object(s) under %s", deleted, prefix)
