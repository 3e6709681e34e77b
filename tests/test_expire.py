"""``manage.py asyncimg_expire``: pending uploads whose credential expired become EXPIRED, once."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from asyncimg.models import Upload, UploadStatus
from asyncimg.services.expiry import expire_uploads
from asyncimg.signals import upload_failed
from tests.test_callback import Published, make_upload

pytestmark = pytest.mark.django_db(transaction=True)


def expired_upload(user: Any, seconds_ago: int = 120, **fields: Any) -> Upload:
    return make_upload(user, expires_at=timezone.now() - timedelta(seconds=seconds_ago), **fields)


def test_expires_only_pending_uploads_past_the_grace(user: Any) -> None:
    old = expired_upload(user)
    just_expired = expired_upload(
        user, seconds_ago=10
    )  # inside the 60 s grace: S3 may still accept
    live = make_upload(user)
    processing = expired_upload(user, status=UploadStatus.PROCESSING)
    published = Published(old.pk)
    failed: list[Any] = []
    upload_failed.connect(lambda **kw: failed.append(kw["state"].id), weak=False, dispatch_uid="e")
    out = StringIO()
    try:
        call_command("asyncimg_expire", stdout=out)
    finally:
        upload_failed.disconnect(dispatch_uid="e")
    assert "Expired 1 upload(s)." in out.getvalue()
    statuses = {u.pk: (u.status, u.error_code) for u in Upload.objects.all()}
    assert statuses[old.pk] == (UploadStatus.EXPIRED, "EXPIRED")
    assert statuses[just_expired.pk][0] == UploadStatus.PENDING
    assert statuses[live.pk][0] == UploadStatus.PENDING
    assert statuses[processing.pk][0] == UploadStatus.PROCESSING
    assert [m["upload"]["status"] for m in published.messages()] == ["EXPIRED"]
    assert failed == [str(old.pk)]
    # Idempotent: a second run finds nothing.
    assert expire_uploads() == []


def test_batches_cover_every_row(user: Any) -> None:
    for _ in range(7):
        expired_upload(user)
    assert len(expire_uploads(batch_size=3)) == 7
    assert not Upload.objects.filter(status=UploadStatus.PENDING).exists()


def test_concurrent_sweepers_expire_each_upload_once(user: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks (CI runs the suite on PostgreSQL)")
    uploads = [expired_upload(user) for _ in range(30)]
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def sweep() -> None:
        barrier.wait()
        counts.append(len(expire_uploads(batch_size=5)))
        connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == len(uploads)
    assert set(Upload.objects.values_list("version", flat=True)) == {2}
