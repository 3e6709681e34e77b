"""The sweeps that bring every upload to a terminal state, and prune what is no longer needed.

:func:`expire_uploads`: pending uploads whose credential stopped working.

A PENDING upload past its credential (plus :data:`GRACE`) either never got its file, or got it and
the S3 → queue → processor path has not reported yet (a backlog, or a POST that landed just before
the credential expired). Storage tells the two apart: the object is there → UPLOADED, so the
processor's later callbacks apply; it is not → EXPIRED. When storage cannot answer, the upload stays
PENDING for the next sweep: expiring an upload whose file may have arrived would lose it.

:func:`time_out_processing`: UPLOADED/PROCESSING uploads the processor never finished (it crashed,
was killed for memory, or its message ended in a dead-letter queue) → FAILED PROCESSING_TIMEOUT.

:func:`prune_callback_events`: event ids older than the retention; late duplicates of them find a
terminal upload, which the state machine leaves unchanged anyway.

:func:`remove_orphans`: what the processor wrote under ``processed/<id>/`` for an upload whose row
is gone (deleted in the admin, with its owner, or by a project's own retention), which no
lifecycle rule can tell from a live image.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from asyncimg import metrics
from asyncimg.conf import app_settings
from asyncimg.models import CallbackEvent, Upload, UploadStatus
from asyncimg.services.callbacks import discard_outputs
from asyncimg.services.state import UploadState
from asyncimg.services.transitions import publish_failure, transition
from asyncimg.storage import get_backend

logger = logging.getLogger(__name__)

#: S3 accepts a POST whose policy was valid when the request started; give stragglers this long.
GRACE = timedelta(seconds=60)
#: storage errors in a row after which a sweep stops asking (storage is down: every further HEAD
#: would wait for its own timeouts, and cron would pile sweeps up)
MAX_ERRORS_IN_A_ROW = 3


@dataclass
class Sweep:
    """What one sweep changed. Uploads another sweeper (or a callback) moved first are in none."""

    #: the file had arrived: PENDING → UPLOADED
    uploaded: list[UploadState] = field(default_factory=list)
    #: nothing arrived: PENDING → EXPIRED
    expired: list[UploadState] = field(default_factory=list)
    #: storage could not be asked (or the sweep stopped asking); left PENDING for the next sweep
    unchecked: int = 0
    #: True when the sweep stopped after :data:`MAX_ERRORS_IN_A_ROW` storage errors
    stopped: bool = False


def _after(expires_at: datetime, pk: Any) -> Q:
    """The rows after ``(expires_at, pk)`` in the sweep's order."""
    return Q(expires_at__gt=expires_at) | Q(expires_at=expires_at, pk__gt=pk)


def expire_uploads(*, now: datetime | None = None, batch_size: int = 500) -> Sweep:
    """Settle every pending upload whose credential expired more than :data:`GRACE` ago (see
    :func:`_expire_uploads`), and count what the sweep did."""
    sweep = _expire_uploads(now=now, batch_size=batch_size)
    metrics.sweep("uploaded", len(sweep.uploaded))
    metrics.sweep("expired", len(sweep.expired))
    metrics.sweep("unchecked", sweep.unchecked)
    return sweep


def _expire_uploads(*, now: datetime | None, batch_size: int) -> Sweep:
    """Settle every pending upload whose credential expired more than :data:`GRACE` ago: UPLOADED
    when its object is in storage, EXPIRED when it is not, unchanged when storage fails.

    Safe on several hosts at once: each row moves through a conditional UPDATE, so exactly one
    sweeper wins it and publishes it; the others skip it. Rows are visited once per sweep in
    ``(expires_at, id)`` order, so rows left PENDING by a storage error do not stall it.
    """
    cutoff = (now or timezone.now()) - GRACE
    backend = get_backend()
    sweep = Sweep()
    after: tuple[datetime, Any] | None = None
    errors_in_a_row = 0
    while True:
        rows = Upload.objects.filter(status=UploadStatus.PENDING, expires_at__lt=cutoff)
        if after is not None:
            rows = rows.filter(_after(*after))
        ordered = rows.order_by("expires_at", "pk").values_list("pk", "key", "expires_at")
        batch = list(ordered[:batch_size])
        if not batch:
            return sweep
        for pk, key, expires_at in batch:
            after = (expires_at, pk)
            try:
                found = backend.head(key)
            except Exception:
                # Backends raise their own client's errors (network, 5xx, permissions); whatever
                # it is, the answer is unknown, and only a known absence may expire an upload.
                logger.warning(
                    "asyncimg: could not check storage for upload %s (%s); it stays PENDING",
                    pk,
                    key,
                    exc_info=True,
                )
                sweep.unchecked += 1
                errors_in_a_row += 1
                if errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
                    # The rest of this sweep's rows, this one's successors, stay for the next run.
                    sweep.unchecked += rows.filter(_after(expires_at, pk)).count()
                    sweep.stopped = True
                    return sweep
                continue
            errors_in_a_row = 0
            if found is not None:
                state = transition(pk, UploadStatus.UPLOADED)
                if state is not None:
                    sweep.uploaded.append(state)
                continue
            state = transition(
                pk,
                UploadStatus.EXPIRED,
                error_code="EXPIRED",
                error_message="The upload credential expired before a file arrived.",
                extra_filter={"expires_at__lt": cutoff},
                on_commit=publish_failure,
            )
            if state is not None:
                sweep.expired.append(state)
        if len(batch) < batch_size:
            return sweep


