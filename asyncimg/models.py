from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class UploadStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    UPLOADED = "UPLOADED", _("Uploaded")
    PROCESSING = "PROCESSING", _("Processing")
    READY = "READY", _("Ready")
    FAILED = "FAILED", _("Failed")
    EXPIRED = "EXPIRED", _("Expired")


#: ``PROCESSED_IMAGE_MODEL``, swappable like ``AUTH_USER_MODEL``; a project may leave it unset.
PROCESSED_IMAGE_MODEL: str = getattr(settings, "PROCESSED_IMAGE_MODEL", "asyncimg.ProcessedImage")


class ModerationStatus(models.TextChoices):
    """Set only when ``ASYNC_IMAGE_UPLOAD_MODERATION`` held the upload for review."""

    NONE = "", _("Not held")
    PENDING_REVIEW = "PENDING_REVIEW", _("Pending review")
    APPROVED = "APPROVED", _("Approved")
    REJECTED = "REJECTED", _("Rejected")


TERMINAL_STATUSES = frozenset({UploadStatus.READY, UploadStatus.FAILED, UploadStatus.EXPIRED})


class AbstractProcessedImage(models.Model):
    """What the processor produced for one upload. Subclass it to swap ``PROCESSED_IMAGE_MODEL``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.CharField(_("object key"), max_length=1024)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=16)
    size = models.PositiveBigIntegerField(_("bytes"))
    #: ``[{"name", "width", "height", "format", "key", "size"}]`` in the order the processor sent.
    variants = models.JSONField(default=list, blank=True)
    #: Dimensions, EXIF summary (never GPS), dominant colour; shown to the owner as is.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.width}x{self.height} {self.format}"


class ProcessedImage(AbstractProcessedImage):
    class Meta(AbstractProcessedImage.Meta):
        swappable = "PROCESSED_IMAGE_MODEL"
        verbose_name = _("processed image")


class Upload(models.Model):
    """One image on its way from a client to the processor. Changed only through services."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="async_image_uploads",
    )
    #: Owner of an anonymous upload (``ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS``).
    session_key = models.CharField(max_length=40, blank=True, default="")
    filename = models.CharField(_("sanitised file name"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(_("declared bytes"))
    key = models.CharField(_("object key"), max_length=1024, unique=True)
    status = models.CharField(
        max_length=16, choices=UploadStatus.choices, default=UploadStatus.PENDING
    )
    #: Incremented by every transition; subscribers drop anything not newer than what they sent.
    version = models.PositiveIntegerField(default=1)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.CharField(max_length=500, blank=True, default="")
    image = models.OneToOneField(
        PROCESSED_IMAGE_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="upload",
    )
    #: The credential handed out, kept so a repeated request inside the reuse window gets it back.
    presigned_url = models.CharField(max_length=2048, editable=False)
    presigned_fields = models.JSONField(default=dict, editable=False)
    #: how the credential is used: "POST" (form, S3/GCS) or "PUT" (Azure SAS) with these headers
    presigned_method = models.CharField(max_length=8, default="POST", editable=False)
    presigned_headers = models.JSONField(default=dict, editable=False)
    expires_at = models.DateTimeField(_("credential expires at"))
    #: READY uploads held by the moderation policy keep their URLs from non-staff until approved.
    moderation_status = models.CharField(
        max_length=16, choices=ModerationStatus.choices, blank=True, default=""
    )
    #: ``[{"name", "parentName", "confidence"}]``: the moderation labels the decision rests on.
    moderation_labels = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("upload")
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["owner", "status", "-created_at"], name="asyncimg_owner_status"),
            models.Index(fields=["owner", "-created_at", "-id"], name="asyncimg_owner_created"),
            models.Index(
                fields=["session_key", "-created_at", "-id"],
                name="asyncimg_session_created",
                condition=Q(owner__isnull=True),
            ),
            # The quota and reuse lookups of a request for credentials: an owner's live ones.
            models.Index(fields=["owner", "status", "expires_at"], name="asyncimg_owner_pending"),
            models.Index(
                fields=["expires_at"],
                name="asyncimg_pending_expiry",
                condition=Q(status="PENDING"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=False) | ~Q(session_key=""),
                name="asyncimg_upload_has_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class CallbackEvent(models.Model):
    """Processor callbacks already applied, so an at-least-once redelivery changes nothing."""

    event_id = models.CharField(max_length=200)
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="callback_events")
    event = models.CharField(max_length=16)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("callback event")
        ordering = ("-received_at",)
        constraints = [
            # Once per upload: another upload's processor may reuse an id without colliding.
            models.UniqueConstraint(fields=["upload", "event_id"], name="asyncimg_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}"


class UploadLimit(models.Model):
    """One row per owner, and per client address of anonymous owners, locked by every request for
    upload credentials: quota and rate limit are decided in the same transaction as the insert,
    so concurrent requests cannot all pass the same check. ``count``/``window_start`` are the
    per-address rate window of anonymous owners (owners' own limits count their uploads)."""

    key = models.CharField(primary_key=True, max_length=64)
    window_start = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("upload limit")

    def __str__(self) -> str:
        return self.key


class ImageFingerprint(models.Model):
    """The perceptual hash of a READY upload's image, split for an indexed near-duplicate search.

    Multi-index hashing: the 64-bit hash is stored as four 16-bit bands, each indexed with the
    owner. Two hashes at most 3 bits apart differ in at most 3 bands, so (pigeonhole) they share
    at least one band exactly: the candidates are the owner's rows matching any band (four index
    lookups), and the exact distance is counted on those few rows only
    (:mod:`asyncimg.services.analysis`).
    """

    upload = models.OneToOneField(
        Upload, primary_key=True, on_delete=models.CASCADE, related_name="fingerprint"
    )
    #: ``u<user id>`` or ``s<session key>``, as :class:`asyncimg.services.owners.Owner` selects.
    owner_ref = models.CharField(max_length=48)
    phash = models.CharField(_("perceptual hash"), max_length=16)
    band0 = models.IntegerField()
    band1 = models.IntegerField()
    band2 = models.IntegerField()
    band3 = models.IntegerField()

    class Meta:
        verbose_name = _("image fingerprint")
        indexes = [
            models.Index(fields=["owner_ref", f"band{i}"], name=f"asyncimg_fp_band{i}")
            for i in range(4)
        ]

    def __str__(self) -> str:
        return self.phash
