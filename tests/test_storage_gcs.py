"""The GCS backend: V4 policies and URLs signed by google-cloud-storage, against fake-gcs-server
over HTTP.

fake-gcs-server, like moto, checks no signature and enforces no policy condition. So the tests
read the signed policy itself, and verify every signature (policy and URL) with the public half
of the session's service-account key, recomputing what GCS would: a signature GCS would refuse
fails here too.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import google.cloud.storage._signing
import google.cloud.storage.client
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.core.exceptions import ImproperlyConfigured
from google.api_core.exceptions import NotFound
from google.auth.credentials import Credentials

from asyncimg.storage import get_backend
from asyncimg.storage.gcs import GCSBackend
from tests import clouds
from tests.clouds import BUCKET, GCSKey
from tests.conftest import GraphQL
from tests.images import jpeg_bytes

# The emulator fixtures of tests/clouds.py, under their names for pytest.
fake_gcs, gcs, gcs_key = clouds.fake_gcs, clouds.gcs, clouds.gcs_key

KEY = 'temp/9a/ü 東京 "q" (1).jpg'


def backend(fake_gcs: str, **options: Any) -> GCSBackend:
    return GCSBackend(bucket=BUCKET, endpoint_url=fake_gcs, **options)


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return policy


def verify(key: GCSKey, signature_hex: str, message: bytes) -> None:
    """Raises InvalidSignature unless ``key`` signed ``message`` (GOOG4-RSA-SHA256)."""
    key.public_key.verify(
        bytes.fromhex(signature_hex), message, padding.PKCS1v15(), hashes.SHA256()
    )


def verify_signed_url(key: GCSKey, url: str) -> dict[str, str]:
    """Recompute the V4 string to sign of a GET URL (GCS's canonical request) and verify the
    signature over it; the query parameters."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    signature = params.pop("X-Goog-Signature")
    canonical_query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items())
    )
    canonical_request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = params["X-Goog-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            params["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    verify(key, signature, string_to_sign.encode())
    return params


def test_policy_allows_exactly_one_object(fake_gcs: str, gcs_key: GCSKey) -> None:
    """Bucket, exact key, exact type, a size range capped at the declared size, and nothing the
    client may choose: no ``starts-with`` condition, no field left open."""
    before = datetime.now(UTC)
    post = backend(fake_gcs).presigned_post(
        key=KEY, content_type="image/png", max_size=12345, expires_in=600
    )
    policy = policy_of(post.fields)
    conditions = policy["conditions"]
    assert {"bucket": BUCKET} in conditions
    assert {"key": KEY} in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1, 12345] in conditions
    assert not [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"]
    # Every other condition is one of the signature's own fields, each an exact match.
    exact = {k: v for c in conditions if isinstance(c, dict) for k, v in c.items()}
    assert set(exact) == {
        "bucket",
        "key",
        "Content-Type",
        "x-goog-date",
        "x-goog-credential",
        "x-goog-algorithm",
    }
    for name in ("key", "Content-Type", "x-goog-date", "x-goog-credential", "x-goog-algorithm"):
        assert post.fields[name] == exact[name]
    assert post.fields["x-goog-algorithm"] == "GOOG4-RSA-SHA256"
    assert post.fields["x-goog-credential"].startswith(f"{gcs_key.email}/")
    assert post.method == "POST"
    assert post.headers == {}
    # The credential's lifetime is the policy's, to the microsecond.
    assert post.expires_at == datetime.fromisoformat(policy["expiration"])
    assert 599 <= (post.expires_at - before).total_seconds() <= 601
    verify(gcs_key, post.fields["x-goog-signature"], post.fields["policy"].encode())


def test_policy_signature_covers_the_conditions(fake_gcs: str, gcs_key: GCSKey) -> None:
    """A policy edited by the client (a bigger size range) no longer matches its signature."""
    from cryptography.exceptions import InvalidSignature

    post = backend(fake_gcs).presigned_post(
        key=KEY, content_type="image/jpeg", max_size=100, expires_in=60
    )
    policy = policy_of(post.fields)
    policy["conditions"] = [
        ["content-length-range", 1, 10**9] if isinstance(c, list) else c
        for c in policy["conditions"]
    ]
    edited = base64.b64encode(json.dumps(policy, separators=(",", ":")).encode())
    with pytest.raises(InvalidSignature):
        verify(gcs_key, post.fields["x-goog-signature"], edited)


def test_form_post_of_a_jpeg_lands_in_the_bucket(gcs: Any, fake_gcs: str) -> None:
    data = jpeg_bytes()
    post = backend(fake_gcs).presigned_post(
        key=KEY, content_type="image/jpeg", max_size=len(data), expires_in=60
    )
    assert post.url == f"{fake_gcs}/{BUCKET}"
    response = requests.post(
        post.url, data=post.fields, files={"file": ("a.jpg", data, "image/jpeg")}, timeout=10
    )
    assert response.status_code == 204, response.text
    info = backend(fake_gcs).head(KEY)
    assert info is not None
    assert (info.key, info.size, info.content_type) == (KEY, len(data), "image/jpeg")
    assert info.etag
    assert gcs.blob(KEY).download_as_bytes() == data


def test_real_gcs_urls(gcs_key: GCSKey) -> None:
    """Without an endpoint the URLs are Google's (path style, as the library builds them)."""
    real = GCSBackend(bucket=BUCKET)
    post = real.presigned_post(key=KEY, content_type="image/jpeg", max_size=10, expires_in=60)
    assert post.url == f"https://storage.googleapis.com/{BUCKET}/"
    url = real.url("processed/a b.jpg")
    assert url.startswith(f"https://storage.googleapis.com/{BUCKET}/processed/a%20b.jpg?")
    verify_signed_url(gcs_key, url)


def test_signed_get_url_fetches_the_object(gcs: Any, fake_gcs: str, gcs_key: GCSKey) -> None:
    """The emulator serves the object at the URL (without checking the signature); the
    signature is verified here over GCS's canonical request."""
    gcs.blob("processed/a b/ü.jpg").upload_from_string(b"bytes", content_type="image/jpeg")
    url = backend(fake_gcs, download_expiration=900).url("processed/a b/ü.jpg")
    params = verify_signed_url(gcs_key, url)
    assert params["X-Goog-Expires"] == "900"
    assert params["X-Goog-SignedHeaders"] == "host"
    assert params["X-Goog-Credential"].startswith(f"{gcs_key.email}/")
    assert urlsplit(url).path == f"/{BUCKET}/processed/a%20b/%C3%BC.jpg"
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"bytes"


def test_media_url_skips_signing(fake_gcs: str) -> None:
    cdn = backend(fake_gcs, media_url="https://cdn.example.com/")
    assert cdn.url("processed/a b.jpg") == "https://cdn.example.com/processed/a%20b.jpg"


def test_head_of_a_missing_object_and_a_missing_bucket(gcs: Any, fake_gcs: str) -> None:
    assert backend(fake_gcs).head("temp/none.jpg") is None
    gone = GCSBackend(bucket="asyncimg-no-such-bucket", endpoint_url=fake_gcs)
    with pytest.raises(NotFound):
        gone.head("temp/none.jpg")


def test_delete_prefix(gcs: Any, fake_gcs: str) -> None:
    for name in ("processed/1/a.webp", "processed/1/b c.jpg", "processed/1/x/y.jpg"):
        gcs.blob(name).upload_from_string(b"x")
    gcs.blob("processed/10/keep.jpg").upload_from_string(b"x")
    assert backend(fake_gcs).delete_prefix("processed/1/") == 3
    assert [blob.name for blob in gcs.client.list_blobs(gcs)] == ["processed/10/keep.jpg"]
    assert backend(fake_gcs).delete_prefix("processed/1/") == 0


class RuntimeIdentity(Credentials):  # type: ignore[misc]
    """What Cloud Run's metadata server gives: access tokens, no private key. A stand-in: the
    metadata server does not run here. Counts refreshes."""

    def __init__(self) -> None:
        super().__init__()
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.token = f"ya29.runtime-token-{self.refreshes}"
        self.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)


