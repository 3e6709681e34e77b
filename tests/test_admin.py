"""The admin: the three changelists and change pages render, and the cancel action cancels what is
not finished (published, with ``upload_failed``), and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from asyncimg.models import CallbackEvent, ProcessedImage, Upload, UploadStatus
from tests.test_callback import Published, make_upload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-unused"))
    return client


def ready_upload(user: Any) -> Upload:
    image = ProcessedImage.objects.create(
        key="processed/x/original.jpg",
        width=800,
        height=600,
        format="jpeg",
        size=1234,
        variants=[
            {
                "name": "320w.webp",
                "width": 320,
                "height": 240,
                "format": "webp",
                "key": "processed/x/320w.webp",
                "size": 99,
            },
        ],
        metadata={},
    )
    return make_upload(user, status=UploadStatus.READY, image=image)


def test_pages_render(admin_client: Client, user: Any) -> None:
    upload = ready_upload(user)
    CallbackEvent.objects.create(event_id="e1", upload=upload, event="succeeded")
    for model in ("upload", "processedimage", "callbackevent"):
        response = admin_client.get(reverse(f"admin:asyncimg_{model}_changelist"))
        assert response.status_code == 200, model
    page = admin_client.get(reverse("admin:asyncimg_upload_change", args=[upload.pk]))
    assert page.status_code == 200
    assert b"320w.webp" in page.content  # the preview shows the smallest variant
    searched = admin_client.get(reverse("admin:asyncimg_upload_changelist"), {"q": "cat.jpg"})
    assert searched.context["cl"].result_count == 1
    filtered = admin_client.get(reverse("admin:asyncimg_upload_changelist"), {"status": "READY"})
    assert filtered.context["cl"].result_count == 1


def test_cancel_action(admin_client: Client, user: Any, failed_signals: list[str]) -> None:
    pending, processing, ready = (
        make_upload(user),
        make_upload(user, status=UploadStatus.PROCESSING),
        ready_upload(user),
    )
    published = {u.pk: Published(u.pk) for u in (pending, processing, ready)}
    response = admin_client.post(
        reverse("admin:asyncimg_upload_changelist"),
        {"action": "cancel_uploads", "_selected_action": [pending.pk, processing.pk, ready.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Cancelled 2 upload(s)." in [str(m) for m in response.context["messages"]]
    for upload in (pending, processing):
        upload.refresh_from_db()
        assert (upload.status, upload.error_code) == (UploadStatus.FAILED, "CANCELLED")
        [message] = published[upload.pk].messages()
        assert message["upload"]["status"] == UploadStatus.FAILED
    ready.refresh_from_db()
    assert ready.status == UploadStatus.READY
    assert published[ready.pk].messages() == []
    assert sorted(failed_signals) == sorted([str(pending.pk), str(processing.pk)])
