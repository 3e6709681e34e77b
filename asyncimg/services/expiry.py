"""Expiry of credentials nobody used: PENDING → EXPIRED once the presigned POST stopped working."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from asyncimg.models import Upload, UploadStatus
from asyncimg.services.publish import publish
from asyncimg.services.state import UploadState
from asyncimg.services.transitions import transition
from asyncimg.signals import upload_failed

#: S3 accepts a POST whose policy was valid when the request started; give stragglers this long.
GRACE = timedelta(seconds=60)


def _after_commit(state: UploadState) -> None:
    publish(state)
    upload_failed.send(sender=Upload, state=state)


def expire_uploads(*, now: datetime | None = None, batch_size: int = 500) -> list[UploadState]:
    """Expire every pending upload whose credential expired more than :data:`GRACE` ago.

    Safe on several hosts at once: each row moves through a conditional UPDATE, so exactly one
    sweeper wins it and publishes it; the others skip it.
    """
    cutoff = (now or timezone.now()) - GRACE
    expired: list[UploadState] = []
    while True:
        ids = list(
            Upload.objects.filter(status=UploadStatus.PENDING, expires_at__lt=cutoff)
            .order_by("expires_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return expired
        for pk in ids:
            state = transition(
                pk,
                UploadStatus.EXPIRED,
                error_code="EXPIRED",
                error_message="The upload credential expired before a file arrived.",
                extra_filter={"expires_at__lt": cutoff},
                on_commit=_after_commit,
            )
            if state is not None:
                expired.append(state)
        if len(ids) < batch_size:
            return expired
