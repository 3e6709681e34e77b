"""``manage.py asyncimg_expire``: pending uploads whose credential expired are settled, once.

The file arrived (its object is in the moto bucket) → UPLOADED; it did not → EXPIRED; storage cannot
be asked (a port nothing listens on) → still PENDING.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from asyncimg.models import Upload, UploadStatus
from asyncimg.services.expiry import MAX_ERRORS_IN_A_ROW, expire_uploads
from tests.callbacks import callback_body
from tests.conftest import BUCKET
from tests.test_callback import Published, make_upload, post

pytestmark = pytest.mark.django_db(transaction=True)


def expired_upload(user: Any, seconds_ago: int = 120, **fields: Any) -> Upload:
    return make_upload(user, expires_at=timezone.now() - timedelta(seconds=seconds_ago), **fields)


def arrived(s3: Any, upload: Upload) -> Upload:
    """Store the upload's object, as S3 does when the browser's POST succeeds."""
    s3.put_object(Bucket=BUCKET, Key=upload.key, Body=b"\xff\xd8\xff", ContentType="image/jpeg")
    return upload


@pytest.fixture
def unreachable_storage(s3: Any, settings: Any) -> Iterator[None]:
    """Storage at a port that refuses connections: bound by this test, so nothing else can
    listen there, and never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
        yield


def test_expires_only_pending_uploads_past_the_grace(
    user: Any, s3: Any, failed_signals: list[str]
) -> None:
    old = expired_upload(user)
    just_expired = expired_upload(
        user, seconds_ago=10
    )  # inside the 60 s grace: S3 may still accept
    live = make_upload(user)
    processing = expired_upload(user, status=UploadStatus.PROCESSING)
    published = Published(old.pk)
    out = StringIO()
    call_command("asyncimg_expire", stdout=out)
    assert out.getvalue() == (
        "Expired 1 upload(s); 0 upload(s) had their file and are now UPLOADED; "
        "0 upload(s) timed out in processing; 0 old callback event(s) pruned; "
        "0 orphaned output folder(s) removed.\n"
    )
    statuses = {u.pk: (u.status, u.error_code) for u in Upload.objects.all()}
    assert statuses[old.pk] == (UploadStatus.EXPIRED, "EXPIRED")
    assert statuses[just_expired.pk][0] == UploadStatus.PENDING
    assert statuses[live.pk][0] == UploadStatus.PENDING
    assert statuses[processing.pk][0] == UploadStatus.PROCESSING
    assert [m["upload"]["status"] for m in published.messages()] == ["EXPIRED"]
    assert failed_signals == [str(old.pk)]
    # Idempotent: a second run finds nothing.
    second = expire_uploads()
    assert (second.expired, second.uploaded, second.unchecked) == ([], [], 0)


def test_arrived_file_becomes_uploaded_and_processing_proceeds(
    client: Client, user: Any, s3: Any, failed_signals: list[str]
) -> None:
    """The processor is behind: the object is in the bucket, no callback has come yet."""
    late = arrived(s3, expired_upload(user))
    nothing = expired_upload(user)
    published = Published(late.pk)
    out = StringIO()
    call_command("asyncimg_expire", stdout=out)
    assert out.getvalue() == (
        "Expired 1 upload(s); 1 upload(s) had their file and are now UPLOADED; "
        "0 upload(s) timed out in processing; 0 old callback event(s) pruned; "
        "0 orphaned output folder(s) removed.\n"
    )
    late.refresh_from_db()
    assert (late.status, late.version, late.error_code, late.error_message) == (
        UploadStatus.UPLOADED,
        2,
        "",
        "",
    )
    assert Upload.objects.get(pk=nothing.pk).status == UploadStatus.EXPIRED
    assert [(m["upload"]["status"], m["upload"]["version"]) for m in published.messages()] == [
        ("UPLOADED", 2)
    ]
    # Not a failure: upload_failed is sent for the expired one only.
    assert failed_signals == [str(nothing.pk)]
    # UPLOADED is not terminal, and a second sweep leaves it alone.
    assert expire_uploads().uploaded == []

    response = post(client, callback_body(str(late.pk), "processing"))
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["uploadStatus"]) == (
        "applied",
        "PROCESSING",
    )
    assert Upload.objects.get(pk=late.pk).status == UploadStatus.PROCESSING
    assert [m["upload"]["status"] for m in published.messages()] == ["PROCESSING"]


