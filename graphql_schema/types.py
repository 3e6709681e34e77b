"""GraphQL types of the public contract (docs: ARCHITECTURE.md). Names here are API: keep them.

Every type renders an :class:`asyncimg.services.state.UploadState` transfer object, so resolving a
field never touches the database (queries, mutations and subscriptions alike). That is why these are
plain strawberry types and not strawberry-django model types: those resolve relations per field,
which in a subscription means a thread hop per field; here one serializer serves every path and the
connection keeps the shape strawberry-django's relay support produces.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.relay import PageInfo
from strawberry.scalars import JSON

from asyncimg.services.state import ImageState, UploadState, VariantState
from asyncimg.storage import PresignedPost as PresignedPostData


@strawberry.enum
class UploadStatus(Enum):
    PENDING = "PENDING"
    UPLOADED = "UPLOADED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


@strawberry.type
class UploadError:
    code: str
    message: str


@strawberry.type
class ImageVariant:
    name: str
    width: int
    height: int
    format: str
    url: str
    size: int

    @classmethod
    def from_state(cls, v: VariantState) -> ImageVariant:
        return cls(
            name=v.name, width=v.width, height=v.height, format=v.format, url=v.url, size=v.size
        )


@strawberry.type
class ProcessedImage:
    id: strawberry.ID
    width: int
    height: int
    format: str
    url: str
    variants: list[ImageVariant]
    metadata: JSON

    @classmethod
    def from_state(cls, image: ImageState) -> ProcessedImage:
        return cls(
            id=strawberry.ID(image.id),
            width=image.width,
            height=image.height,
            format=image.format,
            url=image.url,
            variants=[ImageVariant.from_state(v) for v in image.variants],
            metadata=JSON(image.metadata),
        )


@strawberry.type
class Upload:
    id: strawberry.ID
    status: UploadStatus
    filename: str
    content_type: str
    size: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    error: UploadError | None
    image: ProcessedImage | None

    @classmethod
    def from_state(cls, state: UploadState) -> Upload:
        return cls(
            id=strawberry.ID(state.id),
            status=UploadStatus(state.status),
            filename=state.filename,
            content_type=state.content_type,
            size=state.size,
            created_at=state.created_at,
            updated_at=state.updated_at,
            expires_at=state.expires_at,
            error=UploadError(code=state.error_code, message=state.error_message)
            if state.error_code
            else None,
            image=ProcessedImage.from_state(state.image) if state.image else None,
        )


@strawberry.type
class PresignedPost:
    url: str
    fields: JSON
    expires_at: datetime

    @classmethod
    def from_data(cls, post: PresignedPostData) -> PresignedPost:
        return cls(url=post.url, fields=JSON(dict(post.fields)), expires_at=post.expires_at)


@strawberry.type
class UploadTicket:
    upload: Upload
    presigned_post: PresignedPost


@strawberry.input
class RequestImageUploadInput:
    filename: str
    content_type: str
    size: int


@strawberry.type
class UploadEdge:
    cursor: str
    node: Upload


@strawberry.type
class UploadConnection:
    """A Relay connection, shaped like strawberry-django's ``ListConnectionWithTotalCount``."""

    edges: list[UploadEdge]
    page_info: PageInfo
    total_count: int
