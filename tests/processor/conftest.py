"""Fixtures of the processor tests: a real HTTP callback receiver and S3/SQS on the moto server.

``moto_endpoint`` (the moto server over HTTP) comes from ``tests/conftest.py``.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from asyncimg_processor.callback import sign

CALLBACK_SECRET = "processor-test-secret"


@dataclass
class ReceivedCallback:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


@dataclass
class CallbackReceiver:
    """Records every POST; answers from ``script`` (status codes, or "hang") then with 200."""

    url: str = ""
    secret: str = CALLBACK_SECRET
    received: list[ReceivedCallback] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    hang_seconds: float = 2.0
    #: JSON answered to a successful callback of that event (default ``{"ok": true}``)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def events(self) -> list[str]:
        return [r.json["event"] for r in self.received]


class _Handler(BaseHTTPRequestHandler):
    receiver: CallbackReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        timestamp = self.headers.get("X-Asyncimg-Timestamp", "")
        expected = sign(self.receiver.secret, int(timestamp or 0), body)
        ok = hmac.compare_digest(expected, self.headers.get("X-Asyncimg-Signature", ""))
        # Same replay window as the app: a stale timestamp is a bad signature.
        ok = ok and abs(time.time() - int(timestamp or 0)) <= 300
        self.receiver.received.append(ReceivedCallback(dict(self.headers), body, ok))
        action = self.receiver.script.pop(0) if self.receiver.script else 200
        if action == "hang":
            time.sleep(self.receiver.hang_seconds)
            action = 200
        status = int(action) if ok else 401
        answer = self.receiver.answers.get(json.loads(body or b"{}").get("event", ""))
        if status >= 400:
            payload = b'{"error": "nope"}'
        else:
            payload = json.dumps(answer).encode() if answer else b'{"ok": true}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def callback_receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    handler = type("Handler", (_Handler,), {"receiver": receiver})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    receiver.url = f"http://{host!s}:{port}/async_image/callback/"
    yield receiver
    server.shutdown()
    server.server_close()


@dataclass
class AwsWorld:
    """A bucket whose temp/ uploads notify an SQS queue, as the SAM stack wires them."""

    endpoint: str
    bucket: str
    queue_url: str
    s3: Any
    sqs: Any

    def upload(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def receive_event(self, expected: int = 1) -> dict[str, Any]:
        """The queued notifications as the SQS event Lambda would be invoked with."""
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5
        while len(records) < expected and time.monotonic() < deadline:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            records += [
                {
                    "eventSource": "aws:sqs",
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                }
                for m in response.get("Messages", [])
                if "s3:TestEvent" not in m["Body"]
            ]
        assert len(records) == expected, records
        return {"Records": records}

    def keys(self, prefix: str = "") -> list[str]:
        response = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for obj in response.get("Contents", []))


@pytest.fixture
def aws(moto_endpoint: str) -> AwsWorld:
    name = f"proc-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    queue_url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "temp/"}]}},
                }
            ]
        },
    )
    return AwsWorld(moto_endpoint, name, queue_url, s3, sqs)
