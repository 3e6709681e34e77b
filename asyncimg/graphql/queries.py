"""The app's queries (services imported when called: see ``mutations.py``)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.relay import PageInfo
from strawberry.types import Info

from asyncimg.graphql.context import current_owner
from asyncimg.graphql.resolve import orm
from asyncimg.graphql.types import Upload, UploadConnection, UploadEdge, UploadStatus


def _upload(info: Info[Any, Any], id: strawberry.ID) -> Upload:
    from asyncimg.services import uploads

    return Upload.from_state(uploads.get_upload(current_owner(info), id))


def _uploads(
    info: Info[Any, Any], status: UploadStatus | None, first: int | None, after: str | None
) -> UploadConnection:
    from asyncimg.services import uploads

    page = uploads.list_uploads(
        current_owner(info),
        # The member's name: mypy types .value as strawberry's EnumValueDefinition (the
        # descriptions); strawberry makes the values the names anyway.
        status=status.name if status is not None else None,
        first=first,
        after=after,
    )
    edges = [
        UploadEdge(cursor=cursor, node=Upload.from_state(state)) for cursor, state in page.items
    ]
    return UploadConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total_count,
    )


# Named as in the contract when used as is; a subclass takes its own name.
@strawberry.type(name="Query")
class AsyncImageQuery:
    @strawberry.field(description="One of your uploads. Somebody else's id is NOT_FOUND.")
    def upload(self, info: Info[Any, Any], id: strawberry.ID) -> Upload | None:
        # Owner lookup, query and rendering in one call (one thread hop over the websocket).
        return orm(_upload, info, id)

    @strawberry.field(description="Your uploads, newest first.")
    def uploads(
        self,
        info: Info[Any, Any],
        status: UploadStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> UploadConnection:
        return orm(_uploads, info, status, first, after)
