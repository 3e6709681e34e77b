"""System checks: bad configuration is reported at start-up with a stable id, never at the first
request. No network I/O here; ``manage.py asyncimg_doctor`` checks the real bucket.

A value of the wrong type, or one that does not parse, is reported under the id of its setting's
check (or ``asyncimg.E010``); a check never raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from asyncimg.conf import KNOWN_CONTENT_TYPES, PREFIX, app_settings

#: What reading a setting of the wrong type or an unparsable value raises (``int("abc")``,
#: ``int(float("inf"))``, iterating a number).
UNREADABLE = (TypeError, ValueError, OverflowError)
#: what the processor encodes (``asyncimg_processor.core.ProcessOptions``, not imported here: it
#: pulls in Pillow); tests/test_checks.py holds the two to the same list
SUPPORTED_VARIANT_FORMATS = ("webp", "jpeg")


class _Unreadable:
    """Marks a setting whose value could not be read; the reason is already reported."""


INVALID = _Unreadable()


def _read(name: str) -> Any:
    try:
        return getattr(app_settings, name)
    except UNREADABLE:
        return INVALID


def _raw(name: str) -> str:
    """The value as written in settings, shortened for a message. Not for secrets."""
    text = repr(getattr(settings, PREFIX + name, None))
    return text if len(text) <= 60 else text[:57] + "..."


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
        "DOWNLOAD_URL_EXPIRATION",
        "GRAPHQL_MAX_DEPTH",
        "GRAPHQL_MAX_COST",
        "GRAPHQL_MAX_BYTES",
        "GRAPHQL_MAX_LIST_LENGTH",
        "MAX_SUBSCRIPTIONS_PER_CONNECTION",
        "PROCESSING_TIMEOUT",
        "CALLBACK_EVENT_RETENTION",
    ):
        value = _read(name)
        if value is INVALID or value <= 0:
            errors.append(
                Error(
                    f"{PREFIX}{name} must be a positive whole number, not {_raw(name)}.",
                    hint=f"Set {PREFIX}{name} to a number above zero (e.g. 1000, not '1000 s' "
                    "or '1e3'), or remove it to use the default.",
                    id="asyncimg.E002",
                )
            )
    for name in ("CONNECTION_INIT_TIMEOUT", "KEEPALIVE_INTERVAL"):
        seconds = _read(name)
        if seconds is INVALID or not 0 < seconds < float("inf"):
            errors.append(
                Error(
                    f"{PREFIX}{name} must be a positive number of seconds, not {_raw(name)}.",
                    hint=f"Set {PREFIX}{name} to a number above zero (e.g. 10 or 2.5), or remove "
                    "it to use the default.",
                    id="asyncimg.E002",
                )
            )
    for name in ("RATE_LIMIT", "ANONYMOUS_RATE_LIMIT"):
        rate = _read(name)
        if rate is INVALID or rate[0] <= 0 or rate[1] <= 0:
            errors.append(
                Error(
                    f"{PREFIX}{name} must be a pair of positive numbers (uploads, seconds), "
                    f"not {_raw(name)}.",
                    hint=f"For example {PREFIX}{name} = (100, 3600).",
                    id="asyncimg.E003",
                )
            )
    window, expiration = _read("PRESIGNED_URL_REUSE_WINDOW"), _read("PRESIGNED_URL_EXPIRATION")
    if window is INVALID:
        errors.append(
            Error(
                f"{PREFIX}PRESIGNED_URL_REUSE_WINDOW must be a whole number of seconds, not "
                f"{_raw('PRESIGNED_URL_REUSE_WINDOW')}.",
                hint="For example ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW = 30; 0 turns "
                "reuse off.",
                id="asyncimg.E004",
            )
        )
    # An unreadable expiration is E002 above; only the window's own bound is left to check then.
    elif window < 0 or (expiration is not INVALID and window >= expiration):
        than = "" if expiration is INVALID else f" ({expiration}s)"
        errors.append(
            Error(
                f"{PREFIX}PRESIGNED_URL_REUSE_WINDOW ({window}s) must be at least 0 and shorter "
                f"than {PREFIX}PRESIGNED_URL_EXPIRATION{than}.",
                hint="A reused credential must still have time left; 30 s of 1000 s is typical.",
                id="asyncimg.E004",
            )
        )
    allowed = _read("ALLOWED_CONTENT_TYPES")
    if allowed is INVALID:
        errors.append(
            Error(
                f"{PREFIX}ALLOWED_CONTENT_TYPES must be a list of content types, not "
                f"{_raw('ALLOWED_CONTENT_TYPES')}.",
                hint="For example ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES = ['image/jpeg', "
                "'image/png']; remove the setting to accept JPEG, PNG, WebP, GIF, HEIC and AVIF.",
                id="asyncimg.E010",
            )
        )
    else:
        errors += _check_allowed_types(allowed)
    secrets = _read("CALLBACK_SECRETS")
    if secrets is INVALID:
        errors.append(
            Error(
                # The type only: the value may be a secret.
                f"{PREFIX}CALLBACK_SECRETS must be a list of strings, not "
                f"{type(getattr(settings, PREFIX + 'CALLBACK_SECRETS', None)).__name__}.",
                hint="For example ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = ['<32 random characters>']"
                "; while rotating, list the new secret first and keep the old one.",
                id="asyncimg.E008",
            )
        )
    elif not secrets:
        errors.append(
            Error(
                f"{PREFIX}CALLBACK_SECRETS is empty: processor callbacks cannot be verified.",
                hint='Set a list of long random strings, e.g. from `python -c "import secrets; '
                'print(secrets.token_urlsafe(32))"`; the processor signs with the same secret.',
                id="asyncimg.E008",
            )
        )
    elif any(len(secret) < 16 for secret in secrets):
        errors.append(
            Warning(
                f"{PREFIX}CALLBACK_SECRETS has a secret shorter than 16 characters.",
                hint="Use at least 32 random characters.",
                id="asyncimg.W001",
            )
        )
    errors += _check_variants()
    return errors


def _check_allowed_types(allowed: tuple[str, ...]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
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
        hint = f"Use exact types among: {', '.join(sorted(KNOWN_CONTENT_TYPES))}."
        if any("," in t for t in unknown):
            # One string is one type (as with CALLBACK_SECRETS); it is never split on commas.
            hint = (
                "Write a list with one type per item, e.g. ['image/jpeg', 'image/png'], not one "
                f"comma-separated string. {hint}"
            )
        errors.append(
            Error(
                f"{PREFIX}ALLOWED_CONTENT_TYPES has types the processor cannot decode: "
                f"{', '.join(unknown)}.",
                hint=hint,
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
    return errors


def _check_variants() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    widths, formats = _read("VARIANT_WIDTHS"), _read("VARIANT_FORMATS")
    if widths is INVALID:
        errors.append(
            Error(
                f"{PREFIX}VARIANT_WIDTHS must be a list of widths in pixels, not "
                f"{_raw('VARIANT_WIDTHS')}.",
                hint="For example ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS = (320, 800, 1600); a single "
                "width is (800,).",
                id="asyncimg.E009",
            )
        )
    if formats is INVALID:
        errors.append(
            Error(
                f"{PREFIX}VARIANT_FORMATS must be a list of formats, not "
                f"{_raw('VARIANT_FORMATS')}.",
                hint=f"For example ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS = ('webp', 'jpeg'); the "
                f"formats are {', '.join(SUPPORTED_VARIANT_FORMATS)}.",
                id="asyncimg.E009",
            )
        )
    bad_widths = widths is not INVALID and any(w <= 0 for w in widths)
    bad_formats = formats is not INVALID and not set(formats) <= set(SUPPORTED_VARIANT_FORMATS)
    if bad_widths or bad_formats:
        errors.append(
            Error(
                f"{PREFIX}VARIANT_WIDTHS must be positive and {PREFIX}VARIANT_FORMATS among "
                f"{', '.join(SUPPORTED_VARIANT_FORMATS)}.",
                hint="The defaults are (320, 800, 1600) and ('webp', 'jpeg').",
                id="asyncimg.E009",
            )
        )
    return errors
