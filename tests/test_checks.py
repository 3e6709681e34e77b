"""System checks report exact ids (like django-cors-headers' tests)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from asyncimg.checks import check_settings


def ids(**overrides: Any) -> list[str]:
    with override_settings(**overrides):
        return [message.id for message in check_settings() if message.id]


def test_test_settings_are_clean() -> None:
    assert ids() == []


def test_missing_bucket() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_BUCKET=None) == ["asyncimg.E001"]
    assert ids(ASYNC_IMAGE_UPLOAD_BUCKET="") == ["asyncimg.E001"]


@pytest.mark.parametrize(
    "name",
    [
        "PRESIGNED_URL_EXPIRATION",
        "PRESIGNED_URL_CONTENT_LENGTH",
        "MAX_FILES_PER_REQUEST",
        "MAX_PIXELS",
        "CALLBACK_REPLAY_WINDOW",
        "CALLBACK_MAX_BODY_SIZE",
        "MAX_PENDING_PER_OWNER",
    ],
)
@pytest.mark.parametrize("value", [0, -1])
def test_non_positive_limits(name: str, value: int) -> None:
    expected = ["asyncimg.E002"]
    if name == "PRESIGNED_URL_EXPIRATION":
        expected.append("asyncimg.E004")  # the 30 s reuse window is now longer than the expiry
    assert ids(**{f"ASYNC_IMAGE_UPLOAD_{name}": value}) == expected


def test_non_numeric_limit() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_MAX_PIXELS="lots") == ["asyncimg.E002"]


@pytest.mark.parametrize("value", [(0, 60), (10, 0), (-1, -1), ("x", 1)])
def test_bad_rate_limit(value: Any) -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_RATE_LIMIT=value) == ["asyncimg.E003"]


def test_reuse_window_must_be_shorter_than_expiration() -> None:
    assert ids(
        ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW=1000,
        ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_EXPIRATION=1000,
    ) == ["asyncimg.E004"]
    assert ids(ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW=-1) == ["asyncimg.E004"]
    assert ids(ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW=0) == []


def test_svg_in_allowlist() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=["image/jpeg", "image/svg+xml"]) == [
        "asyncimg.E005"
    ]


def test_unknown_types_in_allowlist() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=["image/*", "image/tiff"]) == [
        "asyncimg.E006"
    ]


def test_empty_allowlist() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=[]) == ["asyncimg.E007"]


def test_missing_callback_secret() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS=[]) == ["asyncimg.E008"]
    assert ids(ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS="short") == ["asyncimg.W001"]


def test_bad_variants() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS=[0, 100]) == ["asyncimg.E009"]
    assert ids(ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS=["bmp"]) == ["asyncimg.E009"]


def test_several_problems_are_all_reported() -> None:
    assert ids(
        ASYNC_IMAGE_UPLOAD_BUCKET=None,
        ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS=[],
        ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=["image/svg+xml"],
    ) == ["asyncimg.E001", "asyncimg.E005", "asyncimg.E008"]
