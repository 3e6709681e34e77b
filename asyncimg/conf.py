"""Settings of the app, read lazily from ``django.conf.settings`` on every access.

Nothing is frozen at import time, so ``override_settings`` works in tests and in integrators' code.
Each property documents its setting name and default; ``asyncimg.checks`` reports bad values.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.conf import settings

PREFIX = "ASYNC_IMAGE_UPLOAD_"

#: Content types the app accepts by default. Never SVG: it is a script container, not an image.
DEFAULT_ALLOWED_CONTENT_TYPES: tuple[str, ...] = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/avif",
)

#: Every content type the processor can decode; anything else in the allowlist is an error.
KNOWN_CONTENT_TYPES: frozenset[str] = frozenset(DEFAULT_ALLOWED_CONTENT_TYPES)


def _items(name: str, value: Any, *, one_string: bool) -> Collection[Any]:
    """The items of a list setting. With ``one_string``, a lone string is a list of one (the way
    ``CALLBACK_SECRETS = "secret"`` always worked) rather than a list of its characters.

    Anything else that is not a list, tuple or set raises TypeError; ``asyncimg.checks`` reports it.
    """
    if one_string and isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple | set | frozenset):
        raise TypeError(f"{PREFIX}{name} must be a list, not {type(value).__name__}.")
    return value


class AppSettings:
    """One typed property per setting. Read ``app_settings.X``; never cache the value."""

    def _get(self, name: str, default: Any) -> Any:
        return getattr(settings, PREFIX + name, default)

    def _rate(self, name: str, default: tuple[int, int]) -> tuple[int, int]:
        value = self._get(name, default)
        if not isinstance(value, list | tuple) or len(value) != 2:
            # Unpacking would also take the string "12" as (1, 2).
            raise TypeError(f"{PREFIX}{name} must be a pair (uploads, seconds).")
        count, seconds = value
        return int(count), int(seconds)

    # --- storage -------------------------------------------------------------------------------
    @property
    def BUCKET(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_BUCKET``: the bucket uploads go to. Required; no default."""
        value = self._get("BUCKET", None)
        return str(value) if value else None

    @property
    def STORAGE_BACKEND(self) -> str:
        """``ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND``: dotted path of the storage backend class."""
        return str(self._get("STORAGE_BACKEND", "asyncimg.storage.s3.S3Backend"))

    @property
    def ENDPOINT_URL(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_ENDPOINT_URL``: S3 API endpoint (moto, MinIO, R2); None for AWS."""
        return self._get("ENDPOINT_URL", None) or None

    @property
    def REGION(self) -> str:
        """``ASYNC_IMAGE_UPLOAD_REGION``: the bucket's region."""
        return str(self._get("REGION", "us-east-1"))

    @property
    def GCS_PROJECT(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_GCS_PROJECT``: Google Cloud project of the GCS client. Default:
        the one Application Default Credentials name."""
        value = self._get("GCS_PROJECT", None)
        return str(value) if value else None

    @property
    def GCS_SERVICE_ACCOUNT_EMAIL(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_GCS_SERVICE_ACCOUNT_EMAIL``: sign GCS policies and URLs keyless,
        through IAM signBlob as this service account (Cloud Run, GKE, GCE: no key file). Default
        (None): sign with the private key of the service-account credentials."""
        value = self._get("GCS_SERVICE_ACCOUNT_EMAIL", None)
        return str(value) if value else None

    @property
    def AZURE_ACCOUNT_NAME(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_NAME``: the Azure storage account (BUCKET names the
        container in it)."""
        value = self._get("AZURE_ACCOUNT_NAME", None)
        return str(value) if value else None

    @property
    def AZURE_ACCOUNT_KEY(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY``: the account key that signs SAS tokens."""
        value = self._get("AZURE_ACCOUNT_KEY", None)
        return str(value) if value else None

    @property
    def AZURE_CONNECTION_STRING(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_AZURE_CONNECTION_STRING``: account name, key and endpoint in one
        string, instead of AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY."""
        value = self._get("AZURE_CONNECTION_STRING", None)
        return str(value) if value else None

    @property
    def AZURE_USER_DELEGATION(self) -> bool:
        """``ASYNC_IMAGE_UPLOAD_AZURE_USER_DELEGATION``: sign user delegation SAS tokens with
        Entra ID (azure-identity's DefaultAzureCredential) instead of an account key."""
        return bool(self._get("AZURE_USER_DELEGATION", False))

    @property
    def MEDIA_URL(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_MEDIA_URL``: public base URL (CDN) of processed images.

        When unset, processed images are served with presigned GET URLs.
        """
        value = self._get("MEDIA_URL", None)
        return str(value) if value else None

    @property
    def DOWNLOAD_URL_EXPIRATION(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_DOWNLOAD_URL_EXPIRATION``: lifetime of presigned GET URLs (s)."""
        return int(self._get("DOWNLOAD_URL_EXPIRATION", 3600))

    @property
    def TEMPORARY_IMAGE_PATH(self) -> str:
        """``ASYNC_IMAGE_UPLOAD_TEMPORARY_IMAGE_PATH``: key prefix of raw uploads."""
        return str(self._get("TEMPORARY_IMAGE_PATH", "temp/"))

    @property
    def PROCESSED_IMAGE_PATH(self) -> str:
        """``ASYNC_IMAGE_UPLOAD_PROCESSED_IMAGE_PATH``: key prefix of processed images."""
        return str(self._get("PROCESSED_IMAGE_PATH", "processed/"))

    # --- presigned credentials -----------------------------------------------------------------
    @property
    def PRESIGNED_URL_EXPIRATION(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_EXPIRATION``: credential lifetime in seconds."""
        return int(self._get("PRESIGNED_URL_EXPIRATION", 1000))

    @property
    def PRESIGNED_URL_REUSE_WINDOW(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW``: seconds a repeated request reuses a
        live credential for the same file instead of creating a new upload."""
        return int(self._get("PRESIGNED_URL_REUSE_WINDOW", 30))

    @property
    def PRESIGNED_URL_CONTENT_LENGTH(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_CONTENT_LENGTH``: largest accepted upload (bytes)."""
        return int(self._get("PRESIGNED_URL_CONTENT_LENGTH", 10 * 1024 * 1024))

    @property
    def ALLOWED_CONTENT_TYPES(self) -> tuple[str, ...]:
        """``ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES``: exact content types accepted (a list; one
        string is one type)."""
        value = self._get("ALLOWED_CONTENT_TYPES", DEFAULT_ALLOWED_CONTENT_TYPES)
        return tuple(
            str(v).lower() for v in _items("ALLOWED_CONTENT_TYPES", value, one_string=True)
        )

    @property
    def MAX_FILES_PER_REQUEST(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_MAX_FILES_PER_REQUEST``: cap of ``requestImageUploads``."""
        return int(self._get("MAX_FILES_PER_REQUEST", 10))

    @property
    def RATE_LIMIT(self) -> tuple[int, int]:
        """``ASYNC_IMAGE_UPLOAD_RATE_LIMIT``: ``(uploads, seconds)`` one owner may request."""
        return self._rate("RATE_LIMIT", (100, 3600))

    @property
    def ANONYMOUS_RATE_LIMIT(self) -> tuple[int, int]:
        """``ASYNC_IMAGE_UPLOAD_ANONYMOUS_RATE_LIMIT``: ``(uploads, seconds)`` all anonymous
        owners from one client address may request together (a new session is free to make,
        so the per-owner limit alone does not hold them back)."""
        return self._rate("ANONYMOUS_RATE_LIMIT", (200, 3600))

    @property
    def MAX_PENDING_PER_OWNER(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER``: pending uploads one owner may hold."""
        return int(self._get("MAX_PENDING_PER_OWNER", 50))

    @property
    def ALLOW_ANONYMOUS(self) -> bool:
        """``ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS``: let anonymous visitors upload; their uploads
        belong to their session."""
        return bool(self._get("ALLOW_ANONYMOUS", False))

    # --- processing ----------------------------------------------------------------------------
    @property
    def VARIANT_WIDTHS(self) -> tuple[int, ...]:
        """``ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS``: resized variant widths (no upscaling)."""
        value = self._get("VARIANT_WIDTHS", (320, 800, 1600))
        return tuple(int(w) for w in _items("VARIANT_WIDTHS", value, one_string=False))

    @property
    def VARIANT_FORMATS(self) -> tuple[str, ...]:
        """``ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS``: encodings of every variant (a list; one string is
        one format)."""
        value = self._get("VARIANT_FORMATS", ("webp", "jpeg"))
        return tuple(str(f).lower() for f in _items("VARIANT_FORMATS", value, one_string=True))

    @property
    def MAX_PIXELS(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_MAX_PIXELS``: larger images are refused undecoded."""
        return int(self._get("MAX_PIXELS", 50_000_000))

    @property
    def QUEUE_URL(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_QUEUE_URL``: SQS queue of S3 events read by ``asyncimg_worker``."""
        return self._get("QUEUE_URL", None) or None

    @property
    def PUBSUB_SUBSCRIPTION(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_PUBSUB_SUBSCRIPTION``: Pub/Sub subscription
        (``projects/<project>/subscriptions/<name>``) of the bucket's Cloud Storage
        notifications, read by ``asyncimg_worker --source pubsub``."""
        value = self._get("PUBSUB_SUBSCRIPTION", None)
        return str(value) if value else None

    @property
    def AZURE_QUEUE_URL(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_AZURE_QUEUE_URL``: Storage Queue
        (``https://<account>.queue.core.windows.net/<queue>``) Event Grid writes the container's
        ``BlobCreated`` events to, read by ``asyncimg_worker --source azure-queue``."""
        value = self._get("AZURE_QUEUE_URL", None)
        return str(value) if value else None

    # --- callback ------------------------------------------------------------------------------
    @property
    def CALLBACK_SECRETS(self) -> tuple[str, ...]:
        """``ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS``: HMAC secrets accepted on the callback. The first
        one signs (local worker); list the new secret first, keep the old one while rotating.
        One string is one secret; None or empty means not set."""
        value = self._get("CALLBACK_SECRETS", None) or ()
        return tuple(str(v) for v in _items("CALLBACK_SECRETS", value, one_string=True) if v)

    @property
    def CALLBACK_URL(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_CALLBACK_URL``: absolute URL the processor calls back."""
        return self._get("CALLBACK_URL", None) or None

    @property
    def CALLBACK_REPLAY_WINDOW(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_CALLBACK_REPLAY_WINDOW``: accepted clock difference (s)."""
        return int(self._get("CALLBACK_REPLAY_WINDOW", 300))

    @property
    def CALLBACK_MAX_BODY_SIZE(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_CALLBACK_MAX_BODY_SIZE``: largest callback body (bytes)."""
        return int(self._get("CALLBACK_MAX_BODY_SIZE", 64 * 1024))

    @property
    def PROCESSING_TIMEOUT(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_PROCESSING_TIMEOUT``: seconds an upload may stay UPLOADED or
        PROCESSING before the sweep (``asyncimg_expire``) fails it with PROCESSING_TIMEOUT."""
        return int(self._get("PROCESSING_TIMEOUT", 900))

    @property
    def CALLBACK_EVENT_RETENTION(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_CALLBACK_EVENT_RETENTION``: seconds ``CallbackEvent`` rows (the
        processor's event ids, for duplicate detection) are kept; the sweep prunes older ones."""
        return int(self._get("CALLBACK_EVENT_RETENTION", 7 * 24 * 3600))

    # --- GraphQL / websocket -------------------------------------------------------------------
    @property
    def GRAPHQL_MAX_DEPTH(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_GRAPHQL_MAX_DEPTH``: deepest query accepted."""
        return int(self._get("GRAPHQL_MAX_DEPTH", 10))

    @property
    def GRAPHQL_MAX_COST(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_GRAPHQL_MAX_COST``: most fields one operation may resolve, each
        counted once per item of the pages (``first``) above it."""
        return int(self._get("GRAPHQL_MAX_COST", 5000))

    @property
    def GRAPHQL_MAX_BYTES(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_GRAPHQL_MAX_BYTES``: largest GraphQL request body over HTTP and
        largest websocket message (64 KiB)."""
        return int(self._get("GRAPHQL_MAX_BYTES", 64 * 1024))

    @property
    def GRAPHQL_MAX_LIST_LENGTH(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_GRAPHQL_MAX_LIST_LENGTH``: longest list in an operation's
        variables, refused before coercion."""
        return int(self._get("GRAPHQL_MAX_LIST_LENGTH", 100))

    @property
    def GRAPHQL_INTROSPECTION(self) -> bool:
        """``ASYNC_IMAGE_UPLOAD_GRAPHQL_INTROSPECTION``: answer introspection queries and suggest
        field names in errors. Default: ``DEBUG``."""
        return bool(self._get("GRAPHQL_INTROSPECTION", settings.DEBUG))

    @property
    def MAX_SUBSCRIPTIONS_PER_CONNECTION(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_MAX_SUBSCRIPTIONS_PER_CONNECTION``: concurrent subscriptions."""
        return int(self._get("MAX_SUBSCRIPTIONS_PER_CONNECTION", 50))

    @property
    def CONNECTION_INIT_TIMEOUT(self) -> float:
        """``ASYNC_IMAGE_UPLOAD_CONNECTION_INIT_TIMEOUT``: seconds a websocket may wait before
        sending ``connection_init``."""
        return float(self._get("CONNECTION_INIT_TIMEOUT", 10))

    @property
    def KEEPALIVE_INTERVAL(self) -> float:
        """``ASYNC_IMAGE_UPLOAD_KEEPALIVE_INTERVAL``: seconds between server pings on websockets."""
        return float(self._get("KEEPALIVE_INTERVAL", 15))

    @property
    def WEBSOCKET_ALLOWED_ORIGINS(self) -> tuple[str, ...] | None:
        """``ASYNC_IMAGE_UPLOAD_WEBSOCKET_ALLOWED_ORIGINS``: origins (``https://app.example.com``,
        or ``*``) whose pages may open the GraphQL websocket besides the same origin. Default
        (None): ``CSRF_TRUSTED_ORIGINS``. Independent of ``ALLOWED_HOSTS`` on purpose: browsers
        send cookies on cross-site websockets, so this is the websocket's CSRF protection."""
        value = self._get("WEBSOCKET_ALLOWED_ORIGINS", None)
        if value is None:
            return None
        return tuple(
            str(o).rstrip("/") for o in _items("WEBSOCKET_ALLOWED_ORIGINS", value, one_string=True)
        )

    @property
    def TOKEN_AUTHENTICATOR(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR``: dotted path of a callable ``token -> user |
        None`` (or :class:`asyncimg.auth.Authenticated`) for ``Authorization: Bearer`` clients.
        Default: None (bearer tokens refused)."""
        value = self._get("TOKEN_AUTHENTICATOR", None)
        return str(value) if value else None

    @property
    def GRAPHIQL(self) -> bool:
        """``ASYNC_IMAGE_UPLOAD_GRAPHIQL``: serve GraphiQL on GET /graphql/. Default: ``DEBUG``."""
        return bool(self._get("GRAPHIQL", settings.DEBUG))

    # --- observability -----------------------------------------------------------------------
    @property
    def METRICS(self) -> bool:
        """``ASYNC_IMAGE_UPLOAD_METRICS``: record Prometheus metrics (needs the ``metrics`` extra)
        and serve them at ``asyncimg.views.metrics``. Default: False."""
        return bool(self._get("METRICS", False))

    @property
    def METRICS_TOKEN(self) -> str | None:
        """``ASYNC_IMAGE_UPLOAD_METRICS_TOKEN``: the bearer token a scraper sends
        (``Authorization: Bearer <token>``). Without one, only staff users' sessions may read the
        metrics. Default: None."""
        value = self._get("METRICS_TOKEN", None)
        return str(value) if value else None

    @property
    def TRACING(self) -> bool:
        """``ASYNC_IMAGE_UPLOAD_TRACING``: OpenTelemetry spans for the mutation, the callback and
        the push (needs the ``otel`` extra and a configured tracer provider). Default: False."""
        return bool(self._get("TRACING", False))

    # --- analyzers and moderation --------------------------------------------------------------
    @property
    def ANALYZERS(self) -> tuple[str, ...]:
        """``ASYNC_IMAGE_UPLOAD_ANALYZERS``: names of the processor's analyzers (built-in names or
        dotted paths, see docs/processor.md); the worker runs them, ``asyncimg_deploy`` passes them
        to the functions. Default: placeholder, dominantColor, perceptualHash."""
        value = self._get("ANALYZERS", ("placeholder", "dominantColor", "perceptualHash"))
        return tuple(str(v) for v in _items("ANALYZERS", value, one_string=True))

    @property
    def MODERATION(self) -> dict[str, dict[str, float]]:
        """``ASYNC_IMAGE_UPLOAD_MODERATION``: ``{"reject": {label: confidence}, "hold": {...}}``.
        A moderation label (or its parent) at or above the confidence rejects the upload
        (REJECTED_BY_MODERATION) or holds it for review; ``"*"`` matches every label. Needs the
        ``rekognition`` analyzer. Default: {} (no moderation)."""
        value = self._get("MODERATION", None) or {}
        if not isinstance(value, dict):
            raise TypeError(f"{PREFIX}MODERATION must be a dict with 'reject' and/or 'hold'.")
        policy: dict[str, dict[str, float]] = {}
        for action in ("reject", "hold"):
            rules = value.get(action) or {}
            if not isinstance(rules, dict):
                raise TypeError(f"{PREFIX}MODERATION[{action!r}] must map labels to confidences.")
            policy[action] = {str(label): float(conf) for label, conf in rules.items()}
        return policy

    @property
    def DUPLICATE_DISTANCE(self) -> int:
        """``ASYNC_IMAGE_UPLOAD_DUPLICATE_DISTANCE``: most differing bits of two perceptual hashes
        for ``duplicates``; 0 to 3 (the band index finds every match up to 3). Default: 3."""
        return int(self._get("DUPLICATE_DISTANCE", 3))

    # --- models --------------------------------------------------------------------------------
    @property
    def PROCESSED_IMAGE_MODEL(self) -> str:
        """``PROCESSED_IMAGE_MODEL``: swappable processed-image model, like ``AUTH_USER_MODEL``."""
        return str(getattr(settings, "PROCESSED_IMAGE_MODEL", "asyncimg.ProcessedImage"))


app_settings = AppSettings()
