from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from asyncimg.services.expiry import expire_uploads


class Command(BaseCommand):
    help = (
        "Mark pending uploads whose credential expired as EXPIRED and notify subscribers. "
        "Safe to run from cron every minute on several hosts at once."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        expired = expire_uploads(batch_size=batch_size)
        self.stdout.write(f"Expired {len(expired)} upload(s).")
