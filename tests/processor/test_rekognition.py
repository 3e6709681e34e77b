"""The ``rekognition`` analyzer over real HTTP: DetectLabels is answered by the moto server.

moto has no DetectModerationLabels, so the analyzer talks to a small local HTTP stub that speaks
Rekognition's JSON protocol (``X-Amz-Target: RekognitionService.<Action>``, an
``application/x-amz-json-1.1`` body): it answers DetectModerationLabels itself, with the labels a
test gives it, and forwards every other request, unchanged, to the moto server. This is the one
mocked piece, because nothing here can run Rekognition's moderation model.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from asyncimg_processor.analyzers import ERRORS_KEY, Rekognition
from asyncimg_processor.core import ProcessOptions, process
from tests.processor.images import encode
from tests.processor.test_analyzers import scene

MODERATION = "RekognitionService.DetectModerationLabels"


class RekognitionStub:
    def __init__(self, moto: str) -> None:
        self.moto = moto
        self.moderation_labels: list[dict[str, Any]] = []
        self.fail_moderation = False
        self.requests: list[tuple[str, dict[str, Any]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                target = self.headers.get("X-Amz-Target", "")
                stub.requests.append((target, json.loads(body)))
                if target == MODERATION:
                    if stub.fail_moderation:
                        self._answer(500, {"__type": "InternalServerError", "message": "down"})
                        return
                    labels = stub.moderation_labels
                    self._answer(200, {"ModerationLabels": labels, "ModerationModelVersion": "7.0"})
                    return
                forward = urllib.request.Request(  # noqa: S310 - the moto server's http URL
                    stub.moto + self.path,
                    data=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    method="POST",
                )
                with urllib.request.urlopen(forward, timeout=10) as response:  # noqa: S310 - same
                    status, payload = response.status, response.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _answer(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RekognitionStub]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = RekognitionStub(moto_endpoint)
    monkeypatch.setenv("ASYNCIMG_REKOGNITION_ENDPOINT_URL", server.url)
    yield server
    server.close()


def _process(data: bytes) -> dict[str, Any]:
    options = ProcessOptions(analyzers=(Rekognition(),))
    return process(data, options).metadata


def test_labels_come_from_detect_labels_and_moderation_from_the_stub(
    stub: RekognitionStub, moto_endpoint: str
) -> None:
    stub.moderation_labels = [
        {"Name": "Violence", "ParentName": "", "Confidence": 91.23456},
        {"Name": "Weapons", "ParentName": "Violence", "Confidence": 88.0},
    ]
    metadata = _process(encode(scene(4), "JPEG", quality=90))
    assert ERRORS_KEY not in metadata
    # What moto answers for the same call, asked directly.
    direct = boto3.client("rekognition", endpoint_url=moto_endpoint).detect_labels(
        Image={"Bytes": b"x"}
    )
    expected = [label["Name"] for label in direct["Labels"]][:20]
    result = metadata["rekognition"]
    assert expected
    assert [label["name"] for label in result["labels"]] == expected
    assert all(0 <= label["confidence"] <= 100 for label in result["labels"])
    assert result["moderationLabels"] == [
        {"name": "Violence", "parentName": "", "confidence": 91.23},
        {"name": "Weapons", "parentName": "Violence", "confidence": 88.0},
    ]
    # One request each, with the working image as a small JPEG (not the upload, not the frame).
    targets = [target for target, _ in stub.requests]
    assert targets == ["RekognitionService.DetectLabels", MODERATION]
    sent = base64.b64decode(stub.requests[1][1]["Image"]["Bytes"])
    assert sent[:3] == b"\xff\xd8\xff"
    assert len(sent) < 200_000
    assert stub.requests[0][1]["MinConfidence"] == 70.0


def test_a_rekognition_outage_is_recorded_and_the_image_still_succeeds(
    stub: RekognitionStub,
) -> None:
    stub.fail_moderation = True
    metadata = _process(encode(scene(5), "JPEG", quality=90))
    assert "rekognition" not in metadata
    assert "DetectModerationLabels" in metadata[ERRORS_KEY]["rekognition"]
    assert len(metadata[ERRORS_KEY]["rekognition"]) <= 200
    assert metadata["width"] == 2400
