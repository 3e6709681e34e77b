"""The upload state machine. Every transition is one conditional UPDATE, published after commit.

``PENDING → UPLOADED → PROCESSING → READY | FAILED`` and ``PENDING → EXPIRED``. Callbacks may arrive
out of order, so a later state may skip earlier ones (``succeeded`` before ``processing`` lands on
READY directly); terminal states never change. Two concurrent transitions cannot both win: the
UPDATE's ``WHERE status IN (...)`` lets exactly one of them match the row.
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
