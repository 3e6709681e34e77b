from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from asyncimg.services.expiry import (
    MAX_ERRORS_IN_A_ROW,
    Orphans,
    expire_uploads,
    prune_callback_events,
    remove_orphans,
    time_out_processing,
)


class Command(BaseCommand):
    help = (
        "Settle pending uploads whose credential expired: UPLOADED when the file is in storage "
        "(its processing is late), EXPIRED when it is not; subscribers are notified. Uploads "
        "storage cannot be asked about stay PENDING for the next run. UPLOADED/PROCESSING "
        "uploads older than ASYNC_IMAGE_UPLOAD_PROCESSING_TIMEOUT become FAILED "
        "(PROCESSING_TIMEOUT); old callback event ids are pruned; processed images of uploads "
        "whose row is gone are deleted (one random 256th of them per run). Safe to run from cron "
        "every minute on several hosts at once."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--orphan-shard",
            default=None,
            help="Sweep orphaned outputs of upload ids starting with these hex digits "
            "(default: two random ones).",
        )

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        sweep = expire_uploads(batch_size=batch_size)
        timed_out = time_out_processing(batch_size=batch_size)
        pruned = prune_callback_events()
        # Storage known to be down (already reported): the orphans wait for a run that reaches it.
        orphans = Orphans() if sweep.stopped else remove_orphans(shard=options["orphan_shard"])
        self.stdout.write(
            f"Expired {len(sweep.expired)} upload(s); "
            f"{len(sweep.uploaded)} upload(s) had their file and are now UPLOADED; "
            f"{len(timed_out)} upload(s) timed out in processing; "
            f"{pruned} old callback event(s) pruned; "
            f"{len(orphans.removed)} orphaned output folder(s) removed."
        )
        if sweep.unchecked:
            # Reported, not a failing exit status: the next run retries them, and each
            # failure is already logged with its cause.
            stopped = (
                f" (the sweep stopped after {MAX_ERRORS_IN_A_ROW} storage errors in a row)"
                if sweep.stopped
                else ""
            )
            self.stderr.write(
                f"Storage could not be checked for {sweep.unchecked} upload(s){stopped}; "
                "they stay PENDING until a later run can check them."
            )
        if orphans.failed:
            self.stderr.write(
                "Storage could not be listed or cleaned for orphaned outputs; a later run "
                "tries again."
            )
