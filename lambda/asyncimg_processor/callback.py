"""Signed callbacks from the processor to the Django app (``POST /async_image/callback/``).

The request carries ``X-Asyncimg-Timestamp: <unix seconds>`` and
``X-Asyncimg-Signature: v1=<hex HMAC-SHA256(secret, b"<timestamp>." + raw body)>``. Delivery is
at-least-once: every attempt of one callback carries the same ``eventId`` so the receiver can drop
duplicates. Uses only the standard library, which keeps the Lambda package small.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER: Final = "X-Asyncimg-Timestamp"
SIGNATURE_HEADER: Final = "X-Asyncimg-Signature"
SIGNATURE_VERSION: Final = "v1"

Event = Literal["processing", "succeeded", "failed"]

#: Statuses worth retrying: the receiver is overloaded, restarting or asks us to slow down.
_RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Asyncimg-Signature`` header value (``v1=<hex>``) for ``body`` sent at ``timestamp``.

    Compare with :func:`hmac.compare_digest` when verifying.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def event_id(upload_id: str, event: str, etag: str | None, sequencer: str | None) -> str:
    """A callback id that is the same for every retry and redelivery of one S3 object's event.

    A new upload to the same key (a new etag/sequencer) gets new ids.
    """
    material = "\n".join((upload_id, event, etag or "", sequencer or ""))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def traceparent_for(upload_id: str) -> str | None:
    """The W3C ``traceparent`` of an upload's trace: its trace id is the upload's UUID, as the
    app's spans have it (``asyncimg.tracing``), so one upload is one trace with nothing stored
    or passed along. None for an id that is not a UUID. No OpenTelemetry needed here."""
    try:
        value = uuid.UUID(upload_id).int
    except ValueError:
        return None
    span_id = (value & ((1 << 64) - 1)) or 1
    return f"00-{value:032x}-{span_id:016x}-01"


@dataclass(frozen=True)
class CallbackPayload:
    upload_id: str
    event: Event
    event_id: str
    image: Mapping[str, Any] | None = None
    error: Mapping[str, str] | None = None
    #: sent as the ``traceparent`` header (not part of the signed body) when given
    traceparent: str | None = None

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "uploadId": self.upload_id,
            "event": self.event,
            "eventId": self.event_id,
        }
        if self.image is not None:
            body["image"] = self.image
        if self.error is not None:
            body["error"] = self.error
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class CallbackResponse:
    status: int
    attempts: int
    #: the receiver's JSON answer (the app's: ``status``, ``uploadStatus``...), None if not JSON
    body: Mapping[str, Any] | None = None

    @property
    def upload_status(self) -> str | None:
        """The upload's status after this callback, as the app reports it."""
        value = (self.body or {}).get("uploadStatus")
        return value if isinstance(value, str) else None

    @property
    def declared_size(self) -> int | None:
        """The size the upload's credential allowed (``processing`` answers), if the app says."""
        value = (self.body or {}).get("declaredSize")
        return value if type(value) is int and value >= 0 else None

    @property
    def declared_content_type(self) -> str | None:
        """The content type the upload's credential allowed (``processing`` answers)."""
        value = (self.body or {}).get("declaredContentType")
        return value if isinstance(value, str) and value else None


#: bytes of the receiver's answer read at most (the app's is ~150)
MAX_ANSWER: Final = 64 * 1024


class CallbackError(Exception):
    """The callback was not delivered."""


class CallbackRejected(CallbackError):
    """The receiver answered with a 4xx that retrying will not change (bad request, unknown
    upload, bad signature...)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"callback rejected with HTTP {status}: {body[:200]}")
        self.status = status
        self.body = body


class CallbackUnavailable(CallbackError):
    """Every attempt failed with a timeout, a connection error, a 5xx or a 429."""


class CallbackClient:
    """POSTs signed callbacks, retrying transient failures with exponential backoff and jitter.

    ``attempts`` bounds the tries of one callback; the sleep before try ``n`` (n >= 2) is uniform
    in ``[0, min(backoff_max, backoff_base * 2 ** (n - 2))]`` ("full jitter", so retries of many
    processors do not arrive in waves).
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the callback URL must be http(s), got {url!r}")
        if not secret:
            raise ValueError("the callback secret is empty")
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._clock = clock

    def send(self, payload: CallbackPayload) -> CallbackResponse:
        body = payload.to_json()
        extra = {"traceparent": payload.traceparent} if payload.traceparent else {}
        last_error = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                delay = random.uniform(  # noqa: S311 - jitter, not cryptography
                    0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 2))
                )
                self._sleep(delay)
            try:
                status, answer = self._post(body, extra)
            except urllib.error.HTTPError as exc:
                status = exc.code
                text = _read_text(exc)
                if status not in _RETRY_STATUSES:
                    raise CallbackRejected(status, text) from exc
                last_error = f"HTTP {status}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            else:
                return CallbackResponse(status=status, attempts=attempt, body=_json(answer))
            logger.warning(
                "callback %s for upload %s failed (attempt %d/%d): %s",
                payload.event,
                payload.upload_id,
                attempt,
                self.attempts,
                last_error,
            )
        raise CallbackUnavailable(
            f"callback {payload.event} for upload {payload.upload_id} failed after "
            f"{self.attempts} attempts: {last_error}"
        )

    def _post(self, body: bytes, extra: Mapping[str, str]) -> tuple[int, bytes]:
        # A fresh timestamp per attempt keeps late retries inside the receiver's replay window.
        timestamp = int(self._clock())
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "asyncimg-processor/1",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(self._secret, timestamp, body),
                **extra,
            },
        )
        with _opener.open(request, timeout=self.timeout) as response:
            return int(response.status), response.read(MAX_ANSWER)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Following a redirect would turn the POST into a GET without body (Django's APPEND_SLASH,
    # http→https): surface the 3xx as a rejection that names the misconfigured URL instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener: Final = urllib.request.build_opener(_NoRedirect)


def _json(answer: bytes) -> Mapping[str, Any] | None:
    try:
        value = json.loads(answer)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _read_text(error: urllib.error.HTTPError) -> str:
    try:
        return error.read(2048).decode("utf-8", "replace")
    except Exception:
        return ""
