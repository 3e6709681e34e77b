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
from django.utils.module_loading import import_string

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


#: settings only some backends read: each is reported when the configured backend does not
CLOUD_SETTINGS = (
    "GCS_PROJECT",
    "GCS_SERVICE_ACCOUNT_EMAIL",
    "AZURE_ACCOUNT_NAME",
    "AZURE_ACCOUNT_KEY",
    "AZURE_CONNECTION_STRING",
    "AZURE_USER_DELEGATION",
)
#: the extra that installs each bundled backend's client library
EXTRAS = {"asyncimg.storage.gcs.": "gcs", "asyncimg.storage.azure.": "azure"}


@register(Tags.compatibility)
def check_storage(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """The storage backend can be imported and has what it needs to sign. Imports the backend's
    module (and its client library); builds no client and asks no cloud anything."""
    from asyncimg.storage.base import StorageBackend

    path = app_settings.STORAGE_BACKEND
    try:
        backend = import_string(path)
    except ImportError as exc:
        # A missing client library, not a typo in the path: name the extra that installs it.
        missing = isinstance(exc, ModuleNotFoundError) and not (exc.name or "").startswith(
            "asyncimg"
        )
        extra = next((e for p, e in EXTRAS.items() if missing and path.startswith(p)), None)
        hint = (
            f"Install its client library: pip install 'django-async-image-upload[{extra}]'."
            if extra
            else "Name a StorageBackend class by its dotted path, e.g. "
            "'asyncimg.storage.s3.S3Backend'."
        )
        return [
            Error(
                f"{PREFIX}STORAGE_BACKEND {path!r} cannot be imported: {exc}.",
                hint=hint,
                id="asyncimg.E011",
            )
        ]
    if not (isinstance(backend, type) and issubclass(backend, StorageBackend)):
        return [
            Error(
                f"{PREFIX}STORAGE_BACKEND {path!r} is not a StorageBackend class.",
                hint="Name a subclass of asyncimg.storage.base.StorageBackend, e.g. "
                "'asyncimg.storage.gcs.GCSBackend'.",
                id="asyncimg.E011",
            )
        ]
    reads = set(getattr(backend, "setting_options", {}).values())
    errors: list[CheckMessage] = [
        Warning(
            f"{PREFIX}{name} is set, but {PREFIX}STORAGE_BACKEND ({path}) does not read it.",
            hint="Set STORAGE_BACKEND to the backend of that cloud "
            "('asyncimg.storage.gcs.GCSBackend', 'asyncimg.storage.azure.AzureBlobBackend'), or "
            "remove the setting.",
            id="asyncimg.W002",
        )
        for name in CLOUD_SETTINGS
        if name not in reads and getattr(settings, PREFIX + name, None) not in (None, "", False)
    ]
    if "AZURE_ACCOUNT_NAME" in reads:
        errors += _check_azure()
    if "GCS_SERVICE_ACCOUNT_EMAIL" in reads:
        email = app_settings.GCS_SERVICE_ACCOUNT_EMAIL
        if email is not None and "@" not in email:
            errors.append(
                Error(
                    f"{PREFIX}GCS_SERVICE_ACCOUNT_EMAIL must be a service account's email, not "
                    f"{_raw('GCS_SERVICE_ACCOUNT_EMAIL')}.",
                    hint="For example 'uploads@my-project.iam.gserviceaccount.com': the account "
                    "the service runs as, which IAM signBlob signs as.",
                    id="asyncimg.E014",
                )
            )
    return errors


def _check_azure() -> list[CheckMessage]:
    connection_string = app_settings.AZURE_CONNECTION_STRING
    name, key = app_settings.AZURE_ACCOUNT_NAME, app_settings.AZURE_ACCOUNT_KEY
    delegation = app_settings.AZURE_USER_DELEGATION
    if connection_string and (name or key):
        return [
            Error(
                f"{PREFIX}AZURE_CONNECTION_STRING and {PREFIX}AZURE_ACCOUNT_NAME/_KEY are both "
                "set.",
                hint="Use one: the connection string holds the account's name and key.",
                id="asyncimg.E013",
            )
        ]
    # Key=value pairs separated by ';' (the key itself may end in '='), as Azure writes them.
    parts = dict(part.split("=", 1) for part in (connection_string or "").split(";") if "=" in part)
    if connection_string:
        name, key = parts.get("AccountName"), parts.get("AccountKey")
    if not name:
        where = " and the connection string names no AccountName" if connection_string else ""
        return [
            Error(
                f"{PREFIX}AZURE_ACCOUNT_NAME is not set{where}.",
                hint="Name the storage account (ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_NAME = "
                "'myaccount'), or set ASYNC_IMAGE_UPLOAD_AZURE_CONNECTION_STRING; BUCKET names "
                "the container.",
                id="asyncimg.E012",
            )
        ]
    if delegation and key and not connection_string:
        return [
            Error(
                f"{PREFIX}AZURE_USER_DELEGATION and {PREFIX}AZURE_ACCOUNT_KEY are both set.",
                hint="A user delegation SAS is signed with Entra ID, not the account key: remove "
                "the key (safer), or turn user delegation off.",
                id="asyncimg.E013",
            )
        ]
    if not delegation and not key:
        return [
            Error(
                "Nothing to sign Azure SAS tokens with: no account key"
                + (" in the connection string." if connection_string else "."),
                hint="Set ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY, or "
                "ASYNC_IMAGE_UPLOAD_AZURE_USER_DELEGATION = True to sign with Entra ID "
                "(managed identity, workload identity).",
                id="asyncimg.E013",
            )
        ]
    return []


@register(Tags.compatibility)
def check_observability(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Metrics and traces: the library each needs, the multi-process directory, the token."""
    import importlib.util
    import os

    from asyncimg import metrics

    errors: list[CheckMessage] = []
    if app_settings.METRICS and not metrics.installed():
        errors.append(
            Error(
                f"{PREFIX}METRICS is on, but prometheus-client is not installed.",
                hint="pip install 'django-async-image-upload[metrics]', or turn METRICS off.",
                id="asyncimg.E015",
            )
        )
    if app_settings.TRACING and importlib.util.find_spec("opentelemetry") is None:
        errors.append(
            Error(
                f"{PREFIX}TRACING is on, but opentelemetry-api is not installed.",
                hint="pip install 'django-async-image-upload[otel]', or turn TRACING off.",
                id="asyncimg.E016",
            )
        )
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if app_settings.METRICS and directory and not os.access(directory, os.W_OK | os.X_OK):
        errors.append(
            Error(
                f"PROMETHEUS_MULTIPROC_DIR ({directory!r}) is not a writable directory.",
                hint="Create it (empty) before the server processes start; every process of one "
                "deployment shares it.",
                id="asyncimg.E017",
            )
        )
    token = app_settings.METRICS_TOKEN
    if token is not None and len(token) < 16:
        errors.append(
            Warning(
                f"{PREFIX}METRICS_TOKEN is shorter than 16 characters.",
                hint="Use at least 32 random characters: it guards the metrics endpoint.",
                id="asyncimg.W003",
            )
        )
    return errors


# --- analyzers and moderation (E018-E021) ------------------------------------------------------


@register(Tags.compatibility)
def check_analyzers(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    analyzers = _read("ANALYZERS")
    if analyzers is INVALID or not all(isinstance(n, str) and n for n in analyzers):
        errors.append(
            Error(
                f"{PREFIX}ANALYZERS must be a list of analyzer names, got {_raw('ANALYZERS')}.",
                hint="Built-in names (placeholder, dominantColor, perceptualHash, rekognition) "
                "or dotted paths of analyzer classes; [] for none.",
                id="asyncimg.E018",
            )
        )
        analyzers = ()
    else:
        errors += _check_analyzer_names(analyzers)
    policy = _read("MODERATION")
    unknown = set(getattr(settings, PREFIX + "MODERATION", None) or {}) - {"reject", "hold"}
    if (
        policy is INVALID
        or unknown
        or (policy and any(not 0 <= c <= 100 for rules in policy.values() for c in rules.values()))
    ):
        errors.append(
            Error(
                f"{PREFIX}MODERATION is not a moderation policy: {_raw('MODERATION')}.",
                hint='{"reject": {"Explicit Nudity": 80}, "hold": {"Suggestive": 60}}: '
                'Rekognition moderation labels (or "*") to minimum confidences, 0 to 100.',
                id="asyncimg.E019",
            )
        )
    elif (policy["reject"] or policy["hold"]) and "rekognition" not in analyzers:
        errors.append(
            Error(
                f"{PREFIX}MODERATION is set but the rekognition analyzer is not enabled: every "
                "upload would be held for review.",
                hint=f'Add "rekognition" to {PREFIX}ANALYZERS, or remove the policy.',
                id="asyncimg.E020",
            )
        )
    distance = _read("DUPLICATE_DISTANCE")
    if distance is INVALID or not 0 <= distance <= 3:
        errors.append(
            Error(
                f"{PREFIX}DUPLICATE_DISTANCE must be 0 to 3, got {_raw('DUPLICATE_DISTANCE')}.",
                hint="The four-band index finds every hash at most 3 bits away (pigeonhole); a "
                "larger distance would silently miss matches.",
                id="asyncimg.E021",
            )
        )
    return errors


def _check_analyzer_names(names: Sequence[str]) -> list[CheckMessage]:
    try:
        from asyncimg_processor.analyzers import BUILTINS
    except ImportError:  # no processor extra here (the app serves, a Lambda processes)
        return []
    bad = []
    for name in names:
        if name in BUILTINS:
            continue
        try:
            import_string(name)
        except ImportError:
            bad.append(name)
    if not bad:
        return []
    return [
        Error(
            f"{PREFIX}ANALYZERS names unknown analyzers: {', '.join(map(repr, bad))}.",
            hint=f"Built-in names are {', '.join(BUILTINS)} (case matters); others must be "
            "importable dotted paths.",
            id="asyncimg.E018",
        )
    ]
