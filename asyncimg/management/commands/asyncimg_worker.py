"""``manage.py asyncimg_worker``: receive S3 events from SQS and run the Lambda handler locally.

For local development (the demo runs the same loop in a thread, see :func:`build_worker`) and
for teams that process images on their own servers instead of AWS Lambda.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import boto3
from django.core.management.base import BaseCommand, CommandError

from asyncimg.conf import app_settings
from asyncimg_processor.callback import CallbackClient
from asyncimg_processor.core import ProcessOptions
from asyncimg_processor.handler import HandlerConfig, handle_event
from asyncimg_processor.worker import SqsWorker


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
        ),
    )


def build_worker(*, wait_time: int = 20, max_messages: int = 10) -> SqsWorker:
    """An :class:`SqsWorker` wired from settings; call ``run()`` in a thread, ``stop()`` to end."""
    if not app_settings.QUEUE_URL:
        raise CommandError("Set ASYNC_IMAGE_UPLOAD_QUEUE_URL: the SQS queue of S3 events.")
    config = handler_config()
    # One session and one client per service for the whole process (clients are thread-safe).
    session = boto3.session.Session()
    endpoint, region = app_settings.ENDPOINT_URL, app_settings.REGION
    s3 = session.client("s3", endpoint_url=endpoint, region_name=region)
    sqs = session.client("sqs", endpoint_url=endpoint, region_name=region)
    callback = CallbackClient(config.callback_url, config.callback_secret)
    return SqsWorker(
        sqs,
        app_settings.QUEUE_URL,
        lambda event: handle_event(event, config, s3, callback),
        wait_time=wait_time,
        max_messages=max_messages,
    )


class Command(BaseCommand):
    help = (
        "Long-poll the SQS queue of S3 upload events and process each upload with the Lambda "
        "handler. Messages are deleted only after success; failed ones come back after the "
        "visibility timeout. SIGINT/SIGTERM finish the current message, then exit."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Drain the queue, then exit (tests, cron)."
        )
        parser.add_argument(
            "--wait-time",
            type=int,
            default=20,
            help="Long-poll seconds per receive (0-20); also bounds how long a stop can take.",
        )
        parser.add_argument("--max-messages", type=int, default=10)

    def handle(
        self, *args: Any, once: bool, wait_time: int, max_messages: int, **options: Any
    ) -> None:
        worker = build_worker(wait_time=wait_time, max_messages=max_messages)
        if threading.current_thread() is threading.main_thread():
            # Signal handlers can only be installed from the main thread.
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda _signum, _frame: worker.stop())
        self.stdout.write(f"Polling {worker.queue_url} (Ctrl-C stops after the current message)")
        stats = worker.run(once=once)
        self.stdout.write(
            f"Received {stats.received}, processed {stats.deleted}, failed {stats.failed}."
        )
