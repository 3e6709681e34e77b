"""``manage.py demo``: the whole system on embedded defaults, in one process tree.

Needs nothing but the ``demo`` extra: SQLite under ``var/`` (``ASYNCIMG_DATA_DIR``), a moto server
for S3 and SQS, the processor's worker in a thread and one uvicorn server. ``--storage gcs`` or
``--storage azure`` runs it on those clouds' emulators instead. ``REDIS_URL`` and ``DATABASE_URL``
are honoured when set. See :mod:`config.embedded`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Run the upload demo: page at /, GraphiQL at /graphql/, with embedded S3/SQS and worker."
    # The bucket, queue and callback secret do not exist until handle() creates them; the
    # checks run there, once the settings point at them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (127.0.0.1).")
        parser.add_argument(
            "--port", type=int, default=8000, help="Port to bind (8000); 0 picks a free one."
        )
        parser.add_argument(
            "--storage",
            choices=["s3", "gcs", "azure"],
            default="s3",
            help="s3: moto (S3 + SQS); gcs: fake-gcs-server + the Pub/Sub emulator (extra gcs); "
            "azure: Azurite blob + queue with an Event Grid stand-in (extra azure).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from config.embedded import Demo, DemoError

        verbosity = int(options["verbosity"])
        demo = Demo(
            host=options["host"],
            port=options["port"],
            log_level="warning" if verbosity < 1 else "info",
            access_log=verbosity >= 2,
            out=self.stdout,
            checks=self.check,
            storage=options["storage"],
        )
        try:
            demo.run()
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
