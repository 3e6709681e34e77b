"""The sweep's other duties (``manage.py asyncimg_expire``): uploads the processor never finished
end FAILED with PROCESSING_TIMEOUT, published like any transition; old event ids are pruned."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from asyncimg.models import CallbackEvent, Upload, UploadStatus
from asyncimg.services.expiry import prune_callback_events, remove_orphans, time_out_processing
from tests import clouds
from tests.callbacks import callback_body
from tests.conftest import BUCKET
from tests.test_callback import Published, make_upload, post

pytestmark = pytest.mark.django_db(transaction=True)

# The emulator fixtures of tests/clouds.py, under their names for pytest.
fake_gcs, gcs, gcs_key, azurite, azure = (
    clouds.fake_gcs,
    clouds.gcs,
    clouds.gcs_key,
    clouds.azurite,
    clouds.azure,
)


def aged(upload: Upload, seconds: int) -> Upload:
    Upload.objects.filter(pk=upload.pk).update(
        updated_at=timezone.now() - timedelta(seconds=seconds)
    )
    upload.refresh_from_db()
    return upload


def test_stuck_uploads_time_out_and_are_published(
    user: Any, settings: Any, failed_signals: list[str]
) -> None:
    settings.ASYNC_IMAGE_UPLOAD_PROCESSING_TIMEOUT = 900
    stuck = aged(make_upload(user, status=UploadStatus.PROCESSING, version=2), 901)
    uploaded = aged(make_upload(user, status=UploadStatus.UPLOADED, version=1), 1000)
    recent = aged(make_upload(user, status=UploadStatus.PROCESSING, version=2), 100)
    pending = aged(make_upload(user), 5000)  # PENDING is the credential sweep's business
    ready = aged(make_upload(user, status=UploadStatus.READY, version=3), 5000)
    published = Published(stuck.pk)

    out = StringIO()
    call_command("asyncimg_expire", stdout=out)

    assert "2 upload(s) timed out in processing" in out.getvalue()
    statuses = dict(Upload.objects.values_list("pk", "status"))
    assert statuses[stuck.pk] == statuses[uploaded.pk] == UploadStatus.FAILED
    assert statuses[recent.pk] == UploadStatus.PROCESSING
    assert statuses[pending.pk] == UploadStatus.PENDING
    assert statuses[ready.pk] == UploadStatus.READY
    stuck.refresh_from_db()
    assert (stuck.error_code, stuck.version) == ("PROCESSING_TIMEOUT", 3)
    assert "900 seconds" in stuck.error_message
    [message] = published.messages()
    assert message["upload"]["status"] == "FAILED"
    assert sorted(failed_signals) == sorted([str(stuck.pk), str(uploaded.pk)])
    # Settled once: a second sweep finds nothing.
    assert time_out_processing() == []


def test_a_late_callback_after_the_timeout_changes_nothing(user: Any, client: Any) -> None:
    stuck = aged(make_upload(user, status=UploadStatus.PROCESSING, version=2), 2000)
    [state] = time_out_processing()
    assert state.status == UploadStatus.FAILED
    response = post(client, callback_body(str(stuck.pk), "succeeded"))
    assert response.json()["status"] == "ignored"
    stuck.refresh_from_db()
    assert (stuck.status, stuck.error_code) == (UploadStatus.FAILED, "PROCESSING_TIMEOUT")


def test_the_timeout_loses_to_a_callback_that_moved_the_upload(user: Any, settings: Any) -> None:
    """The age is checked again by the conditional UPDATE: an upload refreshed after the sweep
    selected it (here: simulated by a cutoff in the past of its update) is left alone."""
    settings.ASYNC_IMAGE_UPLOAD_PROCESSING_TIMEOUT = 900
    upload = aged(make_upload(user, status=UploadStatus.PROCESSING), 1000)
    assert time_out_processing(now=upload.updated_at + timedelta(seconds=899)) == []
    upload.refresh_from_db()
    assert upload.status == UploadStatus.PROCESSING


def test_old_callback_events_are_pruned(user: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_EVENT_RETENTION = 3600
    upload = make_upload(user)
    old = CallbackEvent.objects.create(event_id="old", upload_id=upload.pk, event="processing")
    CallbackEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(hours=2))
    CallbackEvent.objects.create(event_id="new", upload_id=upload.pk, event="processing")
    assert prune_callback_events() == 1
    assert list(CallbackEvent.objects.values_list("event_id", flat=True)) == ["new"]


# --- callbacks the database refuses (issue: a constraint error was answered "duplicate") --------


def test_an_event_id_may_repeat_across_uploads(user: Any, client: Any) -> None:
    first, second = make_upload(user), make_upload(user)
    for upload in (first, second):
        body = callback_body(str(upload.pk), "processing", event_id="shared-id")
        assert post(client, body).json()["status"] == "applied"
    assert CallbackEvent.objects.filter(event_id="shared-id").count() == 2


def test_nan_in_a_callback_is_invalid_json(user: Any, client: Any) -> None:
    upload = make_upload(user)
    body = callback_body(str(upload.pk), "succeeded").replace(
        b'"metadata": {', b'"metadata": {"x": NaN, '
    )
    assert b"NaN" in body
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MALFORMED_JSON"
    upload.refresh_from_db()
    assert upload.status == UploadStatus.PENDING


def test_a_refused_row_is_a_500_with_nothing_applied(user: Any, client: Any) -> None:
    """A project's own rule refusing the image row (here a ``pre_save`` receiver raising the
    database's IntegrityError, as a constraint of theirs would): the processor must retry, so
    the answer is 500, never ``duplicate``, and nothing of the callback is kept."""
    from django.db import IntegrityError
    from django.db.models.signals import pre_save

    from asyncimg.models import ProcessedImage

    def refuse(**kwargs: Any) -> None:
        raise IntegrityError("CHECK constraint failed: metadata")

    upload = make_upload(user)
    pre_save.connect(refuse, sender=ProcessedImage, dispatch_uid="refuse")
    try:
        response = post(client, callback_body(str(upload.pk), "succeeded"))
    finally:
        pre_save.disconnect(sender=ProcessedImage, dispatch_uid="refuse")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "NOT_APPLIED"
    upload.refresh_from_db()
    assert (upload.status, upload.version) == (UploadStatus.PENDING, upload.version)
    assert not CallbackEvent.objects.exists()
    assert not ProcessedImage.objects.exists()
    # The retry, once the cause is gone, applies.
    assert post(client, callback_body(str(upload.pk), "succeeded")).json()["status"] == "applied"


# --- outputs nobody will own (moto server over HTTP) ----------------------------------------------


def put_outputs(s3: Any, upload: Upload, count: int = 7) -> None:
    for i in range(count):
        s3.put_object(Bucket=BUCKET, Key=f"processed/{upload.pk}/{i}.webp", Body=b"x")


def keys_under(s3: Any, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_a_late_success_of_a_cancelled_upload_deletes_its_outputs(
    user: Any, client: Any, s3: Any
) -> None:
    cancelled = make_upload(user, status=UploadStatus.FAILED, error_code="CANCELLED")
    kept = make_upload(user)
    put_outputs(s3, cancelled)
    put_outputs(s3, kept, 2)
    response = post(client, callback_body(str(cancelled.pk), "succeeded"))
    assert response.json()["status"] == "ignored"
    assert keys_under(s3, f"processed/{cancelled.pk}/") == []
    assert len(keys_under(s3, f"processed/{kept.pk}/")) == 2


def test_a_timed_out_upload_loses_what_its_processor_wrote(user: Any, s3: Any) -> None:
    stuck = aged(make_upload(user, status=UploadStatus.PROCESSING), 5000)
    put_outputs(s3, stuck, 3)
    [state] = time_out_processing()
    assert state.error_code == "PROCESSING_TIMEOUT"
    assert keys_under(s3, f"processed/{stuck.pk}/") == []


def test_storage_down_does_not_fail_the_callback(user: Any, client: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens
    cancelled = make_upload(user, status=UploadStatus.FAILED, error_code="CANCELLED")
    response = post(client, callback_body(str(cancelled.pk), "succeeded"))
    assert (response.status_code, response.json()["status"]) == (200, "ignored")


# --- orphans: outputs of uploads whose row is gone, on each cloud's emulator over HTTP ----------


class Store:
    """Objects in the bucket of one cloud's emulator, written and listed with its own client."""

    def __init__(self, cloud: str, client: Any) -> None:
        self.cloud, self.client = cloud, client

    def put(self, key: str) -> None:
        if self.cloud == "s3":
            self.client.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        elif self.cloud == "gcs":
            self.client.blob(key).upload_from_string(b"x")
        else:
            self.client.upload_blob(key, b"x")

    def keys(self) -> set[str]:
        if self.cloud == "s3":
            listed = self.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
            return {o["Key"] for o in listed}
        if self.cloud == "gcs":
            return {b.name for b in self.client.client.list_blobs(self.client)}
        return {b.name for b in self.client.list_blobs()}


