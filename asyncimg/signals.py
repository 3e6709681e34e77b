"""Signals integrators can hook. Both are sent after the change is committed.

- ``upload_processed(sender=Upload, state=UploadState, image=<PROCESSED_IMAGE_MODEL instance>)``
- ``upload_failed(sender=Upload, state=UploadState)`` when an upload ends FAILED (processing failed,
  or ``cancelUpload``: code ``CANCELLED``) or EXPIRED (``asyncimg_expire`` found no file). Not sent
  when the sweep finds the file and moves the upload to UPLOADED, nor when a cancel or a late event
  meets an upload that had already finished.
"""

from __future__ import annotations

from django.dispatch import Signal

upload_processed = Signal()
upload_failed = Signal()
