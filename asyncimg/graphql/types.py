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
from typing import Annotated, Any

import strawberry
from strawberry.relay import PageInfo
from strawberry.scalars import JSON
from strawberry.types import Info

from asyncimg.graphql.context import current_owner
from asyncimg.graphql.resolve import orm
from asyncimg.services.state import ImageState, UploadState, VariantState
from asyncimg.storage import PresignedPost as PresignedPostData


@strawberry.enum(description="Where an upload is in its life; READY, FAILED and EXPIRED are final.")
class UploadStatus(Enum):
    PENDING = strawberry.enum_value(
        "PENDING", description="A credential was issued; no file has been seen yet."
    )
    UPLOADED = strawberry.enum_value(
        "UPLOADED", description="The file is in storage and waits for the processor."
    )
    PROCESSING = strawberry.enum_value(
        "PROCESSING", description="The processor is checking the file and making the variants."
    )
    READY = strawberry.enum_value("READY", description="Processed: `image` is set. Final.")
    FAILED = strawberry.enum_value(
        "FAILED", description="Rejected, failed or cancelled: `error` says why. Final."
    )
    EXPIRED = strawberry.enum_value(
        "EXPIRED", description="The credential expired and no file arrived. Final."
    )


@strawberry.type(description="Why an upload is FAILED or EXPIRED.")
class UploadError:
    code: str = strawberry.field(
        description="Stable, machine-readable: e.g. CANCELLED, EXPIRED, UNSUPPORTED_TYPE."
    )
    message: str = strawberry.field(description="For people; may change between versions.")


@strawberry.type(description="One resized copy of the processed image.")
class ImageVariant:
    name: str = strawberry.field(description='Width and format, e.g. "800w.webp".')
    width: int = strawberry.field(description="Pixels.")
    height: int = strawberry.field(description="Pixels.")
    format: str = strawberry.field(description='"webp" or "jpeg".')
    url: str = strawberry.field(
        description="Where to fetch it: a presigned GET URL, or the CDN URL when MEDIA_URL is set."
    )
    size: int = strawberry.field(description="Bytes.")

    @classmethod
    def from_state(cls, v: VariantState) -> ImageVariant:
        return cls(
            name=v.name, width=v.width, height=v.height, format=v.format, url=v.url, size=v.size
        )


@strawberry.type(description="Something to paint before the first variant has loaded.")
class ImagePlaceholder:
    hash: str = strawberry.field(
        description="A BlurHash (https://blurha.sh) of the image; decode it at a few pixels and "
        "scale it up."
    )
    data_url: str = strawberry.field(
        description="A tiny image (at most 16 px) as a data: URL, to paint at once, scaled up "
        "and blurred."
    )


@strawberry.type(description="Something the image shows, found by the rekognition analyzer.")
class ImageLabel:
    name: str = strawberry.field(description='A Rekognition label name, e.g. "Dog".')
    confidence: float = strawberry.field(description="Percent, 0 to 100.")


@strawberry.type(description="A content-moderation label found in the image.")
class ModerationLabel:
    name: str = strawberry.field(description='A Rekognition moderation label, e.g. "Violence".')
    parent_name: str = strawberry.field(description='Its top-level category; "" for a top one.')
    confidence: float = strawberry.field(description="Percent, 0 to 100.")


@strawberry.enum(description="Where a held image is in its review.")
class ModerationStatus(Enum):
    PENDING_REVIEW = strawberry.enum_value(
        "PENDING_REVIEW",
        description="Held by the moderation policy: `image` is withheld until a reviewer decides.",
    )
    APPROVED = strawberry.enum_value("APPROVED", description="A reviewer approved it.")
    REJECTED = strawberry.enum_value(
        "REJECTED", description="A reviewer rejected it: the upload is FAILED."
    )


@strawberry.type(description="The moderation review of an upload the policy held.")
class Moderation:
    status: ModerationStatus = strawberry.field(description="See ModerationStatus.")
    labels: list[ModerationLabel] = strawberry.field(
        description="The labels that held it (empty when no moderation result could be had)."
    )


def _duplicates(info: Info[Any, Any], image_id: str, first: int | None) -> list[ProcessedImage]:
    from asyncimg.services import analysis

    owner = current_owner(info)
    return [ProcessedImage.from_state(i) for i in analysis.duplicates(owner, image_id, first)]


@strawberry.type(description="The result of processing: the normalised original and its variants.")
class ProcessedImage:
    id: strawberry.ID = strawberry.field(description="A UUID.")
    width: int = strawberry.field(description="Pixels of the normalised original.")
    height: int = strawberry.field(description="Pixels of the normalised original.")
    format: str = strawberry.field(description="Format of the normalised original.")
    url: str = strawberry.field(
        description="The normalised original: orientation applied, metadata stripped."
    )
    variants: list[ImageVariant] = strawberry.field(
        description="Resized copies, never larger than the original."
    )
    metadata: JSON = strawberry.field(
        description="Dimensions, an EXIF summary (never GPS), and each analyzer's result under "
        "its name (dominantColor, placeholder, perceptualHash, rekognition...)."
    )
    placeholder: ImagePlaceholder | None = strawberry.field(
        description="What to paint before a variant loads; null without the placeholder analyzer."
    )
    labels: list[ImageLabel] = strawberry.field(
        description="What the image shows, highest confidence first (the rekognition analyzer; "
        "empty without it)."
    )

    @strawberry.field(
        description="Your other READY images that look the same (perceptual hashes at most "
        "ASYNC_IMAGE_UPLOAD_DUPLICATE_DISTANCE bits apart), nearest first; at most `first` "
        "(default 10, at most 50)."
    )
    def duplicates(
        self,
        info: Info[Any, Any],
        first: Annotated[
            int | None, strawberry.argument(description="How many, at most (default 10, max 50).")
        ] = None,
    ) -> list[ProcessedImage]:
        return orm(_duplicates, info, str(self.id), first)

    @classmethod
    def from_state(cls, image: ImageState) -> ProcessedImage:
        from asyncimg.services import analysis

        found = analysis.placeholder(image.metadata)
        return cls(
            placeholder=ImagePlaceholder(hash=found[0], data_url=found[1]) if found else None,
            labels=[
                ImageLabel(name=label.name, confidence=label.confidence)
                for label in analysis.labels(image.metadata)
            ],
            id=strawberry.ID(image.id),
            width=image.width,
            height=image.height,
            format=image.format,
            url=image.url,
            variants=[ImageVariant.from_state(v) for v in image.variants],
            metadata=JSON(image.metadata),
        )