@pytest.fixture(params=["s3", "gcs", "azure"])
def store(request: Any) -> Store:
    return Store(request.param, request.getfixturevalue(request.param))


def outputs(store: Store, pk: Any, count: int = 3) -> set[str]:
    keys = {f"processed/{pk}/{name}" for name in ("original.jpg", "320.webp", "800.jpeg")[:count]}
    for key in keys:
        store.put(key)
    return keys


def test_orphaned_outputs_are_removed_and_nothing_else(user: Any, store: Store) -> None:
    """In one shard (the first two hex digits of the id): a live upload keeps its outputs, two
    uploads whose rows are gone lose theirs, a folder that is not an upload id is not ours to
    judge; another shard is not looked at by this run."""
    live = make_upload(user, status=UploadStatus.READY)
    shard = str(live.pk)[:2]
    gone = [uuid.UUID(shard + uuid.uuid4().hex[2:]) for _ in range(2)]
    elsewhere = uuid.UUID(("0" if shard[0] != "0" else "1") + uuid.uuid4().hex[1:])
    kept = outputs(store, live.pk) | outputs(store, elsewhere) | {f"processed/{shard}-notes/x"}
    store.put(f"processed/{shard}-notes/x")
    store.put(f"temp/{gone[0]}/cat.jpg")  # the raw upload is the lifecycle rule's business
    for pk in gone:
        outputs(store, pk)

    result = remove_orphans(shard=shard)

    assert sorted(result.removed) == sorted(f"processed/{pk}/" for pk in gone)
    assert (result.objects, result.checked, result.failed) == (6, 3, False)
    assert store.keys() == kept | {f"temp/{gone[0]}/cat.jpg"}
    # Settled: a second run finds the same shard clean.
    assert remove_orphans(shard=shard).removed == []


