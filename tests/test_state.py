"""The transfer object sent over the channel layer."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import msgpack
import pytest

from asyncimg.services.state import ImageState, UploadState, VariantState

NOW = datetime(2026, 11, 25, 16, 30, 5, 123456, tzinfo=UTC)


def state(image: ImageState | None) -> UploadState:
    return UploadState(
        id="8d3f0a8e-8f7c-4a43-9a57-0c3c1c2f6a01",
        status="READY" if image else "PROCESSING",
        version=3,
        filename="cat.jpg",
        content_type="image/jpeg",
        size=123_456,
        created_at=NOW,
        updated_at=NOW + timedelta(seconds=2),
        expires_at=NOW + timedelta(minutes=15),
        error_code="",
        error_message="",
        image=image,
        owner_key="u42",
    )


IMAGE = ImageState(
    id="0b8f3c1e-6a52-4d4e-8a39-d1f1f5b8e2aa",
    width=1600,
    height=1200,
    format="jpeg",
    url="https://bucket.s3.amazonaws.com/processed/x/original.jpg?X-Amz-Signature=ab",
    variants=(
        VariantState("w320", 320, 240, "webp", "https://example.test/w320.webp", 9_000),
        VariantState("w800", 800, 600, "jpeg", "https://example.test/w800.jpg", 40_000),
    ),
    metadata={"exif": {"Orientation": 6}, "camera": ["a", "b"]},
)


@pytest.mark.parametrize("image", [None, IMAGE], ids=["no image", "image"])
def test_message_is_asdict_with_iso_dates(image: ImageState | None) -> None:
    subject = state(image)
    expected = asdict(subject)
    for name in ("created_at", "updated_at", "expires_at"):
        expected[name] = expected[name].isoformat()
    # Compared as they travel: msgpack (the Redis layer) makes tuples and lists the same array.
    wire = msgpack.unpackb(msgpack.packb(subject.to_message()))
    assert wire == json.loads(json.dumps(expected))


@pytest.mark.parametrize("image", [None, IMAGE], ids=["no image", "image"])
def test_message_round_trip(image: ImageState | None) -> None:
    subject = state(image)
    wire = msgpack.unpackb(msgpack.packb(subject.to_message()))
    assert UploadState.from_message(wire) == subject
