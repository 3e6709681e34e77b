from __future__ import annotations

from typing import Any

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from asyncimg.services import uploads
from graphql_schema.context import current_owner
from graphql_schema.types import PresignedPost, RequestImageUploadInput, Upload, UploadTicket


def _request(info: Info[Any, Any], inputs: list[RequestImageUploadInput]) -> list[UploadTicket]:
    owner = current_owner(info, create_session=True)
    tickets = uploads.request_uploads(
        owner,
        [uploads.FileSpec(i.filename, i.content_type, i.size) for i in inputs],
    )
    return [
        UploadTicket(
            upload=Upload.from_state(t.upload),
            presigned_post=PresignedPost.from_data(t.presigned_post),
        )
        for t in tickets
    ]


def _cancel(info: Info[Any, Any], id: strawberry.ID) -> Upload:
    return Upload.from_state(uploads.cancel_upload(current_owner(info), id))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="A single-object presigned POST for one image; POST the file to its url."
    )
    async def request_image_upload(
        self, info: Info[Any, Any], input: RequestImageUploadInput
    ) -> UploadTicket:
        return (await sync_to_async(_request)(info, [input]))[0]

    @strawberry.mutation(description="Credentials for several images; all are valid or none.")
    async def request_image_uploads(
        self, info: Info[Any, Any], inputs: list[RequestImageUploadInput]
    ) -> list[UploadTicket]:
        return await sync_to_async(_request)(info, inputs)

    @strawberry.mutation(description="Stop a pending upload: it ends FAILED with code CANCELLED.")
    async def cancel_upload(self, info: Info[Any, Any], id: strawberry.ID) -> Upload:
        return await sync_to_async(_cancel)(info, id)
