"""``asyncimg_worker``'s choice of event source: ``--source``, or the one queue setting set.
(The sources themselves run against the emulators in tests/test_pipeline_gcs.py and
tests/test_pipeline_azure.py, and against moto in test_worker_command.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from asyncimg.management.commands.asyncimg_worker import build_worker, configured_source
from tests import clouds

QUEUES = {
    "ASYNC_IMAGE_UPLOAD_QUEUE_URL": "http://127.0.0.1:9/000000000000/uploads",
    "ASYNC_IMAGE_UPLOAD_PUBSUB_SUBSCRIPTION": "projects/p/subscriptions/uploads",
    "ASYNC_IMAGE_UPLOAD_AZURE_QUEUE_URL": "http://127.0.0.1:9/devstoreaccount1/uploads",
}


@pytest.fixture
def no_queues(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """No queue set; credentials that need no network: an emulator endpoint for GCS and
    Pub/Sub (anonymous), Azurite's published account key for Azure."""
    for name in QUEUES:
        setattr(settings, name, None)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = "http://127.0.0.1:9/devstoreaccount1"
    settings.ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_NAME = clouds.AZURITE_ACCOUNT
    settings.ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY = clouds.AZURITE_KEY
    return settings


@pytest.mark.parametrize(
    ("setting", "source"),
    [
        ("ASYNC_IMAGE_UPLOAD_QUEUE_URL", "sqs"),
        ("ASYNC_IMAGE_UPLOAD_PUBSUB_SUBSCRIPTION", "pubsub"),
        ("ASYNC_IMAGE_UPLOAD_AZURE_QUEUE_URL", "azure-queue"),
    ],
)
def test_the_one_queue_set_is_the_source(no_queues: Any, setting: str, source: str) -> None:
    setattr(no_queues, setting, QUEUES[setting])
    assert configured_source() == source
    # Building connects to nothing yet: the worker names what it will read.
    assert build_worker().source == QUEUES[setting]


def test_no_queue_names_every_setting(no_queues: Any) -> None:
    with pytest.raises(CommandError) as error:
        call_command("asyncimg_worker", "--once")
    for setting in QUEUES:
        assert setting in str(error.value)


def test_several_queues_ask_for_source(no_queues: Any) -> None:
    for name, value in QUEUES.items():
        setattr(no_queues, name, value)
    with pytest.raises(CommandError, match="--source"):
        build_worker()
    assert build_worker(source="azure-queue").source == QUEUES["ASYNC_IMAGE_UPLOAD_AZURE_QUEUE_URL"]


def test_a_source_without_its_setting_names_it(no_queues: Any) -> None:
    no_queues.ASYNC_IMAGE_UPLOAD_QUEUE_URL = QUEUES["ASYNC_IMAGE_UPLOAD_QUEUE_URL"]
    with pytest.raises(CommandError, match="ASYNC_IMAGE_UPLOAD_PUBSUB_SUBSCRIPTION"):
        call_command("asyncimg_worker", "--source", "pubsub", "--once")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("asyncimg_worker", "--source", "kafka")
