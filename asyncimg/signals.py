"""Signals integrators can hook. Both are sent after the change is committed.

- ``upload_processed(sender=Upload, state=UploadState, image=<PROCESSED_IMAGE_MODEL instance>)``
- ``upload_failed(sender=Upload, state=UploadState)`` (processing failed, cancelled, or expired)
"""

from __future__ import annotations

from django.dispatch import Signal

upload_processed = Signal()
upload_failed = Signal()
