"""The upload state machine. Every transition is one conditional UPDATE, published after commit.

``PENDING → UPLOADED → PROCESSING → READY | FAILED`` and ``PENDING → EXPIRED``. Callbacks may arrive
out of order, so a later state may skip earlier ones (``succeeded`` before ``processing`` lands on
READY directly); terminal states never change. Two concurrent transitions cannot both win: the
UPDATE's ``WHERE status IN (...)`` lets exactly one of them match the row.
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
