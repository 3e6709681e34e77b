"""Building signed processor callbacks in tests, exactly as the contract describes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

SECRET = "test-callback-secret"


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    # Written out again on purpose (not imported from asyncimg): the test pins the contract.
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(
    body: bytes, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "X-Asyncimg-Timestamp": str(ts),
        "X-Asyncimg-Signature": signature(secret, ts, body),
        "Content-Type": "application/json",
    }


def image_payload(upload_id: str, *, prefix: str = "processed/") -> dict[str, Any]:
    base = f"{prefix}{upload_id}/"
    return {
        "key": base + "original.jpg",
        "width": 1600,
        "height": 1200,
        "format": "jpeg",
        "size": 123456,
        "variants": [
            {
                "name": f"{w}w.{fmt}",
                "width": w,
                "height": w * 3 // 4,
                "format": fmt,
                "key": f"{base}{w}w.{fmt}",
                "size": w * 10,
            }
            for w in (320, 800)
            for fmt in ("webp", "jpeg")
        ],
        "metadata": {"width": 1600, "height": 1200, "dominantColor": "#336699"},
    }


def callback_body(
    upload_id: str, event: str, *, event_id: str | None = None, **extra: Any
) -> bytes:
    body: dict[str, Any] = {
        "uploadId": upload_id,
        "event": event,
        "eventId": event_id or f"{upload_id}:{event}:{uuid.uuid4().hex[:8]}",
    }
    if event == "succeeded":
        body["image"] = image_payload(upload_id)
    if event == "failed":
        body["error"] = {"code": "UNSUPPORTED_TYPE", "message": "Not an image."}
    body.update(extra)
    return json.dumps(body).encode()
