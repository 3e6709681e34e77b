"""The npm package's client (``clients/js``) in Node against the real server, authenticated by a
bearer token only, through the whole upload: GraphQL over HTTP with ``Authorization: Bearer``,
the presigned POST to S3 (moto server), the S3 event → SQS → worker → the Lambda handler →
signed callback, and the result pushed over graphql-ws with the token in ``connection_init``.

The Node script is ``clients/js/test/integration/token-upload.mjs``. It runs against the
committed browser bundle (``asyncimg/static/asyncimg/client.js``: graphql-ws inside, so no npm
install is needed) and, when ``scripts/js-test`` has installed ``clients/js/node_modules``,
against the package's own build (``dist/index.js``, graphql-ws from node_modules).

Without ``node`` the test skips locally and FAILS under CI (``CI`` set).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncimg.management.commands.asyncimg_worker import build_worker
from asyncimg.models import Upload, UploadStatus
from config.embedded import provision
from tests.images import jpeg_bytes
from tests.live import ROOT, AsgiServer, running
from tests.tokens import make_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

JS = ROOT / "clients" / "js"
SCRIPT = JS / "test" / "integration" / "token-upload.mjs"
BUNDLE = ROOT / "asyncimg" / "static" / "asyncimg" / "client.js"
BUCKET = "asyncimg-js-client"

#: The server's settings: the test settings with the token authenticator, the storage and queue
#: of this test, and the in-memory channel layer (one uvicorn process serves the callback and the
#: websocket, so the push needs no Redis).
SETTINGS = """
from tests.settings import *  # noqa: F403

ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR = "tests.tokens.authenticate"
ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = {endpoint!r}
ASYNC_IMAGE_UPLOAD_BUCKET = {bucket!r}
ASYNC_IMAGE_UPLOAD_QUEUE_URL = {queue_url!r}
ASYNC_IMAGE_UPLOAD_CALLBACK_URL = {callback_url!r}
CHANNEL_LAYERS = {{"default": {{"BACKEND": "channels.layers.InMemoryChannelLayer"}}}}
"""


def node() -> str:
    found = shutil.which("node")
    if found is None:
        message = "Node.js is not installed: `apt-get install nodejs` (Node 20 or later)."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def node_args(binary: str) -> list[str]:
    """Node 20 has WebSocket behind a flag; from Node 22 on it is a global."""
    version = subprocess.check_output([binary, "-p", "process.versions.node"], text=True)
    major = int(version.split(".")[0])
    return [binary, "--experimental-websocket"] if major < 22 else [binary]


def package_build() -> Path:
    """``clients/js/dist/index.js``, built now from the installed dev dependencies."""
    tsup = JS / "node_modules" / ".bin" / "tsup"
    if not tsup.exists():
        pytest.skip("clients/js/node_modules is not installed: run scripts/js-test first")
    subprocess.run([str(tsup), "--silent"], cwd=JS, check=True, timeout=120)
    return JS / "dist" / "index.js"


@pytest.fixture
def worker() -> Iterator[None]:
    """The processor, receiving the bucket's events as `manage.py asyncimg_worker` does."""
    sqs_worker = build_worker(wait_time=1)
    thread = threading.Thread(target=sqs_worker.run, daemon=True)
    thread.start()
    yield
    sqs_worker.stop()
    thread.join(30)


@pytest.fixture
def server(moto_endpoint: str, settings: Any, tmp_path: Path) -> Iterator[AsgiServer]:
    server = AsgiServer("", name="js-client")
    # Node sends no Origin and needs no CORS; the bucket is provisioned as for a browser anyway.
    provisioned = provision(
        moto_endpoint,
        bucket=BUCKET,
        queue="asyncimg-js-client-events",
        origins=[server.url],
        prefix="temp/",
    )
    callback_url = f"{server.url}/async_image/callback/"
    (tmp_path / "js_client_settings.py").write_text(
        SETTINGS.format(
            endpoint=moto_endpoint,
            bucket=BUCKET,
            queue_url=provisioned.queue_url,
            callback_url=callback_url,
        )
    )
    server.extra_env = {
        "DJANGO_SETTINGS_MODULE": "js_client_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), str(ROOT / "lambda")]),
    }
    # The worker runs here, on this process' settings: the same storage, queue and callback.
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = moto_endpoint
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = BUCKET
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = provisioned.queue_url
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = callback_url
    with running(server):
        yield server


@pytest.mark.parametrize("build", ["static-bundle", "npm-package"])
def test_node_client_uploads_with_a_bearer_token_only(
    build: str, server: AsgiServer, worker: None, user: Any, tmp_path: Path
) -> None:
    binary = node()
    module = BUNDLE if build == "static-bundle" else package_build()
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg_bytes(1200, 900))
    env = {
        **os.environ,
        "ASYNCIMG_CLIENT": str(module),
        "ASYNCIMG_GRAPHQL_URL": f"{server.url}/graphql/",
        "ASYNCIMG_TOKEN": make_token(user),
        "ASYNCIMG_JPEG": str(photo),
    }
    finished = subprocess.run(
        [*node_args(binary), str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, (
        f"{finished.stderr}\n{finished.stdout}\n--- server log ---\n{server.output()}"
    )
    result = json.loads(finished.stdout.strip().splitlines()[-1])

    assert result["refusal"] == "UNSUPPORTED_CONTENT_TYPE"

    ready = result["ready"]
    assert ready["status"] == "READY"
    assert ready["filename"] == "token photo.jpg"
    assert ready["width"] == 1200
    assert {name.split(".")[0] for name in ready["variants"]} == {"320w", "800w"}
    # The ticket's PENDING first, each state once, never backwards, READY last (PROCESSING is
    # seen unless the processor finished before the websocket subscribed: then the current
    # state the server sends first is READY itself).
    statuses = result["statuses"]
    order = ["PENDING", "UPLOADED", "PROCESSING", "READY"]
    assert statuses[0] == "PENDING"
    assert statuses[-1] == "READY"
    assert statuses == sorted(set(statuses), key=order.index), statuses
    assert result["lastProgress"] == 1
    upload = Upload.objects.get(pk=ready["id"])
    assert upload.owner == user
    assert upload.status == UploadStatus.READY

    # Aborted once granted: the promise rejected ABORTED and cancelUpload reached the server.
    assert result["abort"] == "ABORTED"
    assert result["cancelledState"] == {"status": "FAILED", "error": {"code": "CANCELLED"}}
    assert Upload.objects.get(pk=result["cancelledId"]).error_code == "CANCELLED"

    assert result["badTokenHttp"] == "UNAUTHENTICATED"
    assert result["badTokenWebsocket"] == "UNAUTHENTICATED"

    # The token was the only credential: on every request, no cookie either way, no CSRF token.
    graphql = [e for e in result["exchanges"] if e["url"].endswith("/graphql/")]
    assert len(graphql) >= 4
    assert all(e["authorization"] == f"Bearer {env['ASYNCIMG_TOKEN']}" for e in graphql)
    assert not any(e["csrf"] or e["cookieSent"] or e["setCookie"] for e in graphql)
    # HTTP requests and the websocket's connection_init each asked getToken.
    assert result["tokenCalls"] > len(graphql)
    assert result["states"][:2] == ["connecting", "connected"]
    assert result["states"][-1] == "idle"
