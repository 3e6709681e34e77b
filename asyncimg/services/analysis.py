"""What the app does with the processor's analyzers' results: moderation, duplicates, labels.

The processor only reports (``metadata["rekognition"]``, ``metadata["perceptualHash"]``...); the
rules live here, in one place, read from settings when the ``succeeded`` callback arrives:

* :func:`moderation_decision`: ``ASYNC_IMAGE_UPLOAD_MODERATION`` applied to the moderation labels:
  reject (the upload ends FAILED, REJECTED_BY_MODERATION, its outputs deleted), hold (READY, but
  PENDING_REVIEW: URLs withheld until a reviewer approves in the admin) or nothing. With a policy
  set and no moderation result (the analyzer failed or is not enabled), the upload is held:
  moderation fails closed.
* :func:`record_fingerprint` / :func:`duplicates`: the perceptual hash, indexed in four 16-bit
  bands (see :class:`asyncimg.models.ImageFingerprint`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from asyncimg.conf import app_settings
from asyncimg.errors import REJECTED_BY_MODERATION
from asyncimg.models import ImageFingerprint, ModerationStatus, Upload, UploadStatus
from asyncimg.services.owners import Owner
from asyncimg.services.state import ImageState, image_state

REJECT = "reject"
HOLD = "hold"
__all__ = ["REJECTED_BY_MODERATION"]  # re-exported: callbacks and transitions use it from here

REJECTED_MESSAGE = "The image was rejected by content moderation. Upload another image."

_HEX64 = re.compile(r"[0-9a-f]{16}")
#: Most labels kept from one result (a hostile or buggy processor cannot bloat the rows).
MAX_LABELS = 50
MAX_DUPLICATES = 50


@dataclass(frozen=True)
class Label:
    name: str
    confidence: float
    parent_name: str = ""


def _labels(value: Any) -> list[Label]:
    if not isinstance(value, list):
        return []
    labels = []
    for item in value[:MAX_LABELS]:
        if not isinstance(item, dict):
            continue
        name, confidence = item.get("name"), item.get("confidence")
        if not isinstance(name, str) or not name or not isinstance(confidence, int | float):
            continue
        if isinstance(confidence, bool) or not 0 <= confidence <= 100:  # percent; NaN fails too
            continue
        parent = item.get("parentName")
        labels.append(
            Label(
                name=name[:100],
                confidence=float(confidence),
                parent_name=parent[:100] if isinstance(parent, str) else "",
            )
        )
    return labels


def labels(metadata: dict[str, Any]) -> list[Label]:
    """The image's labels (``rekognition`` analyzer), highest confidence first."""
    result = metadata.get("rekognition")
    found = _labels(result.get("labels")) if isinstance(result, dict) else []
    return sorted(found, key=lambda label: -label.confidence)


def moderation_labels(metadata: dict[str, Any]) -> list[Label] | None:
    """The moderation labels, or None when there is no moderation result."""
    result = metadata.get("rekognition")
    if not isinstance(result, dict) or not isinstance(result.get("moderationLabels"), list):
        return None
    return _labels(result["moderationLabels"])


def placeholder(metadata: dict[str, Any]) -> tuple[str, str] | None:
    """``(hash, dataUrl)`` of the ``placeholder`` analyzer, when well-formed."""
    value = metadata.get("placeholder")
    if not isinstance(value, dict):
        return None
    code, data_url = value.get("hash"), value.get("dataUrl")
    if not isinstance(code, str) or not 6 <= len(code) <= 100:
        return None
    # Only an inline raster image: never a URL the client would fetch, never SVG.
    if not isinstance(data_url, str) or not re.fullmatch(
        r"data:image/(webp|png|jpeg);base64,[A-Za-z0-9+/]{1,8000}={0,2}", data_url
    ):
        return None
    return code, data_url


