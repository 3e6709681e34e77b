"""Queries and mutations of the GraphQL contract: ownership, reuse, limits, pagination, errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from asyncimg.models import ProcessedImage, Upload, UploadStatus
from asyncimg.signals import upload_failed
from tests.conftest import GraphQL, error_codes, graphql_client

pytestmark = pytest.mark.django_db

REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) { upload { id status } presignedPost { url fields expiresAt } }
}
"""
REQUEST_MANY = """
mutation($inputs: [RequestImageUploadInput!]!) {
  requestImageUploads(inputs: $inputs) { upload { id filename } presignedPost { fields } }
}
"""
UPLOAD = "query($id: ID!) { upload(id: $id) { id status filename error { code message } } }"
UPLOADS = """
query($status: UploadStatus, $first: Int, $after: String) {
  uploads(status: $status, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id status filename image { width url variants { name url } } } }
  }
}
"""
CANCEL = "mutation($id: ID!) { cancelUpload(id: $id) { id status error { code message } } }"
SPEC = {"filename": "cat.jpg", "contentType": "image/jpeg", "size": 1000}


def ticket(gql: GraphQL, **spec: Any) -> dict[str, Any]:
    result = gql(REQUEST, {"input": {**SPEC, **spec}})
    assert "errors" not in result, result
    data: dict[str, Any] = result["data"]["requestImageUpload"]
    return data


def login_client(user: Any) -> GraphQL:
    client = Client()
    client.force_login(user)
    return graphql_client(client)


# --- ownership -------------------------------------------------------------------------------


def test_owner_reads_own_upload(gql: GraphQL, s3: Any) -> None:
    upload_id = ticket(gql)["upload"]["id"]
    result = gql(UPLOAD, {"id": upload_id})
    assert result["data"]["upload"] == {
        "id": upload_id,
        "status": "PENDING",
        "filename": "cat.jpg",
        "error": None,
    }


def test_someone_elses_upload_is_not_found(gql: GraphQL, s3: Any, other_user: Any) -> None:
    upload_id = ticket(gql)["upload"]["id"]
    mallory = login_client(other_user)
    result = mallory(UPLOAD, {"id": upload_id})
    assert error_codes(result) == ["NOT_FOUND"]
    assert result["data"] == {"upload": None}
    assert mallory(UPLOADS)["data"]["uploads"]["totalCount"] == 0
    cancel = mallory(CANCEL, {"id": upload_id})
    assert error_codes(cancel) == ["NOT_FOUND"]
    assert Upload.objects.get(pk=upload_id).status == UploadStatus.PENDING


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", "1; DROP TABLE", "0" * 10_000])
def test_malformed_ids_are_not_found(gql: GraphQL, bad_id: str) -> None:
    assert error_codes(gql(UPLOAD, {"id": bad_id})) == ["NOT_FOUND"]
    assert error_codes(gql(CANCEL, {"id": bad_id})) == ["NOT_FOUND"]


def test_anonymous_is_refused_by_default(anon_gql: GraphQL, s3: Any) -> None:
    result = anon_gql(REQUEST, {"input": SPEC})
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert error_codes(anon_gql(UPLOADS)) == ["UNAUTHENTICATED"]
    assert Upload.objects.count() == 0