def test_storage_error_leaves_uploads_pending(
    user: Any, unreachable_storage: None, failed_signals: list[str], caplog: Any
) -> None:
    uploads = [expired_upload(user) for _ in range(2)]
    published = [Published(u.pk) for u in uploads]
    out, err = StringIO(), StringIO()
    with caplog.at_level(logging.WARNING, logger="asyncimg.services.expiry"):
        # batch_size=1: rows left PENDING must not be fetched again and again by the same sweep.
        call_command("asyncimg_expire", "--batch-size=1", stdout=out, stderr=err)
    assert out.getvalue() == (
        "Expired 0 upload(s); 0 upload(s) had their file and are now UPLOADED; "
        "0 upload(s) timed out in processing; 0 old callback event(s) pruned; "
        "0 orphaned output folder(s) removed.\n"
    )
    assert err.getvalue() == (
        "Storage could not be checked for 2 upload(s); "
        "they stay PENDING until a later run can check them.\n"
        "Storage could not be listed or cleaned for orphaned outputs; a later run tries again.\n"
    )
    assert set(Upload.objects.values_list("status", "version")) == {(UploadStatus.PENDING, 1)}
    assert [m for p in published for m in p.messages()] == []
    assert failed_signals == []
    warned = [
        r
        for r in caplog.records
        if r.name == "asyncimg.services.expiry" and "stays PENDING" in r.msg
    ]
    assert sorted(str(r.args[0]) for r in warned) == sorted(str(u.pk) for u in uploads)
    assert all(r.levelno == logging.WARNING and r.exc_info for r in warned)


def test_the_sweep_stops_asking_a_storage_that_keeps_failing(
    user: Any, unreachable_storage: None, failed_signals: list[str], caplog: Any
) -> None:
    """Storage down: after MAX_ERRORS_IN_A_ROW failed HEADs the sweep stops (each further HEAD
    would wait for its own timeouts), and every remaining row waits for the next run."""
    uploads = [expired_upload(user, seconds_ago=120 + i) for i in range(MAX_ERRORS_IN_A_ROW + 4)]
    out, err = StringIO(), StringIO()
    with caplog.at_level(logging.WARNING, logger="asyncimg.services.expiry"):
        call_command("asyncimg_expire", "--batch-size=2", stdout=out, stderr=err)
    assert err.getvalue() == (
        f"Storage could not be checked for {len(uploads)} upload(s) (the sweep stopped after "
        f"{MAX_ERRORS_IN_A_ROW} storage errors in a row); they stay PENDING until a later run "
        "can check them.\n"
    )
    warned = [r for r in caplog.records if r.name == "asyncimg.services.expiry"]
    assert len(warned) == MAX_ERRORS_IN_A_ROW
    assert set(Upload.objects.values_list("status", "version")) == {(UploadStatus.PENDING, 1)}
    assert failed_signals == []


def test_a_missing_bucket_expires_nothing(
    user: Any, s3: Any, settings: Any, failed_signals: list[str]
) -> None:
    """A HEAD in a bucket that does not exist answers 404 like a missing object; the sweep must
    not take that for "nothing arrived" (a wrong bucket setting would expire every upload)."""
    for _ in range(2):
        expired_upload(user)
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = "no-such-bucket-here"
    sweep = expire_uploads()
    assert (sweep.uploaded, sweep.expired, sweep.unchecked) == ([], [], 2)
    assert set(Upload.objects.values_list("status", flat=True)) == {UploadStatus.PENDING}
    assert failed_signals == []


def test_batches_cover_every_row(user: Any, s3: Any) -> None:
    with_file = {arrived(s3, expired_upload(user)).pk for _ in range(4)}
    without = {expired_upload(user).pk for _ in range(5)}
    sweep = expire_uploads(batch_size=3)
    assert {s.id for s in sweep.uploaded} == {str(pk) for pk in with_file}
    assert {s.id for s in sweep.expired} == {str(pk) for pk in without}
    assert not Upload.objects.filter(status=UploadStatus.PENDING).exists()


def test_concurrent_sweepers_settle_each_upload_once(user: Any, s3: Any) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("needs row locks; SQLite locks the whole database (PostgreSQL, MariaDB do)")
    with_file = [arrived(s3, expired_upload(user)) for _ in range(10)]
    without = [expired_upload(user) for _ in range(20)]
    published = {u.pk: Published(u.pk) for u in [*with_file, *without]}
    barrier = threading.Barrier(3)
    uploaded: list[str] = []
    expired: list[str] = []

    def sweep() -> None:
        barrier.wait()
        result = expire_uploads(batch_size=5)
        uploaded.extend(s.id for s in result.uploaded)
        expired.extend(s.id for s in result.expired)
        connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(uploaded) == sorted(str(u.pk) for u in with_file)
    assert sorted(expired) == sorted(str(u.pk) for u in without)
    assert set(Upload.objects.values_list("version", flat=True)) == {2}
    assert {pk: len(p.messages()) for pk, p in published.items()} == dict.fromkeys(published, 1)