@pytest.fixture
def iam_sign_blob(gcs_key: GCSKey, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """IAM Credentials' signBlob is Google's service and cannot run here: google-cloud-storage's
    one function that calls it is replaced by one signing as the service account would (with
    the session's key). The (access token, service account) of each call."""
    calls: list[tuple[str, str]] = []

    def sign_blob(message: Any, access_token: str, service_account_email: str, *_: Any) -> str:
        calls.append((access_token, service_account_email))
        data = message if isinstance(message, bytes) else message.encode()
        signature = gcs_key.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    monkeypatch.setattr(google.cloud.storage.client, "_sign_message", sign_blob)
    monkeypatch.setattr(google.cloud.storage._signing, "_sign_message", sign_blob)
    return calls


def test_keyless_signing_through_iam(
    gcs: Any,
    fake_gcs: str,
    gcs_key: GCSKey,
    iam_sign_blob: list[tuple[str, str]],
) -> None:
    """With GCS_SERVICE_ACCOUNT_EMAIL, credentials without a key sign through signBlob as that
    account, with the runtime's access token, refreshed once and reused while valid."""
    identity = RuntimeIdentity()
    keyless = backend(fake_gcs, service_account_email=gcs_key.email, credentials=identity)
    data = jpeg_bytes(64, 64)
    post = keyless.presigned_post(
        key="temp/k/a.jpg", content_type="image/jpeg", max_size=len(data), expires_in=60
    )
    url = keyless.url("temp/k/a.jpg")
    assert iam_sign_blob == [("ya29.runtime-token-1", gcs_key.email)] * 2
    assert identity.refreshes == 1
    assert post.fields["x-goog-credential"].startswith(f"{gcs_key.email}/")
    verify(gcs_key, post.fields["x-goog-signature"], post.fields["policy"].encode())
    verify_signed_url(gcs_key, url)
    response = requests.post(
        post.url, data=post.fields, files={"file": ("a.jpg", data, "image/jpeg")}, timeout=10
    )
    assert response.status_code == 204
    assert requests.get(url, timeout=10).content == data


def test_token_is_refreshed_when_it_expires(
    fake_gcs: str,
    gcs_key: GCSKey,
    iam_sign_blob: list[tuple[str, str]],
) -> None:
    identity = RuntimeIdentity()
    keyless = backend(fake_gcs, service_account_email=gcs_key.email, credentials=identity)
    keyless.url("a.jpg")
    identity.expiry = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    keyless.url("a.jpg")
    assert [token for token, _ in iam_sign_blob] == [
        "ya29.runtime-token-1",
        "ya29.runtime-token-2",
    ]


def test_credentials_without_a_key_need_the_service_account_setting(fake_gcs: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="GCS_SERVICE_ACCOUNT_EMAIL"):
        backend(fake_gcs, credentials=RuntimeIdentity())


def test_get_backend_from_settings(gcs: Any, settings: Any, gcs_key: GCSKey) -> None:
    """Settings reach the backend (ADC from GOOGLE_APPLICATION_CREDENTIALS); one instance per
    configuration."""
    settings.ASYNC_IMAGE_UPLOAD_GCS_PROJECT = "asyncimg-project"
    first = get_backend()
    assert isinstance(first, GCSBackend)
    assert first is get_backend()
    assert first.bucket.name == BUCKET
    assert first.client.project == "asyncimg-project"
    assert first.service_account_email is None
    settings.ASYNC_IMAGE_UPLOAD_GCS_SERVICE_ACCOUNT_EMAIL = gcs_key.email
    keyless = get_backend()
    assert isinstance(keyless, GCSBackend)
    assert keyless is not first
    assert keyless.service_account_email == gcs_key.email


REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) {
    upload { id status }
    presignedPost { url fields method headers expiresAt }
  }
}
"""


@pytest.mark.django_db
def test_request_image_upload_to_gcs(gql: GraphQL, gcs: Any, fake_gcs: str) -> None:
    """The GraphQL mutation hands out a GCS form POST that uploads to the emulator."""
    data = jpeg_bytes()
    spec = {"filename": "holiday photo.jpg", "contentType": "image/jpeg", "size": len(data)}
    result = gql(REQUEST, {"input": spec})
    assert "errors" not in result, result
    ticket = result["data"]["requestImageUpload"]
    post = ticket["presignedPost"]
    assert (post["method"], post["headers"], post["url"]) == ("POST", {}, f"{fake_gcs}/{BUCKET}")
    key = f"temp/{ticket['upload']['id']}/holiday photo.jpg"
    assert post["fields"]["key"] == key
    assert ["content-length-range", 1, len(data)] in policy_of(post["fields"])["conditions"]
    response = requests.post(
        post["url"],
        data=post["fields"],
        files={"file": ("holiday photo.jpg", data, "image/jpeg")},
        timeout=10,
    )
    assert response.status_code == 204, response.text
    assert gcs.blob(key).download_as_bytes() == data