def _matches(label: Label, rules: dict[str, float]) -> bool:
    for name in (label.name, label.parent_name, "*"):
        if name and name in rules and label.confidence >= rules[name]:
            return True
    return False


def moderation_decision(metadata: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """``(REJECT | HOLD | "", the labels it rests on)`` under ``ASYNC_IMAGE_UPLOAD_MODERATION``."""
    policy = app_settings.MODERATION
    if not policy["reject"] and not policy["hold"]:
        return "", []
    found = moderation_labels(metadata)
    if found is None:
        return HOLD, []
    as_json = [
        {"name": label.name, "parentName": label.parent_name, "confidence": label.confidence}
        for label in found
    ]
    if any(_matches(label, policy["reject"]) for label in found):
        return REJECT, as_json
    if any(_matches(label, policy["hold"]) for label in found):
        return HOLD, as_json
    return "", as_json


def owner_ref(upload: Upload) -> str:
    return f"u{upload.owner_id}" if upload.owner_id is not None else f"s{upload.session_key}"


def _ref(owner: Owner) -> str | None:
    if owner.user_id is not None:
        return f"u{owner.user_id}"
    return f"s{owner.session_key}" if owner.session_key else None


def _bands(phash: str) -> dict[str, int]:
    value = int(phash, 16)
    return {f"band{i}": (value >> (48 - 16 * i)) & 0xFFFF for i in range(4)}


def record_fingerprint(upload_id: Any, metadata: dict[str, Any], *, using: str) -> None:
    """Store the upload's perceptual hash (when the processor sent a well-formed one)."""
    phash = metadata.get("perceptualHash")
    if not isinstance(phash, str) or not _HEX64.fullmatch(phash):
        return
    upload = Upload.objects.using(using).only("owner_id", "session_key").get(pk=upload_id)
    ImageFingerprint.objects.using(using).update_or_create(
        upload_id=upload_id,
        defaults={"owner_ref": owner_ref(upload), "phash": phash, **_bands(phash)},
    )


def candidates(owner: Owner, phash: str) -> Any:
    """The owner's fingerprints sharing at least one band with ``phash``: four index lookups
    on ``(owner_ref, band_i)``, never a scan of the owner's images."""
    ref = _ref(owner)
    if ref is None or not _HEX64.fullmatch(phash):
        return ImageFingerprint.objects.none()
    bands = _bands(phash)
    any_band = Q()
    for name, value in bands.items():
        any_band |= Q(**{name: value})
    return ImageFingerprint.objects.filter(any_band, owner_ref=ref)


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def duplicates(owner: Owner, image_id: str, first: int | None = None) -> list[ImageState]:
    """The owner's other READY images within ``ASYNC_IMAGE_UPLOAD_DUPLICATE_DISTANCE`` bits of
    the perceptual hash of the image ``image_id``, nearest first (at most ``first``)."""
    limit = max(0, min(MAX_DUPLICATES, 10 if first is None else first))
    if not limit:
        return []
    own = (
        Upload.objects.filter(owner.filter, image__pk=image_id)
        .select_related("fingerprint")
        .first()
    )
    if own is None or not hasattr(own, "fingerprint"):
        return []
    phash = own.fingerprint.phash
    visible = Q(upload__moderation_status="") | Q(
        upload__moderation_status=ModerationStatus.APPROVED
    )
    rows = (
        candidates(owner, phash)
        .filter(visible, upload__status=UploadStatus.READY, upload__image__isnull=False)
        .exclude(upload_id=own.pk)
        .select_related("upload__image")
        # Bounded even when an owner has many identical images (one band value for all).
        .order_by("-upload__created_at")[: MAX_DUPLICATES * 20]
    )
    threshold = app_settings.DUPLICATE_DISTANCE
    scored = [(distance(phash, row.phash), row) for row in rows]
    near = sorted((pair for pair in scored if pair[0] <= threshold), key=lambda pair: pair[0])
    return [image_state(row.upload.image) for _, row in near[:limit]]
