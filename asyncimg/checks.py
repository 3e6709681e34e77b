"""System checks: bad configuration is reported at start-up with a stable id, never at the first
request. No network I/O here; ``manage.py asyncimg_doctor`` checks the real bucket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from asyncimg.conf import KNOWN_CONTENT_TYPES, PREFIX, app_settings


@register(Tags.compatibility)
def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if not app_settings.BUCKET:
        errors.append(
            Error(
                f"{PREFIX}BUCKET is not set.",
                hint="Name the bucket uploads go to: ASYNC_IMAGE_UPLOAD_BUCKET = 'my-uploads'.",
                id="asyncimg.E001",
            )
        )
    for name in (
        "PRESIGNED_URL_EXPIRATION",
        "PRESIGNED_URL_CONTENT_LENGTH",
        "MAX_FILES_PER_REQUEST",
        "MAX_PIXELS",
        "CALLBACK_REPLAY_WINDOW",
        "CALLBACK_MAX_BODY_SIZE",
        "MAX_PENDING_PER_OWNER",
    ):
        try:
            value = getattr(app_settings, name)
        except (TypeError, ValueError):
            value = None
        if value is None or value <= 0:
            errors.append(
                Error(
                    f"{PREFIX}{name} must be a positive number.",
                    hint=f"Set {PREFIX}{name} to a value above zero or remove it.",
                    id="asyncimg.E002",
                )
            )
    try:
        count, seconds = app_settings.RATE_LIMIT
        rate_ok = count > 0 and seconds > 0
    except (TypeError, ValueError):
        rate_ok = False
    if not rate_ok:
        errors.append(
            Error(
                f"{PREFIX}RATE_LIMIT must be a pair of positive numbers (uploads, seconds).",
                hint="For example ASYNC_IMAGE_UPLOAD_RATE_LIMIT = (100, 3600).",
                id="asyncimg.E003",
            )
        )
    window, expiration = (
        app_settings.PRESIGNED_URL_REUSE_WINDOW,
        app_settings.PRESIGNED_URL_EXPIRATION,
    )
    if window < 0 or window >= expiration:
        errors.append(
            Error(
                f"{PREFIX}PRESIGNED_URL_REUSE_WINDOW ({window}s) must be at least 0 and shorter "
                f"than {PREFIX}PRESIGNED_URL_EXPIRATION ({expiration}s).",
                hint="A reused credential must still have time left; 30 s of 1000 s is typical.",
                id="asyncimg.E004",
            )
        )
    allowed = app_settings.ALLOWED_CONTENT_TYPES
    if any("svg" in t for t in allowed):
        errors.append(
            Error(
                f"{PREFIX}ALLOWED_CONTENT_TYPES contains SVG.",
                hint="SVG is a script container (stored XSS when served); remove image/svg+xml.",
                id="asyncimg.E005",
            )
        )
    unknown = sorted(t for t in allowed if t not in KNOWN_CONTENT_TYPES and "svg" not in t)
    if unknown:
        errors.append(
            Error(
                f"{PREFIX}ALLOWED_CONTENT_TYPES has types the processor cannot decode: "
                f"{', '.join(unknown)}.",
                hint=f"Use exact types among: {', '.join(sorted(KNOWN_CONTENT_TYPES))}.",
                id="asyncimg.E006",
            )
        )
    if not allowed:
        errors.append(
            Error(
                f"{PREFIX}ALLOWED_CONTENT_TYPES is empty: nothing could be uploaded.",
                hint="Remove the setting to accept JPEG, PNG, WebP, GIF, HEIC and AVIF.",
                id="asyncimg.E007",
            )
        )
    if not app_settings.CALLBACK_SECRETS:
        errors.append(
            Error(
                f"{PREFIX}CALLBACK_SECRETS is empty: processor callbacks cannot be verified.",
                hint='Set a list of long random strings, e.g. from `python -c "import secrets; '
                'print(secrets.token_urlsafe(32))"`; the processor signs with the same secret.',
                id="asyncimg.E008",
            )
        )
    elif any(len(secret) < 16 for secret in app_settings.CALLBACK_SECRETS):
        errors.append(
            Warning(
                f"{PREFIX}CALLBACK_SECRETS has a secret shorter than 16 characters.",
                hint="Use at least 32 random characters.",
                id="asyncimg.W001",
            )
        )
    widths = app_settings.VARIANT_WIDTHS
    formats = app_settings.VARIANT_FORMATS
    if any(w <= 0 for w in widths) or not set(formats) <= {"webp", "jpeg", "png", "avif"}:
        errors.append(
            Error(
                f"{PREFIX}VARIANT_WIDTHS must be positive and {PREFIX}VARIANT_FORMATS among "
                "webp, jpeg, png, avif.",
                hint="The defaults are (320, 800, 1600) and ('webp', 'jpeg').",
                id="asyncimg.E009",
            )
        )
    return errors