def time_out_processing(*, now: datetime | None = None, batch_size: int = 500) -> list[UploadState]:
    """Fail every UPLOADED or PROCESSING upload unchanged for ``PROCESSING_TIMEOUT`` seconds
    with code PROCESSING_TIMEOUT, published like any transition (subscriptions complete).

    The conditional UPDATE repeats the age condition: a callback that moved the upload in the
    meantime wins, and the sweep skips it.
    """
    timeout = app_settings.PROCESSING_TIMEOUT
    cutoff = (now or timezone.now()) - timedelta(seconds=timeout)
    stuck = (UploadStatus.UPLOADED, UploadStatus.PROCESSING)
    failed: list[UploadState] = []
    after: Any = None
    while True:
        rows = Upload.objects.filter(status__in=stuck, updated_at__lt=cutoff)
        if after is not None:
            rows = rows.filter(pk__gt=after)
        batch = list(rows.order_by("pk").values_list("pk", flat=True)[:batch_size])
        for pk in batch:
            after = pk
            state = transition(
                pk,
                UploadStatus.FAILED,
                sources=stuck,
                extra_filter={"updated_at__lt": cutoff},
                error_code="PROCESSING_TIMEOUT",
                error_message=f"Processing did not finish within {timeout} seconds.",
                on_commit=publish_failure,
            )
            if state is not None:
                failed.append(state)
                discard_outputs(pk)  # what a killed processor wrote before it died
        if len(batch) < batch_size:
            metrics.sweep("timed_out", len(failed))
            return failed


def prune_callback_events(*, now: datetime | None = None) -> int:
    """Delete ``CallbackEvent`` rows older than ``CALLBACK_EVENT_RETENTION``; how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=app_settings.CALLBACK_EVENT_RETENTION)
    deleted, _ = CallbackEvent.objects.filter(received_at__lt=cutoff).delete()
    return deleted


#: prefixes one orphan sweep looks at, at most
ORPHAN_LIMIT = 1000


@dataclass
class Orphans:
    """What one orphan sweep did."""

    #: the ``processed/<id>/`` prefixes it looked at (one shard of them, at most the limit)
    checked: int = 0
    #: prefixes whose upload row is gone, and the objects deleted under them
    removed: list[str] = field(default_factory=list)
    objects: int = 0
    #: storage could not be asked (listing or a delete failed); the next sweep tries again
    failed: bool = False


def remove_orphans(*, shard: str | None = None, limit: int = ORPHAN_LIMIT) -> Orphans:
    """Delete the outputs under ``processed/<id>/`` of uploads that no longer exist.

    Bounded per run: one listing of the prefixes that start with ``processed/<shard>`` (two hex
    digits of the upload id, random unless given: a 256th of the uploads), at most ``limit`` of
    them, then one query for which of those ids still have a row. Run from cron, every shard comes
    up again and again; a shard holding more than ``limit`` uploads is only ever seen up to its
    first ``limit``. Names that are not an upload id are not ours to judge and are left alone.
    A row is created before its credential is handed out, so a prefix without a row is never an
    upload still being processed.
    """
    base = app_settings.PROCESSED_IMAGE_PATH
    shard = secrets.token_hex(1) if shard is None else shard
    backend = get_backend()
    result = Orphans()
    try:
        prefixes = backend.list_prefixes(f"{base}{shard}", limit=limit)
    except NotImplementedError:
        logger.info("asyncimg: %s cannot list; orphans are not swept", type(backend).__name__)
        return result
    except Exception:
        logger.warning("asyncimg: could not list %s%s*", base, shard, exc_info=True)
        result.failed = True
        return result
    ids: dict[uuid.UUID, str] = {}
    for prefix in prefixes:
        name = prefix[len(base) :].rstrip("/")
        try:
            pk = uuid.UUID(name)
        except ValueError:
            continue
        if str(pk) == name:
            ids[pk] = prefix
    result.checked = len(ids)
    live = set(Upload.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))
    for pk, prefix in ids.items():
        if pk in live:
            continue
        try:
            result.objects += backend.delete_prefix(prefix)
        except Exception:
            logger.warning("asyncimg: could not delete %s*", prefix, exc_info=True)
            result.failed = True
            continue
        result.removed.append(prefix)
    return result