def test_anonymous_uploads_belong_to_the_session(s3: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS = True
    visitor, stranger = graphql_client(Client()), graphql_client(Client())
    upload_id = ticket(visitor)["upload"]["id"]
    upload = Upload.objects.get(pk=upload_id)
    assert upload.owner is None
    assert upload.session_key
    assert visitor(UPLOAD, {"id": upload_id})["data"]["upload"]["id"] == upload_id
    assert error_codes(stranger(UPLOAD, {"id": upload_id})) == ["NOT_FOUND"]
    assert stranger(UPLOADS)["data"]["uploads"]["totalCount"] == 0
    assert visitor(UPLOADS)["data"]["uploads"]["totalCount"] == 1


def test_anonymous_read_creates_no_session(settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS = True
    client = Client()
    result = graphql_client(client)(UPLOADS)
    assert result["data"]["uploads"]["totalCount"] == 0
    assert "sessionid" not in client.cookies


def test_csrf_is_enforced_for_cookie_sessions(client: Client, user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        "/graphql/", data={"query": "{ uploads { totalCount } }"}, content_type="application/json"
    )
    assert response.status_code == 403


def test_graphiql_sets_the_csrf_cookie(client: Client) -> None:
    response = client.get("/graphql/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"graphiql" in response.content.lower()
    assert "csrftoken" in response.cookies


# --- the reuse window ------------------------------------------------------------------------


def test_same_file_inside_window_gets_the_same_ticket(gql: GraphQL, s3: Any) -> None:
    first, second = ticket(gql), ticket(gql)
    assert first == second
    assert Upload.objects.count() == 1


def test_different_file_gets_a_new_ticket(gql: GraphQL, s3: Any) -> None:
    first = ticket(gql)
    assert ticket(gql, size=1001)["upload"]["id"] != first["upload"]["id"]
    assert ticket(gql, filename="dog.jpg")["upload"]["id"] != first["upload"]["id"]
    assert ticket(gql, contentType="image/png")["upload"]["id"] != first["upload"]["id"]
    assert Upload.objects.count() == 4


def test_credential_near_expiry_is_not_reused(gql: GraphQL, s3: Any) -> None:
    first = ticket(gql)
    # 20 s left: less than the 30 s window, so a client would not have time to use it.
    Upload.objects.update(expires_at=timezone.now() + timedelta(seconds=20))
    assert ticket(gql)["upload"]["id"] != first["upload"]["id"]


def test_other_owner_never_gets_my_ticket(gql: GraphQL, s3: Any, other_user: Any) -> None:
    mine = ticket(gql)
    theirs = ticket(login_client(other_user))
    assert theirs["upload"]["id"] != mine["upload"]["id"]


def test_reuse_disabled_with_zero_window(gql: GraphQL, s3: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW = 0
    assert ticket(gql)["upload"]["id"] != ticket(gql)["upload"]["id"]


def test_cancelled_upload_is_not_reused(gql: GraphQL, s3: Any) -> None:
    first = ticket(gql)
    gql(CANCEL, {"id": first["upload"]["id"]})
    assert ticket(gql)["upload"]["id"] != first["upload"]["id"]


# --- batches and limits ----------------------------------------------------------------------


def test_batch_request(gql: GraphQL, s3: Any) -> None:
    inputs = [{**SPEC, "filename": f"{i}.jpg"} for i in range(3)]
    result = gql(REQUEST_MANY, {"inputs": inputs})
    tickets = result["data"]["requestImageUploads"]
    assert [t["upload"]["filename"] for t in tickets] == ["0.jpg", "1.jpg", "2.jpg"]
    keys = {t["presignedPost"]["fields"]["key"] for t in tickets}
    assert len(keys) == 3


def test_batch_is_all_or_nothing(gql: GraphQL, s3: Any) -> None:
    inputs = [SPEC, {**SPEC, "contentType": "image/svg+xml"}]
    assert error_codes(gql(REQUEST_MANY, {"inputs": inputs})) == ["UNSUPPORTED_CONTENT_TYPE"]
    assert Upload.objects.count() == 0


def test_batch_cap(gql: GraphQL, s3: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_MAX_FILES_PER_REQUEST = 2
    inputs = [{**SPEC, "filename": f"{i}.jpg"} for i in range(3)]
    assert error_codes(gql(REQUEST_MANY, {"inputs": inputs})) == ["TOO_MANY_FILES"]
    assert error_codes(gql(REQUEST_MANY, {"inputs": []})) == ["BAD_USER_INPUT"]
    assert Upload.objects.count() == 0


def test_duplicated_files_in_one_batch_get_separate_uploads(gql: GraphQL, s3: Any) -> None:
    tickets = gql(REQUEST_MANY, {"inputs": [SPEC, SPEC]})["data"]["requestImageUploads"]
    assert tickets[0]["upload"]["id"] != tickets[1]["upload"]["id"]


def test_rate_limit(gql: GraphQL, s3: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_RATE_LIMIT = (2, 3600)
    ticket(gql, filename="1.jpg")
    ticket(gql, filename="2.jpg")
    result = gql(REQUEST, {"input": {**SPEC, "filename": "3.jpg"}})
    assert error_codes(result) == ["RATE_LIMITED"]
    assert Upload.objects.count() == 2
    # A repeated request for a live credential is not a new upload: still served.
    assert ticket(gql, filename="1.jpg")


def test_rate_limit_counts_a_batch_against_the_room_left(
    gql: GraphQL, s3: Any, settings: Any
) -> None:
    """The survey asks "is there a row at offset limit - n" per batch size n: a batch that would
    cross the limit by one is refused whole, one that fits exactly is served."""
    settings.ASYNC_IMAGE_UPLOAD_RATE_LIMIT = (3, 3600)
    ticket(gql, filename="1.jpg")
    over = [{**SPEC, "filename": f"b{i}.jpg"} for i in range(3)]
    assert error_codes(gql(REQUEST_MANY, {"inputs": over})) == ["RATE_LIMITED"]
    assert Upload.objects.count() == 1
    fits = [{**SPEC, "filename": f"c{i}.jpg"} for i in range(2)]
    assert len(gql(REQUEST_MANY, {"inputs": fits})["data"]["requestImageUploads"]) == 2
    assert error_codes(gql(REQUEST, {"input": {**SPEC, "filename": "4.jpg"}})) == ["RATE_LIMITED"]


def test_old_and_finished_uploads_count_against_no_limit(
    gql: GraphQL, s3: Any, settings: Any
) -> None:
    """Uploads older than the rate window, and finished or expired ones, leave the limits alone
    however many there are (the survey reads only the window and the live credentials)."""
    settings.ASYNC_IMAGE_UPLOAD_RATE_LIMIT = (2, 3600)
    settings.ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER = 2
    for i in range(2):
        ticket(gql, filename=f"old{i}.jpg")
    past = timezone.now() - timedelta(hours=2)
    Upload.objects.update(created_at=past, expires_at=past)
    assert ticket(gql, filename="n1.jpg")
    assert ticket(gql, filename="n2.jpg")
    assert error_codes(gql(REQUEST, {"input": {**SPEC, "filename": "n3.jpg"}})) == ["RATE_LIMITED"]


def test_pending_quota(gql: GraphQL, s3: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER = 1
    first = ticket(gql, filename="1.jpg")
    assert error_codes(gql(REQUEST, {"input": {**SPEC, "filename": "2.jpg"}})) == ["QUOTA_EXCEEDED"]
    gql(CANCEL, {"id": first["upload"]["id"]})
    assert ticket(gql, filename="2.jpg")


# --- cancel ----------------------------------------------------------------------------------


def test_cancel(gql: GraphQL, s3: Any) -> None:
    upload_id = ticket(gql)["upload"]["id"]
    result = gql(CANCEL, {"id": upload_id})
    assert result["data"]["cancelUpload"] == {
        "id": upload_id,
        "status": "FAILED",
        "error": {"code": "CANCELLED", "message": "Cancelled by the owner."},
    }
    upload = Upload.objects.get(pk=upload_id)
    assert upload.version == 2
    # Terminal: cancelling again changes nothing.
    assert gql(CANCEL, {"id": upload_id})["data"]["cancelUpload"]["status"] == "FAILED"
    assert Upload.objects.get(pk=upload_id).version == 2


@pytest.mark.django_db(transaction=True)  # real commits: the signal is sent on commit
def test_cancel_sends_upload_failed_after_commit(gql: GraphQL, s3: Any) -> None:
    live_id = ticket(gql, filename="live.jpg")["upload"]["id"]
    ready_id = ticket(gql, filename="ready.jpg")["upload"]["id"]
    Upload.objects.filter(pk=ready_id).update(status=UploadStatus.READY)
    received: list[tuple[str, str, str, bool]] = []

    def receiver(sender: Any, state: Any, **kwargs: Any) -> None:
        received.append((state.id, state.status, state.error_code, connection.in_atomic_block))

    upload_failed.connect(receiver, sender=Upload, weak=False, dispatch_uid="cancel")
    try:
        assert gql(CANCEL, {"id": live_id})["data"]["cancelUpload"]["status"] == "FAILED"
        # Already terminal: nothing changes, nothing is sent.
        assert gql(CANCEL, {"id": live_id})["data"]["cancelUpload"]["status"] == "FAILED"
        assert gql(CANCEL, {"id": ready_id})["data"]["cancelUpload"]["status"] == "READY"
    finally:
        upload_failed.disconnect(dispatch_uid="cancel", sender=Upload)
    assert received == [(live_id, "FAILED", "CANCELLED", False)]


def test_cancel_of_ready_upload_leaves_it_ready(gql: GraphQL, s3: Any) -> None:
    upload_id = ticket(gql)["upload"]["id"]
    Upload.objects.filter(pk=upload_id).update(status=UploadStatus.READY)
    assert gql(CANCEL, {"id": upload_id})["data"]["cancelUpload"]["status"] == "READY"


# --- pagination and query counts -------------------------------------------------------------


def make_uploads(user: Any, count: int, **fields: Any) -> list[Upload]:
    now = timezone.now()
    start = Upload.objects.count()
    rows = []
    for i in range(start, start + count):
        image = ProcessedImage.objects.create(
            key=f"processed/{i}/original.jpg",
            width=100,
            height=100,
            format="jpeg",
            size=10,
            variants=[
                {
                    "name": "320w.webp",
                    "width": 100,
                    "height": 100,
                    "format": "webp",
                    "key": f"processed/{i}/320w.webp",
                    "size": 5,
                }
            ],
        )
        rows.append(
            Upload(
                owner=user,
                filename=f"{i}.jpg",
                content_type="image/jpeg",
                size=10,
                key=f"temp/{i}/{i}.jpg",
                status=UploadStatus.READY,
                image=image,
                expires_at=now,
                **fields,
            )
        )
    created = Upload.objects.bulk_create(rows)
    # Distinct, known creation times so the order is testable.
    for i, upload in enumerate(created, start):
        Upload.objects.filter(pk=upload.pk).update(created_at=now - timedelta(minutes=i))
    return created


def test_pagination_walks_every_upload_once(gql: GraphQL, s3: Any, user: Any) -> None:
    make_uploads(user, 25)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = gql(UPLOADS, {"first": 10, "after": after})["data"]["uploads"]
        assert page["totalCount"] == 25
        seen += [edge["node"]["filename"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == [f"{i}.jpg" for i in range(25)]  # newest first, no duplicates


def test_uploads_query_count_does_not_grow_with_rows(gql: GraphQL, s3: Any, user: Any) -> None:
    make_uploads(user, 3)
    with CaptureQueriesContext(connection) as few:
        assert len(gql(UPLOADS, {"first": 100})["data"]["uploads"]["edges"]) == 3
    make_uploads(user, 60)
    with CaptureQueriesContext(connection) as many:
        assert len(gql(UPLOADS, {"first": 100})["data"]["uploads"]["edges"]) == 63
    assert len(many) == len(few)
    upload_queries = [q for q in many.captured_queries if "asyncimg_" in q["sql"]]
    assert len(upload_queries) == 2  # the page (joined with images) and the count


def test_status_filter(gql: GraphQL, s3: Any, user: Any) -> None:
    make_uploads(user, 2)
    ticket(gql)
    assert gql(UPLOADS, {"status": "PENDING"})["data"]["uploads"]["totalCount"] == 1
    assert gql(UPLOADS, {"status": "READY"})["data"]["uploads"]["totalCount"] == 2


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"first": 101}, "INVALID_PAGE"),
        ({"first": -1}, "INVALID_PAGE"),
        ({"after": "!!!not-base64"}, "INVALID_CURSOR"),
        ({"after": "bm90LWEtY3Vyc29y"}, "INVALID_CURSOR"),
        ({"status": "DELETED"}, "GRAPHQL_VALIDATION_FAILED"),
    ],
)
def test_bad_pagination_arguments(gql: GraphQL, variables: dict[str, Any], code: str) -> None:
    assert error_codes(gql(UPLOADS, variables)) == [code]


# --- document limits -------------------------------------------------------------------------


def test_query_depth_limit(gql: GraphQL, settings: Any) -> None:
    deep = "{ uploads { edges { node { image { variants { name } } } } } }"
    assert "errors" not in gql(deep)
    settings.ASYNC_IMAGE_UPLOAD_GRAPHQL_MAX_DEPTH = 4
    result = gql(deep)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"]
    assert "exceeds maximum operation depth" in result["errors"][0]["message"]


def test_syntax_error_has_a_code(gql: GraphQL) -> None:
    assert error_codes(gql("{ uploads { ")) == ["GRAPHQL_VALIDATION_FAILED"]


def test_documents_are_parsed_once(gql: GraphQL, monkeypatch: Any) -> None:
    from asyncimg.graphql import limits

    parsed: list[str] = []
    real_parse = limits.parse

    def parse(query: str, **options: Any) -> Any:
        parsed.append(query)
        return real_parse(query, **options)

    monkeypatch.setattr(limits, "parse", parse)
    query = "{ uploads(first: 3) { totalCount } __typename }"
    assert "errors" not in gql(query)
    assert "errors" not in gql(query)
    assert parsed == [query]


def test_a_syntax_error_is_reported_every_time_and_not_cached(gql: GraphQL) -> None:
    """The parse cache never holds a failure: the second attempt fails the same way."""
    for _ in range(2):
        result = gql("{ uploads { ")
        assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "Syntax Error" in result["errors"][0]["message"]


def test_token_limit_applies_to_cached_parsing(gql: GraphQL) -> None:
    huge = "{ " + " ".join(f"a{i}: uploads {{ totalCount }}" for i in range(700)) + " }"
    for _ in range(2):
        result = gql(huge)
        assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "more than 2000 tokens" in result["errors"][0]["message"]


def test_a_credential_says_how_to_send_the_file(gql: GraphQL, s3: Any) -> None:
    """``method`` and ``headers`` (contract): S3 credentials are form POSTs with no headers, and a
    reused credential keeps them."""
    query = """
    mutation($input: RequestImageUploadInput!) {
      requestImageUpload(input: $input) { upload { id } presignedPost { method headers } }
    }
    """
    spec = {"filename": "cat.jpg", "contentType": "image/jpeg", "size": 1000}
    first = gql(query, {"input": spec})["data"]["requestImageUpload"]
    again = gql(query, {"input": spec})["data"]["requestImageUpload"]
    assert first["upload"]["id"] == again["upload"]["id"]  # reused
    assert first["presignedPost"] == again["presignedPost"] == {"method": "POST", "headers": {}}
