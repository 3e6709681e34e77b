"""The app's mutations. Resolvers import the services when called, so that a project can import
``asyncimg.graphql`` (and build its schema) in ``asgi.py`` before Django is set up."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from asyncimg.graphql.context import current_owner
from asyncimg.graphql.resolve import orm
from asyncimg.graphql.types import PresignedPost, RequestImageUploadInput, Upload, UploadTicket


def _request(info: Info[Any, Any], inputs: list[RequestImageUploadInput]) -> list[UploadTicket]:
    from asyncimg.services import uploads

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


def _request_one(info: Info[Any, Any], input: RequestImageUploadInput) -> UploadTicket:
    return _request(info, [input])[0]


def _cancel(info: Info[Any, Any], id: strawberry.ID) -> Upload:
    from asyncimg.services import uploads

    return Upload.from_state(uploads.cancel_upload(current_owner(info), id))


# Named as in the contract when used as is; a subclass takes its own name.
@strawberry.type(name="Mutation")
class AsyncImageMutation:
    @strawberry.mutation(
        description="A single-object presigned POST for one image; POST the file to its url."
    )
    def request_image_upload(
        self, info: Info[Any, Any], input: RequestImageUploadInput
    ) -> UploadTicket:
        return orm(_request_one, info, input)

    @strawberry.mutation(description="Credentials for several images; all are valid or none.")
    def request_image_uploads(
        self, info: Info[Any, Any], inputs: list[RequestImageUploadInput]
    ) -> list[UploadTicket]:
        return orm(_request, info, inputs)

    @strawberry.mutation(
        description="Cancel an unfinished upload (PENDING, UPLOADED or PROCESSING): it ends "
        "FAILED with code CANCELLED. A finished upload is returned unchanged."
    )
    def cancel_upload(self, info: Info[Any, Any], id: strawberry.ID) -> Upload:
        return orm(_cancel, info, id)