@strawberry.type(description="One image upload, from its credential to its processed result.")
class Upload:
    id: strawberry.ID = strawberry.field(description="A UUID.")
    status: UploadStatus = strawberry.field(description="See UploadStatus.")
    filename: str = strawberry.field(description="The sanitised file name.")
    content_type: str = strawberry.field(description="The content type the credential allows.")
    size: int = strawberry.field(description="Declared size in bytes: the largest file accepted.")
    created_at: datetime = strawberry.field(description="When the credential was requested.")
    updated_at: datetime = strawberry.field(description="When the status last changed.")
    expires_at: datetime = strawberry.field(
        description="When the presigned credential stops working."
    )
    error: UploadError | None = strawberry.field(description="Set when FAILED or EXPIRED.")
    moderation: Moderation | None = strawberry.field(
        description="Set when the moderation policy held the upload for review."
    )
    processed: strawberry.Private[ImageState | None]
    withheld: strawberry.Private[bool]

    @strawberry.field(
        description="Set when READY; withheld (null) from all but staff while the upload is held "
        "for review."
    )
    def image(self, info: Info[Any, Any]) -> ProcessedImage | None:
        if self.processed is None or (self.withheld and not _is_staff(info)):
            return None
        return ProcessedImage.from_state(self.processed)

    @classmethod
    def from_state(cls, state: UploadState) -> Upload:
        moderation = (
            Moderation(
                status=ModerationStatus(state.moderation_status),
                labels=[
                    ModerationLabel(
                        name=str(label.get("name", "")),
                        parent_name=str(label.get("parentName", "")),
                        confidence=float(label.get("confidence", 0)),
                    )
                    for label in state.moderation_labels
                ],
            )
            if state.moderation_status
            else None
        )
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
            moderation=moderation,
            processed=state.image,
            withheld=state.withheld,
        )


def _is_staff(info: Info[Any, Any]) -> bool:
    # The user is already loaded (the view's request, the websocket's AuthMiddleware): no query.
    context = info.context
    request = context.get("request") if isinstance(context, dict) else context.request
    scope = getattr(request, "scope", None)
    user = scope.get("user") if scope is not None and "user" in scope else None
    if user is None:
        user = getattr(request, "user", None)
    return bool(getattr(user, "is_staff", False))


@strawberry.type(
    description="A credential for sending one file straight to storage: a form POST or a PUT."
)
class PresignedPost:
    url: str = strawberry.field(description="Where to POST the form.")
    fields: JSON = strawberry.field(
        description="Form fields to send exactly as given; the file goes last, as `file`."
    )
    expires_at: datetime = strawberry.field(description="When the credential stops working.")
    method: str = strawberry.field(
        description='"POST": a multipart form of `fields` then the file (S3, GCS). "PUT": the '
        "file's bytes as the body, with `headers` (Azure Blob SAS)."
    )
    headers: JSON = strawberry.field(description="Headers the client must send ({} for POST).")

    @classmethod
    def from_data(cls, post: PresignedPostData) -> PresignedPost:
        return cls(
            url=post.url,
            fields=JSON(dict(post.fields)),
            expires_at=post.expires_at,
            method=post.method,
            headers=JSON(dict(post.headers)),
        )


@strawberry.type(description="A new (or reused, live) upload and its credential.")
class UploadTicket:
    upload: Upload = strawberry.field(description="Its status is PENDING until the file arrives.")
    presigned_post: PresignedPost = strawberry.field(description="How to send the file.")


@strawberry.input(description="What the client declares about the file it is about to upload.")
class RequestImageUploadInput:
    filename: str = strawberry.field(description="The file's name; sanitised by the server.")
    content_type: str = strawberry.field(
        description="One of the allowed image types, e.g. image/jpeg (never SVG)."
    )
    size: int = strawberry.field(description="Size in bytes: storage refuses a larger file.")


@strawberry.type(description="One upload of a page of `uploads`.")
class UploadEdge:
    cursor: str = strawberry.field(description="Pass it as `after` to get the uploads after it.")
    node: Upload


@strawberry.type(description="A page of the caller's uploads (a Relay connection).")
class UploadConnection:
    """A Relay connection, shaped like strawberry-django's ``ListConnectionWithTotalCount``."""

    edges: list[UploadEdge] = strawberry.field(description="Newest first.")
    page_info: PageInfo
    total_count: int = strawberry.field(description="All of the caller's uploads that match.")
