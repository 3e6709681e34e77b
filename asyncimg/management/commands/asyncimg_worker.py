"""``manage.py asyncimg_worker``: receive storage events from a queue and run the processor.

Three sources, one handler (:func:`asyncimg_processor.handler.handle_parsed`):

* ``sqs``: S3 → SQS (``ASYNC_IMAGE_UPLOAD_QUEUE_URL``), objects read with boto3;
* ``pubsub``: Cloud Storage notifications → Pub/Sub (``ASYNC_IMAGE_UPLOAD_PUBSUB_SUBSCRIPTION``),
  objects read with google-cloud-storage (extra ``gcs``);
* ``azure-queue``: Event Grid ``BlobCreated`` → Storage Queue
  (``ASYNC_IMAGE_UPLOAD_AZURE_QUEUE_URL``), blobs read with azure-storage-blob (extra ``azure``).

``--source`` picks one; without it, the one whose setting is set. For local development (the demo
runs the same loop in a thread, see :func:`build_worker`) and for teams that process images on
their own servers instead of a cloud function.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from asyncimg.conf import app_settings
from asyncimg_processor.analyzers import load
from asyncimg_processor.callback import CallbackClient
from asyncimg_processor.core import ProcessOptions
from asyncimg_processor.handler import HandlerConfig, handle_event, handle_parsed
from asyncimg_processor.worker import QueueWorker, SqsWorker

#: source -> the setting naming its queue
SOURCES = {
    "sqs": "QUEUE_URL",
    "pubsub": "PUBSUB_SUBSCRIPTION",
    "azure-queue": "AZURE_QUEUE_URL",
}


def handler_config() -> HandlerConfig:
    """The processor configuration, from the ``ASYNC_IMAGE_UPLOAD_*`` settings."""
    if not app_settings.CALLBACK_URL:
        raise CommandError("Set ASYNC_IMAGE_UPLOAD_CALLBACK_URL: the worker reports there.")
    if not app_settings.CALLBACK_SECRETS:
        raise CommandError("Set ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS: the first one signs.")
    return HandlerConfig(
        callback_url=app_settings.CALLBACK_URL,
        callback_secret=app_settings.CALLBACK_SECRETS[0],
        temporary_prefix=app_settings.TEMPORARY_IMAGE_PATH,
        processed_prefix=app_settings.PROCESSED_IMAGE_PATH,
        bucket=app_settings.BUCKET,
        options=ProcessOptions(
            widths=app_settings.VARIANT_WIDTHS,
            formats=app_settings.VARIANT_FORMATS,
            max_pixels=app_settings.MAX_PIXELS,
            max_bytes=app_settings.PRESIGNED_URL_CONTENT_LENGTH,
            allowed_types=frozenset(app_settings.ALLOWED_CONTENT_TYPES),
            analyzers=load(app_settings.ANALYZERS),
        ),
    )


def configured_source() -> str:
    """The source whose queue setting is set; an error when none or several are."""
    configured = [s for s, setting in SOURCES.items() if getattr(app_settings, setting)]
    if len(configured) == 1:
        return configured[0]
    names = ", ".join(f"ASYNC_IMAGE_UPLOAD_{setting} ({s})" for s, setting in SOURCES.items())
    if not configured:
        raise CommandError(f"Set one of {names}: the queue of storage events.")
    raise CommandError(
        f"Several event queues are set ({', '.join(configured)}): choose one with --source."
    )


def build_worker(
    *, source: str | None = None, wait_time: int = 20, max_messages: int = 10
) -> QueueWorker:
    """A worker wired from settings; call ``run()`` in a thread, ``stop()`` to end it."""
    source = source or configured_source()
    if source not in SOURCES:
        raise CommandError(f"Unknown --source {source!r}: one of {', '.join(SOURCES)}.")
    setting = SOURCES[source]
    if not getattr(app_settings, setting):
        raise CommandError(f"Set ASYNC_IMAGE_UPLOAD_{setting}: the {source} source reads it.")
    config = handler_config()
    callback = CallbackClient(config.callback_url, config.callback_secret)
    if source == "pubsub":
        return _pubsub_worker(config, callback, wait_time=wait_time, max_messages=max_messages)
    if source == "azure-queue":
        return _azure_queue_worker(config, callback, wait_time=wait_time, max_messages=max_messages)
    return _sqs_worker(config, callback, wait_time=wait_time, max_messages=max_messages)


def _sqs_worker(
    config: HandlerConfig, callback: CallbackClient, *, wait_time: int, max_messages: int
) -> SqsWorker:
    import boto3

    from asyncimg_processor.stores import S3Store

    assert app_settings.QUEUE_URL is not None
    # One session and one client per service for the whole process (clients are thread-safe).
    session = boto3.session.Session()
    endpoint, region = app_settings.ENDPOINT_URL, app_settings.REGION
    store = S3Store(session.client("s3", endpoint_url=endpoint, region_name=region))
    sqs = session.client("sqs", endpoint_url=endpoint, region_name=region)
    return SqsWorker(
        sqs,
        app_settings.QUEUE_URL,
        lambda event: handle_event(event, config, store, callback),
        wait_time=wait_time,
        max_messages=max_messages,
    )


def _pubsub_worker(
    config: HandlerConfig, callback: CallbackClient, *, wait_time: int, max_messages: int
) -> QueueWorker:
    try:
        from google.cloud import pubsub_v1, storage
    except ImportError as exc:
        raise CommandError(
            "The pubsub source needs google-cloud-pubsub and google-cloud-storage: "
            "pip install 'django-async-image-upload[gcs]'."
        ) from exc

    from asyncimg_processor.pubsub_worker import PubSubWorker
    from asyncimg_processor.stores import GCSStore

    assert app_settings.PUBSUB_SUBSCRIPTION is not None
    endpoint = app_settings.ENDPOINT_URL
    if endpoint:
        # An emulator (fake-gcs-server) checks no credentials: never ask Google for a token.
        from google.auth.credentials import AnonymousCredentials

        client = storage.Client(
            project=app_settings.GCS_PROJECT or "asyncimg-local",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint.rstrip("/")},
        )
    else:
        client = storage.Client(project=app_settings.GCS_PROJECT)
    store = GCSStore(client)
    # Honours PUBSUB_EMULATOR_HOST.
    subscriber = pubsub_v1.SubscriberClient()
    return PubSubWorker(
        subscriber,
        app_settings.PUBSUB_SUBSCRIPTION,
        lambda parsed: handle_parsed(parsed, config, store, callback),
        wait_time=wait_time,
        max_messages=max_messages,
    )


def _azure_queue_worker(
    config: HandlerConfig, callback: CallbackClient, *, wait_time: int, max_messages: int
) -> QueueWorker:
    try:
        from azure.storage.blob import BlobServiceClient
        from azure.storage.queue import QueueClient
    except ImportError as exc:
        raise CommandError(
            "The azure-queue source needs azure-storage-blob and azure-storage-queue: "
            "pip install 'django-async-image-upload[azure]'."
        ) from exc

    from asyncimg_processor.azure_queue_worker import AzureQueueWorker
    from asyncimg_processor.stores import AzureBlobStore

    queue_url = app_settings.AZURE_QUEUE_URL
    assert queue_url is not None
    credential = _azure_credential()
    if app_settings.AZURE_CONNECTION_STRING:
        service = BlobServiceClient.from_connection_string(app_settings.AZURE_CONNECTION_STRING)
    else:
        account_url = app_settings.ENDPOINT_URL or (
            f"https://{app_settings.AZURE_ACCOUNT_NAME}.blob.core.windows.net"
        )
        service = BlobServiceClient(account_url, credential=credential)
    base, _, query = queue_url.partition("?")
    queue = QueueClient.from_queue_url(queue_url, credential=credential)
    poison = QueueClient.from_queue_url(
        f"{base.rstrip('/')}-poison" + (f"?{query}" if query else ""), credential=credential
    )
    return AzureQueueWorker(
        queue,
        lambda parsed: handle_parsed(parsed, config, AzureBlobStore(service), callback),
        poison_queue=poison,
        wait_time=wait_time,
        max_messages=max_messages,
    )


def _azure_credential() -> Any:
    """The account key (of AZURE_ACCOUNT_KEY or the connection string), or Entra ID."""
    name, key = app_settings.AZURE_ACCOUNT_NAME, app_settings.AZURE_ACCOUNT_KEY
    if app_settings.AZURE_CONNECTION_STRING:
        parts = dict(
            part.split("=", 1) for part in app_settings.AZURE_CONNECTION_STRING.split(";") if part
        )
        name, key = parts.get("AccountName"), parts.get("AccountKey")
    if name and key:
        return {"account_name": name, "account_key": key}
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class Command(BaseCommand):
    help = (
        "Receive storage upload events (SQS, Pub/Sub or Azure Storage Queue) and process each "
        "upload with the processor's handler. Messages are acknowledged only after success; "
        "failed ones come back after the visibility timeout or ack deadline. SIGINT/SIGTERM "
        "finish the current message, then exit."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--source",
            choices=sorted(SOURCES),
            help="Where events come from (default: the one whose queue setting is set).",
        )
        parser.add_argument(
            "--once", action="store_true", help="Drain the queue, then exit (tests, cron)."
        )
        parser.add_argument(
            "--wait-time",
            type=int,
            default=20,
            help="Long-poll seconds per receive (SQS: 0-20; Storage Queue: longest idle "
            "wait); also bounds how long a stop can take.",
        )
        parser.add_argument("--max-messages", type=int, default=10)

    def handle(
        self,
        *args: Any,
        source: str | None,
        once: bool,
        wait_time: int,
        max_messages: int,
        **options: Any,
    ) -> None:
        worker = build_worker(source=source, wait_time=wait_time, max_messages=max_messages)
        if threading.current_thread() is threading.main_thread():
            # Signal handlers can only be installed from the main thread.
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda _signum, _frame: worker.stop())
        self.stdout.write(f"Polling {worker.source} (Ctrl-C stops after the current message)")
        stats = worker.run(once=once)
        self.stdout.write(
            f"Received {stats.received}, processed {stats.deleted}, failed {stats.failed}."
        )
