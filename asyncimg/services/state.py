"""The state of an upload as clients see it: one transfer object for queries, mutations and events.

It is built once per change (with image URLs resolved) and sent over the channel layer as a plain
dict, so a subscriber renders it without touching the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from asyncimg.services.owners import owner_key
from asyncimg.storage import get_backend

if TYPE_CHECKING:  # importable before the app registry is ready (asyncimg.graphql's types)
    from asyncimg.models import AbstractProcessedImage, Upload


@dataclass(frozen=True)
class VariantState:
    name: str
    width: int
    height: int
    format: str
    url: str
    size: int


@dataclass(frozen=True)
class ImageState:
    id: str
    width: int
    height: int
    format: str
    url: str
    variants: tuple[VariantState, ...]
    metadata: dict[str, Any]


@dataclass(frozen=True)
class UploadState:
    id: str
    status: str
    version: int
    filename: str
    content_type: str
    size: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    error_code: str
    error_message: str
    image: ImageState | None
    #: channel-group name of the owner (see :func:`asyncimg.services.publish.owner_group`)
    owner_key: str
    #: "" unless the moderation policy held the upload (PENDING_REVIEW, APPROVED, REJECTED)
    moderation_status: str = ""
    moderation_labels: tuple[dict[str, Any], ...] = ()

    @property
    def withheld(self) -> bool:
        """The image's URLs are for staff only: held for review, or rejected after review."""
        return self.moderation_status in {"PENDING_REVIEW", "REJECTED"}

    @property
    def is_terminal(self) -> bool:
        """Final, and no further change will be published: a READY upload held for review
        still changes once more (approved, or rejected to FAILED)."""
        if self.moderation_status == "PENDING_REVIEW":
            return False
        return self.status in {"READY", "FAILED", "EXPIRED"}

    @classmethod
    def from_model(cls, upload: Upload) -> UploadState:
        """Needs ``upload.image`` loaded (``select_related("image")``) to stay at one query."""
        return cls(
            id=str(upload.pk),
            status=str(upload.status),
            version=upload.version,
            filename=upload.filename,
            content_type=upload.content_type,
            size=upload.size,
            created_at=upload.created_at,
            updated_at=upload.updated_at,
            expires_at=upload.expires_at,
            error_code=upload.error_code,
            error_message=upload.error_message,
            image=image_state(upload.image) if upload.image is not None else None,
            owner_key=owner_key(upload.owner_id, upload.session_key or None),
            moderation_status=upload.moderation_status,
            moderation_labels=tuple(upload.moderation_labels or ()),
        )

    def to_message(self) -> dict[str, Any]:
        """A msgpack/JSON-safe dict (datetimes as ISO 8601): ``dataclasses.asdict`` with the dates
        formatted, written out because asdict deep-copies every value (a third of a callback's
        CPU). ``metadata`` is shared, not copied: the message is serialised, never mutated."""
        image = self.image
        return {
            "id": self.id,
            "status": self.status,
            "version": self.version,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "error_code": self.error_code,
            "error_message": self.error_message,
            "image": None
            if image is None
            else {
                "id": image.id,
                "width": image.width,
                "height": image.height,
                "format": image.format,
                "url": image.url,
                "variants": [
                    {
                        "name": v.name,
                        "width": v.width,
                        "height": v.height,
                        "format": v.format,
                        "url": v.url,
                        "size": v.size,
                    }
                    for v in image.variants
                ],
                "metadata": image.metadata,
            },
            "owner_key": self.owner_key,
            "moderation_status": self.moderation_status,
            "moderation_labels": list(self.moderation_labels),
        }

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> UploadState:
        image = data.get("image")
        return cls(
            **{
                **data,
                "created_at": datetime.fromisoformat(data["created_at"]),
                "updated_at": datetime.fromisoformat(data["updated_at"]),
                "expires_at": datetime.fromisoformat(data["expires_at"]),
                "moderation_labels": tuple(data.get("moderation_labels") or ()),
                "image": ImageState(
                    **{
                        **image,
                        "variants": tuple(VariantState(**v) for v in image["variants"]),
                    }
                )
                if image
                else None,
            }
        )


def image_state(image: AbstractProcessedImage) -> ImageState:
    backend = get_backend()
    variants = tuple(
        VariantState(
            name=str(v["name"]),
            width=int(v["width"]),
            height=int(v["height"]),
            format=str(v["format"]),
            url=backend.url(str(v["key"])),
            size=int(v["size"]),
        )
        for v in image.variants
    )
    return ImageState(
        id=str(image.pk),
        width=image.width,
        height=image.height,
        format=image.format,
        url=backend.url(image.key),
        variants=variants,
        metadata=dict(image.metadata),
    )
