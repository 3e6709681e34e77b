"""The upload state machine. Every transition is one conditional UPDATE, published after commit.

``PENDING → UPLOADED → PROCESSING → READY | FAILED`` and ``PENDING → EXPIRED``. Callbacks may arrive
out of order, so a later state may skip earlier ones (``succeeded`` before ``processing`` lands on
READY directly); terminal states never change. Two concurrent transitions cannot both win: the
UPDATE's ``WHERE status IN (...)`` lets exactly one of them match the row.

One exception, :func:`review`: a READY upload that the moderation policy held (PENDING_REVIEW)
is decided once by a reviewer: approved (stays READY) or rejected (READY → FAILED with
REJECTED_BY_MODERATION). The same conditional UPDATE, on ``moderation_status`` as well, so two
reviewers cannot both decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import router, transaction
from django.db.models import F
from django.utils import timezone

from asyncimg.models import Upload, UploadStatus
from asyncimg.services.publish import publish
from asyncimg.services.state import UploadState
from asyncimg.signals import upload_failed

S = UploadStatus

#: target state → states it may be reached from
SOURCES: dict[str, frozenset[str]] = {
    S.UPLOADED: frozenset({S.PENDING}),
    S.PROCESSING: frozenset({S.PENDING, S.UPLOADED}),
    S.READY: frozenset({S.PENDING, S.UPLOADED, S.PROCESSING}),
    S.FAILED: frozenset({S.PENDING, S.UPLOADED, S.PROCESSING}),
    S.EXPIRED: frozenset({S.PENDING}),
}

Publisher = Callable[[UploadState], Any]


def publish_failure(state: UploadState) -> None:
    """``on_commit`` for a move to FAILED or EXPIRED outside the callback endpoint (cancel,
    expiry): publish it, then send :data:`~asyncimg.signals.upload_failed`, as the endpoint does."""
    publish(state)
    upload_failed.send(sender=Upload, state=state)


def transition(
    upload_id: Any,
    to: str,
    *,
    sources: Iterable[str] | None = None,
    on_commit: Publisher = publish,
    extra_filter: dict[str, Any] | None = None,
    **changes: Any,
) -> UploadState | None:
    """Move one upload to ``to`` if it is in one of ``sources`` (default: every allowed source).

    Returns the new state, or None when the upload was not in a source state (already terminal,
    already further along, or unknown): the caller decides whether that is an error. The new state
    is handed to ``on_commit`` once the surrounding transaction commits, never before.
    """
    allowed = SOURCES[to] if sources is None else frozenset(sources) & SOURCES[to]
    using = router.db_for_write(Upload)
    # No savepoint when nested (the callback wraps its writes in one transaction and rolls back
    # as a whole): a savepoint would cost two more round trips on every callback.
    with transaction.atomic(using=using, savepoint=False):
        updated = (
            Upload.objects.using(using)
            .filter(pk=upload_id, status__in=allowed, **(extra_filter or {}))
            .update(status=to, version=F("version") + 1, updated_at=timezone.now(), **changes)
        )
        if not updated:
            return None
        # Read back inside the transaction: the row is ours (locked by the UPDATE) until commit.
        upload = Upload.objects.using(using).select_related("image").get(pk=upload_id)
        state = UploadState.from_model(upload)
        transaction.on_commit(lambda: on_commit(state), using=using)
    return state


def review(upload_id: Any, *, approve: bool) -> UploadState | None:
    """A reviewer's decision on a held upload; None when it is not (or no longer) held.

    Published like every transition; a rejection also deletes the outputs, the image row and its
    fingerprint, and sends :data:`~asyncimg.signals.upload_failed`.
    """
    from django.apps import apps

    from asyncimg.conf import app_settings
    from asyncimg.models import ImageFingerprint, ModerationStatus
    from asyncimg.services.analysis import REJECTED_BY_MODERATION, REJECTED_MESSAGE
    from asyncimg.services.callbacks import discard_outputs

    def rejected(state: UploadState) -> None:
        discard_outputs(upload_id)
        publish_failure(state)

    using = router.db_for_write(Upload)
    held = Upload.objects.using(using).filter(
        pk=upload_id, status=S.READY, moderation_status=ModerationStatus.PENDING_REVIEW
    )
    if approve:
        changes: dict[str, Any] = {"moderation_status": ModerationStatus.APPROVED}
    else:
        changes = {
            "status": S.FAILED,
            "moderation_status": ModerationStatus.REJECTED,
            "error_code": REJECTED_BY_MODERATION,
            "error_message": REJECTED_MESSAGE,
            "image": None,
        }
    with transaction.atomic(using=using):
        image_id = held.values_list("image_id", flat=True).first()
        if not held.update(version=F("version") + 1, updated_at=timezone.now(), **changes):
            return None
        if not approve:
            ImageFingerprint.objects.using(using).filter(upload_id=upload_id).delete()
            image_model: Any = apps.get_model(app_settings.PROCESSED_IMAGE_MODEL)
            image_model.objects.using(using).filter(pk=image_id).delete()
        upload = Upload.objects.using(using).select_related("image").get(pk=upload_id)
        state = UploadState.from_model(upload)
        decided = publish if approve else rejected
        transaction.on_commit(lambda: decided(state), using=using)
    return state
