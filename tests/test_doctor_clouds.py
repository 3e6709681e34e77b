"""``manage.py asyncimg_doctor`` with the GCS backend on fake-gcs-server and the Azure backend on
Azurite (blob and queue services), over HTTP.

fake-gcs-server implements neither bucket CORS (a PATCH of ``cors`` is answered and not kept)
nor the notificationConfigs API (404): on it the doctor is shown to report a bucket without
CORS rules with the exact fix, and to report that notifications cannot be read. The judgement of
notifications is tested on the JSON API's documented shapes (``gcs_notification_findings``).
The Event Grid subscription of the Azure path is not visible to storage credentials; the doctor
says so (a warning) and checks the Storage Queue of the self-hosted path.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from asyncimg.management.commands._doctor_clouds import gcs_notification_findings
from tests import clouds
from tests.processor import emulators

fake_gcs, gcs, gcs_key, azurite, azure = (
    clouds.fake_gcs,
    clouds.gcs,
    clouds.gcs_key,
    clouds.azurite,
    clouds.azure,
)
azurite_queue = emulators.azurite_queue

ORIGIN = "https://shop.example.com"
pytestmark = pytest.mark.django_db


def doctor(*args: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("asyncimg_doctor", "--skip-callback", *args, stdout=out, no_color=True)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def fix_json(output: str, after: str) -> Any:
    text = output.split(after, 1)[1]
    lines = text[text.index("[") :].splitlines()
    for end in range(1, len(lines) + 1):
        try:
            return json.loads("\n".join(line.strip() for line in lines[:end]))
        except ValueError:
            continue
    raise AssertionError(f"no JSON after {after!r} in:\n{output}")


# --- Google Cloud Storage ------------------------------------------------------------------------


def test_gcs_bucket_without_cors_gets_the_exact_fix(gcs: Any) -> None:
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert f"[ok]   Bucket '{clouds.BUCKET}' exists and is reachable." in output
    assert f"CORS does not allow POST from {ORIGIN}: browsers cannot upload." in output
    assert f"gcloud storage buckets update gs://{clouds.BUCKET} --cors-file=cors.json" in output
    [rule] = fix_json(output, "Save as cors.json:")
    assert rule["origin"] == [ORIGIN]
    assert "POST" in rule["method"]
    # fake-gcs-server has no notificationConfigs API: reported, not taken for "none".
    assert "Cannot read the bucket's notifications" in output


def test_gcs_missing_bucket(gcs: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = f"missing-{uuid.uuid4().hex[:8]}"
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert f"Bucket '{settings.ASYNC_IMAGE_UPLOAD_BUCKET}' does not exist." in output
    assert f"gcloud storage buckets create gs://{settings.ASYNC_IMAGE_UPLOAD_BUCKET}" in output
    assert "CORS" not in output  # nothing else is asked of a bucket that is not there


TOPIC = "projects/p/topics/uploads"


def notification(**fields: Any) -> dict[str, Any]:
    return {
        "topic": TOPIC,
        "event_types": ["OBJECT_FINALIZE"],
        "blob_name_prefix": "temp/",
        "payload_format": "JSON_API_V1",
        **fields,
    }


@pytest.mark.parametrize(
    ("notifications", "topic", "level", "says"),
    [
        ([notification()], TOPIC, "ok", "OBJECT_FINALIZE under 'temp/' goes to"),
        ([notification(event_types=None)], None, "ok", "goes to"),
        ([notification(blob_name_prefix="processed/")], None, "FAIL", "No notification"),
        ([notification(event_types=["OBJECT_DELETE"])], None, "FAIL", "No notification"),
        ([notification()], "projects/p/topics/other", "FAIL", "to projects/p/topics/other"),
        ([notification(payload_format="NONE")], None, "FAIL", "sends no payload"),
        ([notification(blob_name_prefix=None)], None, "warn", "no object prefix"),
        ([], None, "FAIL", "No notification"),
    ],
)
def test_gcs_notifications_are_judged(
    notifications: list[dict[str, Any]], topic: str | None, level: str, says: str
) -> None:
    [finding] = gcs_notification_findings(notifications, "temp/", "b", topic)
    assert finding.level == level
    assert says in finding.message
    if level != "ok":
        assert "--event-types=OBJECT_FINALIZE --object-prefix=temp/ --payload-format=json" in (
            finding.fix
        )


# --- Azure Blob Storage --------------------------------------------------------------------------


@pytest.fixture
def azure_cors(azure: Any) -> Iterator[Any]:
    """The account's blob service, its CORS rules restored afterwards (they are account-wide,
    and the session's Azurite serves other tests)."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(clouds_url(azure), credential=clouds_credential())
    before = service.get_service_properties()["cors"]
    yield service
    service.set_service_properties(cors=before)


def clouds_url(container: Any) -> str:
    return str(container.url).rsplit("/", 1)[0]


def clouds_credential() -> dict[str, str]:
    return {"account_name": clouds.AZURITE_ACCOUNT, "account_key": clouds.AZURITE_KEY}


def test_azure_good_setup(azure_cors: Any, azurite_queue: str, settings: Any) -> None:
    from azure.storage.blob import CorsRule

    queue = emulators.new_queue(azurite_queue)
    settings.ASYNC_IMAGE_UPLOAD_AZURE_QUEUE_URL = queue.url
    azure_cors.set_service_properties(
        cors=[
            CorsRule([ORIGIN], ["PUT", "GET"], allowed_headers=["x-ms-blob-type", "content-type"])
        ]
    )
    output, error = doctor("--origin", ORIGIN)
    assert error is None, output
    assert f"Container '{clouds.BUCKET}' exists and is reachable." in output
    assert f"CORS allows PUT from {ORIGIN}." in output
    assert f"[ok]   The queue {queue.url} exists." in output
    assert "Event Grid subscription for BlobCreated is not visible" in output


@pytest.mark.parametrize(
    "rule",
    [
        {"allowed_origins": ["https://other.example.com"], "allowed_methods": ["PUT"]},
        {"allowed_origins": [ORIGIN], "allowed_methods": ["POST", "GET"]},
        # the PUT's x-ms-blob-type header is not allowed: the preflight fails
        {
            "allowed_origins": [ORIGIN],
            "allowed_methods": ["PUT"],
            "allowed_headers": ["content-type"],
        },
    ],
)
def test_azure_cors_that_stops_uploads(azure_cors: Any, rule: dict[str, Any]) -> None:
    from azure.storage.blob import CorsRule

    headers = rule.pop("allowed_headers", ["*"])
    azure_cors.set_service_properties(cors=[CorsRule(**rule, allowed_headers=headers)])
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert f"CORS does not allow PUT (with x-ms-blob-type and Content-Type) from {ORIGIN}" in output
    assert f"--methods PUT GET HEAD --origins {ORIGIN}" in output


def test_azure_missing_container_and_queue(azure: Any, azurite_queue: str, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = f"missing-{uuid.uuid4().hex[:8]}"
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert f"Container '{settings.ASYNC_IMAGE_UPLOAD_BUCKET}' does not exist" in output
    assert f"--name {settings.ASYNC_IMAGE_UPLOAD_BUCKET}" in output

    settings.ASYNC_IMAGE_UPLOAD_BUCKET = clouds.BUCKET
    settings.ASYNC_IMAGE_UPLOAD_AZURE_QUEUE_URL = f"{azurite_queue}/never-created"
    output, error = doctor("--origin", ORIGIN)
    assert error is not None
    assert f"The queue {azurite_queue}/never-created does not exist" in output
    assert "az storage queue create --account-name devstoreaccount1 --name never-created" in output
