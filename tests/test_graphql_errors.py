"""What a GraphQL error logs: nothing but a DEBUG line for the client's mistakes, one traceback for
a bug (which the client sees only as ``INTERNAL_SERVER_ERROR``)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from asyncimg.services import uploads
from tests.conftest import GraphQL, error_codes

pytestmark = pytest.mark.django_db

REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) { upload { id } }
}
"""
UPLOAD = "query($id: ID!) { upload(id: $id) { id status } }"


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        (
            REQUEST,
            {"input": {"filename": "a.svg", "contentType": "image/svg+xml", "size": 10}},
            "UNSUPPORTED_CONTENT_TYPE",
        ),
        (UPLOAD, {"id": str(uuid.uuid4())}, "NOT_FOUND"),
        ("query { upload(id: 1) { nope } }", {}, "GRAPHQL_VALIDATION_FAILED"),
        ("query { upload(", {}, "GRAPHQL_VALIDATION_FAILED"),
    ],
)
def test_client_errors_log_no_error_and_no_traceback(
    gql: GraphQL, s3: Any, caplog: pytest.LogCaptureFixture, query: str, variables: Any, code: str
) -> None:
    caplog.set_level(logging.DEBUG)
    result = gql(query, variables)
    assert error_codes(result) == [code]
    assert errors_logged(caplog) == []
    assert not any(r.exc_info for r in caplog.records)
    assert [r.getMessage() for r in caplog.records if r.name == "asyncimg.graphql"] == [
        f"GraphQL client error: {result['errors'][0]['message']}"
    ]


def test_a_bug_is_masked_and_logged_once_with_its_traceback(
    gql: GraphQL, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(uploads, "get_upload", broken)
    result = gql(UPLOAD, {"id": str(uuid.uuid4())})
    assert error_codes(result) == ["INTERNAL_SERVER_ERROR"]
    assert "hunter2" not in str(result)
    [record] = errors_logged(caplog)
    # strawberry's own logger: the project's schema is a plain strawberry.Schema.
    assert record.name == "strawberry.execution"
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])
