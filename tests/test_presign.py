"""requestImageUpload end to end: GraphQL → presigned POST → real HTTP POST to a moto server."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from asyncimg.models import Upload
from tests.conftest import BUCKET, GraphQL, error_codes
from tests.images import jpeg_bytes

pytestmark = pytest.mark.django_db

REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) {
    upload {
      id status filename contentType size expiresAt createdAt updatedAt error { code } image { id }
    }
    presignedPost { url fields expiresAt }
  }
}
"""


def request_upload(gql: GraphQL, **spec: Any) -> dict[str, Any]:
    spec = {"filename": "cat.jpg", "contentType": "image/jpeg", "size": 1000, **spec}
    return gql(REQUEST, {"input": spec})


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    return json.loads(base64.b64decode(fields["policy"]))


def test_upload_round_trip_to_s3(gql: GraphQL, s3: Any) -> None:
    data = jpeg_bytes()
    result = request_upload(gql, filename="holiday photo.jpg", size=len(data))
    assert "errors" not in result
    ticket = result["data"]["requestImageUpload"]
    upload = ticket["upload"]
    assert upload["status"] == "PENDING"
    assert upload["filename"] == "holiday photo.jpg"
    assert upload["size"] == len(data)
    assert upload["error"] is None
    assert upload["image"] is None
    post = ticket["presignedPost"]

    response = requests.post(
        post["url"],
        data=post["fields"],
        files={"file": ("holiday photo.jpg", data, "image/jpeg")},
        timeout=10,
    )
    assert response.status_code == 204, response.text

    key = f"temp/{upload['id']}/holiday photo.jpg"
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentType"] == "image/jpeg"
    assert head["ContentLength"] == len(data)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    assert Upload.objects.get(pk=upload["id"]).key == key


def test_signed_policy_allows_exactly_one_object(gql: GraphQL, s3: Any, settings: Any) -> None:
    """moto does not enforce policy conditions, so the conditions themselves are checked."""
    settings.ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_EXPIRATION = 600
    ticket = request_upload(
        gql, filename="../../etc/passwd.png", contentType="image/png", size=5000
    )
    ticket = ticket["data"]["requestImageUpload"]
    fields = ticket["presignedPost"]["fields"]
    key = f"temp/{ticket['upload']['id']}/passwd.png"
    assert fields["key"] == key
    assert fields["Content-Type"] == "image/png"
    policy = policy_of(fields)
    conditions = policy["conditions"]
    assert {"bucket": BUCKET} in conditions
    assert ["eq", "$key", key] in conditions
    assert ["eq", "$Content-Type", "image/png"] in conditions
    assert ["content-length-range", 1, 5000] in conditions
    # No condition lets the client choose anything else (no starts-with, no extra fields).
    assert not [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"]
    from datetime import datetime

    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    expires_at = datetime.fromisoformat(ticket["presignedPost"]["expiresAt"])
    assert abs((expiration - expires_at).total_seconds()) < 5
    assert ticket["upload"]["expiresAt"] == ticket["presignedPost"]["expiresAt"]


def test_content_length_range_is_capped_by_declared_size(gql: GraphQL, s3: Any) -> None:
    ticket = request_upload(gql, size=1234)["data"]["requestImageUpload"]
    conditions = policy_of(ticket["presignedPost"]["fields"])["conditions"]
    assert ["content-length-range", 1, 1234] in conditions


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"contentType": "image/svg+xml", "filename": "x.svg"}, "UNSUPPORTED_CONTENT_TYPE"),
        ({"contentType": "text/html"}, "UNSUPPORTED_CONTENT_TYPE"),
        ({"contentType": "image/*"}, "UNSUPPORTED_CONTENT_TYPE"),
        ({"contentType": "image/tiff"}, "UNSUPPORTED_CONTENT_TYPE"),
        ({"contentType": ""}, "UNSUPPORTED_CONTENT_TYPE"),
        ({"size": 10 * 1024 * 1024 + 1}, "FILE_TOO_LARGE"),
        ({"size": 0}, "INVALID_SIZE"),
        ({"size": -5}, "INVALID_SIZE"),
        ({"filename": ""}, "INVALID_FILENAME"),
        ({"filename": "   "}, "INVALID_FILENAME"),
        ({"filename": "a" * 5000}, "INVALID_FILENAME"),
    ],
)
def test_invalid_requests_are_refused_with_a_code(
    gql: GraphQL, s3: Any, spec: dict[str, Any], code: str
) -> None:
    result = request_upload(gql, **spec)
    assert error_codes(result) == [code]
    assert result["data"] is None
    assert "Traceback" not in json.dumps(result)
    assert Upload.objects.count() == 0


def test_wrong_argument_types_are_validation_errors(gql: GraphQL, s3: Any) -> None:
    result = gql(
        REQUEST, {"input": {"filename": "a.jpg", "contentType": "image/jpeg", "size": "x"}}
    )
    assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
    too_big = gql(
        REQUEST, {"input": {"filename": "a.jpg", "contentType": "image/jpeg", "size": 2**40}}
    )
    assert error_codes(too_big) == ["GRAPHQL_VALIDATION_FAILED"]
    assert Upload.objects.count() == 0


def test_content_type_is_normalised(gql: GraphQL, s3: Any) -> None:
    result = request_upload(gql, contentType="IMAGE/JPEG; charset=binary")
    assert result["data"]["requestImageUpload"]["upload"]["contentType"] == "image/jpeg"


def test_hostile_filenames_are_sanitised(gql: GraphQL, s3: Any) -> None:
    names = {
        "..\\..\\windows\\evil.jpg": "evil.jpg",
        "a/b/c/d.jpg": "d.jpg",
        "<script>alert(1)<\\script>.jpg": "script_.jpg",
        "<img src=x onerror=alert(1)>.jpg": "_img src=x onerror=alert(1)_.jpg",
        "<b>x</b>.jpg": "b_.jpg",
        "ключ + ünïcödé.jpg": "ключ + ünïcödé.jpg",
        "bidi\u202egpj.exe": "bidigpj.exe",
        "...": "image",
        "nul\x00byte.jpg": "nulbyte.jpg",
    }
    for raw, expected in names.items():
        result = request_upload(gql, filename=raw)
        upload = result["data"]["requestImageUpload"]["upload"]
        assert upload["filename"] == expected, raw
        assert Upload.objects.get(pk=upload["id"]).key == f"temp/{upload['id']}/{expected}"


def test_missing_bucket_is_a_clear_error(gql: GraphQL, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = None
    assert error_codes(request_upload(gql)) == ["NOT_CONFIGURED"]
