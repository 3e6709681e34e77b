"""The processor's entry points: ``lambda_handler`` for AWS and ``handle_event`` for everyone.

``handle_event`` takes any event shape :func:`~asyncimg_processor.envelopes.parse_event` reads
(S3, SQS, SNS, EventBridge, Pub/Sub, CloudEvents, Event Grid) and an
:class:`~asyncimg_processor.stores.ObjectStore` of the cloud it came from (a boto3 S3 client is
wrapped in an :class:`~asyncimg_processor.stores.S3Store`); ``handle_parsed`` takes the parsed
objects, for entry points that parse their own envelopes (the Cloud Function, the Azure
Function, the Pub/Sub and Storage Queue workers).

Per created object under the temporary prefix (``<temp prefix><upload-id>/<name>``):
HEAD, callback ``processing`` (its answer says what the upload's credential allowed; the object's
size and type are re-checked against it), GET (bounded), :func:`~asyncimg_processor.core.process`,
PUT the outputs under ``<processed prefix><upload-id>/``, callback ``succeeded``, DELETE the
temporary object. A :class:`~asyncimg_processor.errors.ProcessingError` (the upload is unusable)
sends ``failed`` and deletes the temporary object. Anything else (S3 or the callback endpoint
unavailable) fails the record: its SQS message is reported in ``batchItemFailures`` and is
redelivered after the visibility timeout; every step is idempotent, so a redelivery redoes at most
some work. A record whose object is already gone (a duplicate delivery after success) is skipped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from asyncimg_processor.analyzers import DEFAULT_ANALYZERS, load
from asyncimg_processor.callback import (
    CallbackClient,
    CallbackPayload,
    CallbackRejected,
    CallbackResponse,
    Event,
    event_id,
    traceparent_for,
)
from asyncimg_processor.core import (
    DEFAULT_ALLOWED_TYPES,
    Declared,
    Output,
    ProcessOptions,
    byte_limit,
    check_size,
    process,
)
from asyncimg_processor.envelopes import ObjectRef, ParsedEvent, parse_event
from asyncimg_processor.errors import ProcessingError
from asyncimg_processor.stores import ObjectStore, S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
_UPLOAD_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: 401/403 mean the processor's secret or URL is wrong, not that this upload is bad: such records
#: fail (and end in the dead-letter queue, where they can be redriven after the fix).
_CONFIGURATION_STATUSES: Final = frozenset({401, 403})

#: upload statuses the app reports after which processing is pointless (the app's terminal ones)
FINAL_STATUSES: Final = frozenset({"READY", "FAILED", "EXPIRED"})


class ConfigurationError(RuntimeError):
    pass


@dataclass(frozen=True)
class HandlerConfig:
    callback_url: str
    callback_secret: str = field(repr=False)
    temporary_prefix: str = "temp/"
    processed_prefix: str = "processed/"
    options: ProcessOptions = field(default_factory=ProcessOptions)
    #: When set, events about other buckets are ignored.
    bucket: str | None = None
    cache_control: str = CACHE_CONTROL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HandlerConfig:
        """Read the ``ASYNCIMG_*`` variables (see docs/processor.md).

        The secret comes from ``ASYNCIMG_CALLBACK_SECRET``, or is fetched from Secrets Manager
        (``ASYNCIMG_CALLBACK_SECRET_ARN``) or SSM Parameter Store
        (``ASYNCIMG_CALLBACK_SECRET_PARAMETER``, decrypted).
        """
        env = os.environ if environ is None else environ
        url = env.get("ASYNCIMG_CALLBACK_URL", "")
        if not url:
            raise ConfigurationError("ASYNCIMG_CALLBACK_URL is not set")
        defaults = ProcessOptions()
        options = ProcessOptions(
            widths=_ints(env.get("ASYNCIMG_VARIANT_WIDTHS"), defaults.widths),
            formats=_words(env.get("ASYNCIMG_VARIANT_FORMATS"), defaults.formats),
            max_pixels=int(env.get("ASYNCIMG_MAX_PIXELS") or defaults.max_pixels),
            max_bytes=int(env.get("ASYNCIMG_MAX_BYTES") or defaults.max_bytes),
            allowed_types=frozenset(
                _words(env.get("ASYNCIMG_ALLOWED_TYPES"), tuple(DEFAULT_ALLOWED_TYPES))
            ),
            analyzers=load(_names(env.get("ASYNCIMG_ANALYZERS"), DEFAULT_ANALYZERS)),
        )
        return cls(
            callback_url=url,
            callback_secret=_load_secret(env),
            temporary_prefix=env.get("ASYNCIMG_TEMPORARY_PREFIX") or "temp/",
            processed_prefix=env.get("ASYNCIMG_PROCESSED_PREFIX") or "processed/",
            options=options,
            bucket=env.get("ASYNCIMG_BUCKET") or None,
        )

    def callback_client(self) -> CallbackClient:
        return CallbackClient(self.callback_url, self.callback_secret)


def _ints(value: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(v) for v in value.split(",") if v.strip()) if value else default


def _words(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip().lower() for v in value.split(",") if v.strip()) if value else default


def _names(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    # Case kept (analyzer names are camelCase, dotted paths are Python names); "" means none.
    if value is None:
        return default
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _load_secret(env: Mapping[str, str]) -> str:
    # On GCP and Azure the platform injects the secret as ASYNCIMG_CALLBACK_SECRET (Secret
    # Manager, Key Vault reference): boto3 is imported only for the AWS stores of a secret.
    if secret := env.get("ASYNCIMG_CALLBACK_SECRET"):
        return secret
    import boto3

    if arn := env.get("ASYNCIMG_CALLBACK_SECRET_ARN"):
        value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        # Accept a plain string or the JSON object the console creates ({"secret": "..."}).
        try:
            parsed = json.loads(value)
        except ValueError:
            return str(value)
        return str(parsed["secret"]) if isinstance(parsed, dict) else str(value)
    if name := env.get("ASYNCIMG_CALLBACK_SECRET_PARAMETER"):
        response = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)
        return str(response["Parameter"]["Value"])
    raise ConfigurationError(
        "set ASYNCIMG_CALLBACK_SECRET, ASYNCIMG_CALLBACK_SECRET_ARN or "
        "ASYNCIMG_CALLBACK_SECRET_PARAMETER"
    )


@dataclass(frozen=True)
class Outcome:
    """What happened to one object: ``succeeded``, ``failed`` (the upload is unusable; the
    client was told), ``skipped`` (not ours, or already done), ``rejected`` (the callback
    endpoint refused it for good) or ``error`` (will be retried)."""

    key: str
    upload_id: str | None
    status: str
    detail: str = ""


def upload_id_from_key(key: str, temporary_prefix: str) -> str | None:
    """``<temporary prefix><upload-id>/<name>`` → upload id; None for any other key."""
    if not key.startswith(temporary_prefix):
        return None
    upload_id, sep, name = key[len(temporary_prefix) :].partition("/")
    if not sep or not name or "/" in name or not _UPLOAD_ID.fullmatch(upload_id):
        return None
    return upload_id


def handle_event(
    event: Mapping[str, Any],
    config: HandlerConfig,
    store: ObjectStore | S3Client,
    callback_client: CallbackClient,
) -> dict[str, Any]:
    """Process every object the event announces.

    Returns ``{"batchItemFailures": [{"itemIdentifier": message_id}, ...], "outcomes": [...]}``:
    the first key is Lambda's partial batch response for SQS (for the other queues, the ids of
    the messages to leave for redelivery); ``outcomes`` lists one :class:`Outcome` (as a dict)
    per object or unreadable record.
    """
    return handle_parsed(parse_event(event), config, store, callback_client)


def handle_parsed(
    parsed: ParsedEvent,
    config: HandlerConfig,
    store: ObjectStore | S3Client,
    callback_client: CallbackClient,
) -> dict[str, Any]:
    """:func:`handle_event` for an event already parsed."""
    if not isinstance(store, ObjectStore):
        store = S3Store(store)
    failed_messages: list[str] = []
    outcomes: list[Outcome] = []
    for error in parsed.errors:
        logger.error("unreadable record (message %s): %s", error.message_id, error.reason)
        outcomes.append(Outcome("", None, "error", error.reason))
        if error.message_id and error.message_id not in failed_messages:
            failed_messages.append(error.message_id)
    for ref in parsed.objects:
        if ref.message_id in failed_messages:
            # The whole message will be redelivered; its other objects are done then.
            continue
        try:
            outcome = _handle_object(ref, config, store, callback_client)
        except Exception as exc:
            logger.exception("processing %s in %s failed; it will be retried", ref.key, ref.bucket)
            outcome = Outcome(ref.key, None, "error", f"{type(exc).__name__}: {exc}")
            if ref.message_id and ref.message_id not in failed_messages:
                failed_messages.append(ref.message_id)
        logger.info("%s %s %s", outcome.status, ref.key, outcome.detail)
        outcomes.append(outcome)
    return {
        "batchItemFailures": [{"itemIdentifier": m} for m in failed_messages],
        "outcomes": [asdict(o) for o in outcomes],
    }


def _handle_object(
    ref: ObjectRef, config: HandlerConfig, store: ObjectStore, callback: CallbackClient
) -> Outcome:
    upload_id = upload_id_from_key(ref.key, config.temporary_prefix)
    if upload_id is None:
        return Outcome(ref.key, None, "skipped", "not an upload under the temporary prefix")
    if config.bucket and ref.bucket != config.bucket:
        return Outcome(ref.key, upload_id, "skipped", f"bucket {ref.bucket} is not ours")
    head = store.head(ref.bucket, ref.key)
    if head is None:
        return Outcome(ref.key, upload_id, "skipped", "the object is gone (already handled)")
    etag = ref.etag or head.etag

    def notify(event: Event, **extra: Any) -> CallbackResponse:
        return callback.send(
            CallbackPayload(
                upload_id=upload_id,
                event=event,
                event_id=event_id(upload_id, event, etag, ref.sequencer),
                traceparent=traceparent_for(upload_id),
                **extra,
            )
        )

    try:
        answer = notify("processing")
        status = answer.upload_status
        if status in FINAL_STATUSES:
            # Cancelled, expired, or processed by an earlier delivery: nothing to make, and the
            # raw upload is of no further use.
            store.delete(ref.bucket, ref.key)
            return Outcome(ref.key, upload_id, "skipped", f"the upload is already {status}")
        options = config.options
        declared = _declared(answer)
        try:
            check_size(head.size, options, declared)
            # Read one byte more than allowed: the object may have been replaced since HEAD.
            data = store.read(ref.bucket, ref.key, byte_limit(options, declared) + 1)
            result = process(data, options, declared=declared)
        except ProcessingError as exc:
            notify("failed", error={"code": exc.code, "message": exc.message})
            store.delete(ref.bucket, ref.key)
            return Outcome(ref.key, upload_id, "failed", exc.code)

        folder = f"{config.processed_prefix}{upload_id}/"
        outputs = [result.original, *result.variants]
        _put_outputs(store, ref.bucket, folder, outputs, config.cache_control)
        original = result.original
        image = {
            "key": folder + original.name,
            "width": original.width,
            "height": original.height,
            "format": original.format,
            "size": original.size,
            "variants": [
                {
                    "name": v.name,
                    "width": v.width,
                    "height": v.height,
                    "format": v.format,
                    "key": folder + v.name,
                    "size": v.size,
                }
                for v in result.variants
            ],
            "metadata": result.metadata,
        }
        notify("succeeded", image=image)
    except CallbackRejected as exc:
        if exc.status in _CONFIGURATION_STATUSES:
            raise
        # The app refuses this upload for good (unknown upload, bad payload): retrying cannot
        # help. The temporary object is left to the bucket's lifecycle rule.
        return Outcome(ref.key, upload_id, "rejected", str(exc))
    store.delete(ref.bucket, ref.key)
    return Outcome(ref.key, upload_id, "succeeded", f"{len(outputs)} outputs")


def _declared(answer: CallbackResponse) -> Declared | None:
    """What the upload's credential allowed, from the app's ``processing`` answer."""
    size, content_type = answer.declared_size, answer.declared_content_type
    if size is None or content_type is None:
        _warn_undeclared()
        return None
    return Declared(size, content_type)


@cache
def _warn_undeclared() -> None:
    # Once per process: every answer of that app lacks them, and the job still runs.
    logger.warning(
        "the app's processing answer carries no declaredSize/declaredContentType (an app older "
        "than this processor?): uploads are checked against this processor's limits only, not "
        "against the size and type their credential allowed"
    )


def _put_outputs(
    store: ObjectStore, bucket: str, folder: str, outputs: list[Output], cache_control: str
) -> None:
    def put(output: Output) -> None:
        store.put(bucket, folder + output.name, output.data, output.content_type, cache_control)

    # Each PUT is a round trip of tens of milliseconds; the storage clients are thread-safe.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(put, outputs))


# --- AWS Lambda ----------------------------------------------------------------------------------

#: Seconds a fetched configuration (and its secret) is reused: long enough to spare Secrets
#: Manager calls, short enough that a rotated secret reaches warm containers soon.
CONFIG_TTL: Final = 300.0

_lock = threading.Lock()
_s3: S3Client | None = None
_config: tuple[float, HandlerConfig, CallbackClient] | None = None


def _s3_client() -> S3Client:
    """One client per process: creating one costs milliseconds; they are thread-safe."""
    global _s3
    with _lock:
        if _s3 is None:
            import boto3
            from botocore.config import Config

            _s3 = boto3.client(
                "s3",
                config=Config(
                    retries={"mode": "standard", "max_attempts": 4},
                    connect_timeout=5,
                    read_timeout=30,
                    max_pool_connections=8,
                ),
            )
        return _s3


def _cached_config() -> tuple[HandlerConfig, CallbackClient]:
    global _config
    with _lock:
        if _config is None or time.monotonic() - _config[0] > CONFIG_TTL:
            config = HandlerConfig.from_env()
            _config = (time.monotonic(), config, config.callback_client())
        return _config[1], _config[2]


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point.

    For SQS input returns the partial batch response (the function's event source mapping must
    enable ``ReportBatchItemFailures``). For direct S3/SNS/EventBridge invocations a failed
    object raises, so Lambda's own retry (and on-failure destination) takes over.
    """
    config, callback = _cached_config()
    result = handle_event(event, config, S3Store(_s3_client()), callback)
    if _is_sqs(event):
        return {"batchItemFailures": result["batchItemFailures"]}
    errors = [o for o in result["outcomes"] if o["status"] == "error"]
    if errors:
        raise RuntimeError(f"{len(errors)} object(s) failed: {errors}")
    return {"outcomes": result["outcomes"]}


def _is_sqs(event: Mapping[str, Any]) -> bool:
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and isinstance(records[0], Mapping)
        and records[0].get("eventSource") == "aws:sqs"
    )
