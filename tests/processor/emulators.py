"""Emulators of the event paths on GCP and Azure, over real connections, started once per session:

* the Pub/Sub emulator (Debian package ``google-cloud-cli-pubsub-emulator``, from Google's apt
  repository: the machine image ships it; Java runs it);
* fake-gcs-server publishing Cloud Storage notifications (``OBJECT_FINALIZE``, payload
  ``JSON_API_V1``) to a topic of that emulator, as a bucket notification does on GCP;
* Azurite's queue service (``azurite-queue``, installed by scripts/emulators with the blob one).

Event Grid has no emulator: its deliveries are fed to the queue or the function in the exact
documented shape (:func:`blob_created_event`). Storage emulators come from ``tests/clouds.py``.

Bind the fixtures by name in a test module, as with ``tests/clouds.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests import clouds
from tests.live import AsgiServer

PROJECT = "asyncimg-test"
TOPIC = "asyncimg-uploads"
PUBSUB_EMULATOR = Path(
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
)


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _pubsub_emulator_binary() -> Path | None:
    if os.access(PUBSUB_EMULATOR, os.X_OK):
        return PUBSUB_EMULATOR
    gcloud = shutil.which("gcloud")
    if gcloud:
        root = Path(gcloud).resolve().parent.parent
        candidate = root / "platform/pubsub-emulator/bin/cloud-pubsub-emulator"
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Pub/Sub emulator on a free loopback port; ``PUBSUB_EMULATOR_HOST`` points at it for
    the session (google-cloud-pubsub and fake-gcs-server both read it)."""
    binary = _pubsub_emulator_binary()
    if binary is None or shutil.which("java") is None:
        _unavailable(
            "the Pub/Sub emulator is not installed: apt-get install "
            "google-cloud-cli-pubsub-emulator (Google's apt repository) and a Java runtime"
        )
    assert binary is not None
    port = clouds._free_port()
    host = f"127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("pubsub") / "emulator.log"
    # Any HTTP answer means the emulator listens (it answers its REST gateway's 404).
    process = clouds._start(
        [str(binary), "--host=127.0.0.1", f"--port={port}"], f"http://{host}/", log
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBSUB_EMULATOR_HOST", host)
        from google.cloud import pubsub_v1

        pubsub_v1.PublisherClient().create_topic(name=f"projects/{PROJECT}/topics/{TOPIC}")
        yield host
    clouds._stop(process)


def subscribe(prefix: str = "worker") -> str:
    """A new subscription of the notifications topic (it sees what is published from now on)."""
    from google.cloud import pubsub_v1

    name = f"projects/{PROJECT}/subscriptions/{prefix}-{uuid.uuid4().hex[:10]}"
    pubsub_v1.SubscriberClient().create_subscription(
        name=name, topic=f"projects/{PROJECT}/topics/{TOPIC}", ack_deadline_seconds=30
    )
    return name


@pytest.fixture(scope="session")
def fake_gcs_events(
    tmp_path_factory: pytest.TempPathFactory, gcs_key: Any, pubsub_emulator: str
) -> Iterator[str]:
    """fake-gcs-server publishing ``OBJECT_FINALIZE`` of ``temp/`` objects to the emulator's
    topic, as a GCS bucket notification with ``--object-prefix temp/`` does; its base URL."""
    binary = clouds._installed(clouds._fake_gcs_binary, "fake-gcs-server")
    port = clouds._free_port()
    url = f"http://127.0.0.1:{port}"
    process = clouds._start(
        [
            str(binary),
            *("-scheme", "http", "-backend", "memory", "-log-level", "warn"),
            *("-host", "127.0.0.1", "-port", str(port), "-external-url", url),
            *("-public-host", f"127.0.0.1:{port}"),
            *("-event.pubsub-project-id", PROJECT, "-event.pubsub-topic", TOPIC),
            *("-event.object-prefix", "temp/", "-event.list", "finalize,delete"),
        ],
        f"{url}/storage/v1/b",
        tmp_path_factory.mktemp("fake-gcs-events") / "server.log",
    )
    yield url
    clouds._stop(process)


def gcs_client(url: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
    )


def empty_bucket(url: str, name: str) -> Any:
    client = gcs_client(url)
    bucket = client.bucket(name)
    if not bucket.exists():
        client.create_bucket(name)
    for blob in client.list_blobs(name):
        blob.delete()
    return bucket


# --- Azure --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def azurite_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's queue service on a free loopback port; the development account's queue URL."""
    blob = clouds._installed(clouds._azurite_binary, "Azurite")
    binary = blob.with_name("azurite-queue")
    port = clouds._free_port()
    tmp = tmp_path_factory.mktemp("azurite-queue")
    process = clouds._start(
        [
            str(binary),
            *("--loose", "--skipApiVersionCheck", "--disableTelemetry", "--silent"),
            *("--location", str(tmp / "data"), "--queueHost", "127.0.0.1"),
            *("--queuePort", str(port)),
        ],
        f"http://127.0.0.1:{port}/",
        tmp / "log",
    )
    yield f"http://127.0.0.1:{port}/{clouds.AZURITE_ACCOUNT}"
    clouds._stop(process)


AZURITE_CREDENTIAL = {"account_name": clouds.AZURITE_ACCOUNT, "account_key": clouds.AZURITE_KEY}


def new_queue(endpoint: str) -> Any:
    """A new, empty Storage Queue on Azurite (a QueueClient with the account key)."""
    from azure.storage.queue import QueueClient

    queue = QueueClient(endpoint, f"uploads-{uuid.uuid4().hex[:10]}", credential=AZURITE_CREDENTIAL)
    queue.create_queue()
    return queue


def connection_string(blob_endpoint: str, queue_endpoint: str | None = None) -> str:
    parts = [
        "DefaultEndpointsProtocol=http",
        f"AccountName={clouds.AZURITE_ACCOUNT}",
        f"AccountKey={clouds.AZURITE_KEY}",
        f"BlobEndpoint={blob_endpoint}",
    ]
    if queue_endpoint:
        parts.append(f"QueueEndpoint={queue_endpoint}")
    return ";".join(parts) + ";"


def blob_created_event(
    blob_endpoint: str, container: str, name: str, properties: Any
) -> dict[str, Any]:
    """The ``Microsoft.Storage.BlobCreated`` event Event Grid delivers for a blob (Event Grid
    schema, as documented in "Azure Blob Storage as an Event Grid source"), from the blob's
    real properties. Event Grid has no emulator: tests deliver this themselves."""
    return {
        "topic": (
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/asyncimg"
            f"/providers/Microsoft.Storage/storageAccounts/{clouds.AZURITE_ACCOUNT}"
        ),
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": properties.last_modified.isoformat(),
        "id": str(uuid.uuid4()),
        "data": {
            "api": "PutBlob",
            "clientRequestId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
            "eTag": str(properties.etag).strip('"'),
            "contentType": properties.content_settings.content_type,
            "contentLength": properties.size,
            "blobType": "BlockBlob",
            "url": f"{blob_endpoint}/{container}/{quote(name)}",
            "sequencer": f"{uuid.uuid4().int % 10**32:032d}",
            "storageDiagnostics": {"batchId": str(uuid.uuid4())},
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


# --- a server of the project on another storage backend -----------------------------------------

_LAUNCHER = """
import json, os, sys, runpy
import django
django.setup()
from django.conf import settings
for name, value in json.loads(os.environ["ASYNCIMG_TEST_SETTINGS"]).items():
    setattr(settings, name, value)
sys.argv = ["uvicorn", *sys.argv[1:]]
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""


class ConfiguredAsgiServer(AsgiServer):
    """:class:`tests.live.AsgiServer` with Django settings set at start-up, the way
    ``override_settings`` sets them in the test process: the bundled project reads its storage
    backend's settings from no environment variable, and tests/settings.py is shared."""

    def __init__(self, redis_url: str, settings: dict[str, Any], *, name: str) -> None:
        super().__init__(redis_url, name=name, env={"ASYNCIMG_TEST_SETTINGS": json.dumps(settings)})

    def start(self) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": _database_url(),
            "DATABASE_CONN_MAX_AGE": "0",
            "ASYNCIMG_TEST_REDIS_LAYER": self.redis_url,
            "PYTHONPATH": f"{clouds.ROOT}{os.pathsep}{clouds.ROOT / 'lambda'}",
            **self.extra_env,
        }
        self.env = env
        args = [sys.executable, "-c", _LAUNCHER, self.app]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"]
        args += ["--lifespan", "off", *self.extra_args]
        self.process = subprocess.Popen(
            args, cwd=clouds.ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        from tests.live import wait_for_port

        wait_for_port(self.port, self.process)


def _database_url() -> str:
    from tests.live import test_database_url

    return test_database_url()
