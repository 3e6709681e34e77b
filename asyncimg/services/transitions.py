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
from datetime import datetime
from typing import Any

from django.db import router, transaction
from django.db.models import F
from django.utils import timezone

from asyncimg import logs, metrics
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
    rows = Upload.objects.using(using).filter(pk=upload_id, **(extra_filter or {}))
    # No savepoint when nested (the callback wraps its writes in one transaction and rolls back
    # as a whole): a savepoint would cost two more round trips on every callback.
    with transaction.atomic(using=using, savepoint=False):
        # The state it leaves (for the metrics and the log line): read first, then required by
        # the UPDATE, so a concurrent change in between makes it miss instead of mislabelling.
        # States only move forward, so this loops at most once per state in between.
        while True:
            prior = rows.values_list("status", "updated_at", "created_at").first()
            if prior is None or prior[0] not in allowed:
                return None
            updated = rows.filter(status=prior[0]).update(
                status=to, version=F("version") + 1, updated_at=timezone.now(), **changes
            )
            if updated:
                break
        # Read back inside the transaction: the row is ours (locked by the UPDATE) until commit.
        upload = Upload.objects.using(using).select_related("image").get(pk=upload_id)
        state = UploadState.from_model(upload)
        source, left_at, created_at = prior

        def committed() -> None:
            _record(state, source, left_at, created_at)
            on_commit(state)

        transaction.on_commit(committed, using=using)
    return state


def _record(state: UploadState, source: str, left_at: datetime, created_at: datetime) -> None:
    """A committed transition: its metrics and its log line (rolled-back ones never happened)."""
    processing = ready = None
    if source == S.PROCESSING and state.is_terminal:
        processing = (state.updated_at - left_at).total_seconds()
    if state.status == S.READY:
        ready = (state.updated_at - created_at).total_seconds()
    metrics.transition(source, state.status, processing_seconds=processing, ready_seconds=ready)
    logs.transitions.info(
        logs.logfmt(
            "transition",
            upload_id=state.id,
            **{"from": source, "to": state.status},
            code=state.error_code or None,
            version=state.version,
        )
    )


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

        def committed() -> None:
            if not approve:  # READY -> FAILED: counted and logged like every other transition
                _record(state, S.READY, upload.created_at, upload.created_at)
            decided(state)

        transaction.on_commit(committed, using=using)
    return state