def test_one_run_looks_at_a_bounded_number_of_folders(user: Any, store: Store) -> None:
    shard = "ab"
    gone = sorted(str(uuid.UUID(shard + uuid.uuid4().hex[2:])) for _ in range(3))
    for pk in gone:
        outputs(store, pk, count=1)
    first = remove_orphans(shard=shard, limit=2)
    assert (first.checked, first.removed) == (2, [f"processed/{pk}/" for pk in gone[:2]])
    assert store.keys() == {f"processed/{gone[2]}/original.jpg"}
    assert remove_orphans(shard=shard, limit=2).removed == [f"processed/{gone[2]}/"]
    assert store.keys() == set()


def test_the_command_sweeps_orphans_and_storage_down_is_reported(
    user: Any, s3: Any, settings: Any
) -> None:
    pk = uuid.uuid4()
    put_outputs(s3, Upload(pk=pk), 2)
    out = StringIO()
    call_command("asyncimg_expire", f"--orphan-shard={str(pk)[:2]}", stdout=out)
    assert "1 orphaned output folder(s) removed." in out.getvalue()
    assert keys_under(s3, "processed/") == []

    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens
    out, err = StringIO(), StringIO()
    call_command("asyncimg_expire", stdout=out, stderr=err)
    assert "0 orphaned output folder(s) removed." in out.getvalue()
    assert "could not be listed or cleaned for orphaned outputs" in err.getvalue()
