"""The Azure backend: SAS tokens signed by azure-storage-blob, against Azurite over HTTP.

Azurite verifies account-key SAS signatures and permissions as Azure does, so uploads, reads and
refusals are real. A SAS binds neither size nor type (Azure's too): the processor re-checks both.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from django.core.exceptions import ImproperlyConfigured

from asyncimg.storage import get_backend
from asyncimg.storage.azure import AzureBlobBackend
from tests import clouds
from tests.clouds import AZURITE_ACCOUNT, AZURITE_KEY, BUCKET, AzuriteOAuth, EntraToken
from tests.conftest import GraphQL
from tests.images import jpeg_bytes

# The emulator fixtures of tests/clouds.py, under their names for pytest.
azure, azurite, azurite_oauth = clouds.azure, clouds.azurite, clouds.azurite_oauth

KEY = 'temp/9a/ü 東京 "q" (1).jpg'


def backend(azurite: str, **options: Any) -> AzureBlobBackend:
    return AzureBlobBackend(
        bucket=BUCKET,
        endpoint_url=azurite,
        account_name=AZURITE_ACCOUNT,
        account_key=AZURITE_KEY,
        **options,
    )


def sas_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def put(url: str, data: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.put(url, data=data, headers=headers, timeout=10)


def test_upload_sas_puts_a_jpeg(azure: Any, azurite: str) -> None:
    data = jpeg_bytes()
    post = backend(azurite).presigned_post(
        key=KEY, content_type="image/jpeg", max_size=len(data), expires_in=60
    )
    assert post.method == "PUT"
    assert post.fields == {}
    assert post.headers == {"x-ms-blob-type": "BlockBlob", "Content-Type": "image/jpeg"}
    assert post.url.startswith(f"{azurite}/{BUCKET}/temp/9a/%C3%BC%20")
    response = put(post.url, data, post.headers)
    assert response.status_code == 201, response.text
    info = backend(azurite).head(KEY)
    assert info is not None
    assert (info.key, info.size, info.content_type) == (KEY, len(data), "image/jpeg")
    assert info.etag
    assert azure.download_blob(KEY).readall() == data


def test_upload_sas_allows_create_and_write_of_one_blob_only(azure: Any, azurite: str) -> None:
    before = datetime.now(UTC)
    post = backend(azurite).presigned_post(
        key=KEY, content_type="image/jpeg", max_size=10, expires_in=600
    )
    sas = sas_of(post.url)
    assert sas["sp"] == "cw"  # create, write: no read, delete, list, tags
    assert sas["sr"] == "b"  # one blob
    assert "st" not in sas  # valid at once, whatever the client's clock says
    assert datetime.fromisoformat(sas["se"]) == post.expires_at
    assert 599 <= (post.expires_at - before).total_seconds() <= 601
    assert put(post.url, b"\xff\xd8\xff1", post.headers).status_code == 201
    assert put(post.url, b"\xff\xd8\xff2", post.headers).status_code == 201  # a retry overwrites
    # The same SAS cannot read or delete the blob, or list the container.
    assert requests.get(post.url, timeout=10).status_code == 403
    assert requests.delete(post.url, timeout=10).status_code == 403
    container = f"{azurite}/{BUCKET}?restype=container&comp=list&{urlsplit(post.url).query}"
    assert requests.get(container, timeout=10).status_code == 403
    # Nor write any other blob: the signature covers the blob's name.
    other = post.url.replace("/temp/9a/", "/temp/9b/")
    assert put(other, b"\xff\xd8\xff", post.headers).status_code == 403
    assert [blob.name for blob in azure.list_blobs()] == [KEY]
    assert azure.download_blob(KEY).readall() == b"\xff\xd8\xff2"


def test_upload_sas_expires(azure: Any, azurite: str) -> None:
    post = backend(azurite).presigned_post(
        key="temp/1/late.jpg", content_type="image/jpeg", max_size=10, expires_in=1
    )
    time.sleep(max(0.0, (post.expires_at - datetime.now(UTC)).total_seconds()) + 1.1)
    response = put(post.url, b"\xff\xd8\xff", post.headers)
    assert response.status_code == 403
    assert backend(azurite).head("temp/1/late.jpg") is None


def test_read_url_fetches_the_object(azure: Any, azurite: str) -> None:
    azure.upload_blob("processed/a b/ü.jpg", b"bytes")
    url = backend(azurite, download_expiration=900).url("processed/a b/ü.jpg")
    sas = sas_of(url)
    assert sas["sp"] == "r"
    assert sas["sr"] == "b"
    assert url.startswith(f"{azurite}/{BUCKET}/processed/a%20b/%C3%BC.jpg?")
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"bytes"
    # Reading is all it allows.
    assert put(url, b"x", {"x-ms-blob-type": "BlockBlob"}).status_code == 403
    assert requests.delete(url, timeout=10).status_code == 403


def test_media_url_skips_signing(azurite: str) -> None:
    cdn = backend(azurite, media_url="https://cdn.example.com/")
    assert cdn.url("processed/a b.jpg") == "https://cdn.example.com/processed/a%20b.jpg"


def test_azure_urls_require_https() -> None:
    """Without an endpoint the account's own https URL, and SAS tokens refused over http."""
    real = AzureBlobBackend(bucket="uploads", account_name="acct", account_key=AZURITE_KEY)
    post = real.presigned_post(
        key="temp/1/a.jpg", content_type="image/jpeg", max_size=1, expires_in=9
    )
    assert post.url.startswith("https://acct.blob.core.windows.net/uploads/temp/1/a.jpg?")
    assert sas_of(post.url)["spr"] == "https"
    assert sas_of(real.url("processed/a.jpg"))["spr"] == "https"


def test_head_of_a_missing_blob_and_a_missing_container(azure: Any, azurite: str) -> None:
    assert backend(azurite).head("temp/none.jpg") is None
    gone = AzureBlobBackend(
        bucket="asyncimg-no-such-container",
        endpoint_url=azurite,
        account_name=AZURITE_ACCOUNT,
        account_key=AZURITE_KEY,
    )
    with pytest.raises(ResourceNotFoundError):
        gone.head("temp/none.jpg")


def test_delete_prefix(azure: Any, azurite: str) -> None:
    for name in ("processed/1/a.webp", "processed/1/b c.jpg", "processed/1/x/y.jpg"):
        azure.upload_blob(name, b"x")
    azure.upload_blob("processed/10/keep.jpg", b"x")
    assert backend(azurite).delete_prefix("processed/1/") == 3
    assert [blob.name for blob in azure.list_blobs()] == ["processed/10/keep.jpg"]
    assert backend(azurite).delete_prefix("processed/1/") == 0


def test_connection_string(azure: Any, azurite: str) -> None:
    string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={azurite};"
    )
    from_string = AzureBlobBackend(bucket=BUCKET, connection_string=string)
    assert from_string.account_url == azurite
    post = from_string.presigned_post(
        key="temp/1/a.jpg", content_type="image/jpeg", max_size=3, expires_in=60
    )
    assert put(post.url, b"\xff\xd8\xff", post.headers).status_code == 201
    assert from_string.head("temp/1/a.jpg") is not None


def test_missing_account_or_key() -> None:
    with pytest.raises(ImproperlyConfigured, match="AZURE_ACCOUNT_NAME"):
        AzureBlobBackend(bucket=BUCKET, account_key=AZURITE_KEY)
    with pytest.raises(ImproperlyConfigured, match="AZURE_ACCOUNT_KEY"):
        AzureBlobBackend(bucket=BUCKET, account_name="acct")


def test_get_backend_from_settings(azure: Any, azurite: str, settings: Any) -> None:
    first = get_backend()
    assert isinstance(first, AzureBlobBackend)
    assert first is get_backend()
    assert (first.account_url, first.container, first.account_name) == (
        azurite,
        BUCKET,
        AZURITE_ACCOUNT,
    )
    post = first.presigned_post(
        key="temp/s/a.jpg", content_type="image/png", max_size=1, expires_in=9
    )
    assert put(post.url, b"\x89PNG", post.headers).status_code == 201
    assert azure.get_blob_client("temp/s/a.jpg").get_blob_properties().size == 4
    # Entra ID signs in over https only: the account's own URL (nothing is asked of it here).
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = None
    settings.ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_NAME = "acct"
    settings.ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY = None
    settings.ASYNC_IMAGE_UPLOAD_AZURE_USER_DELEGATION = True
    delegating = get_backend()
    assert isinstance(delegating, AzureBlobBackend)
    assert delegating.user_delegation
    assert delegating.account_key is None
    assert delegating.account_url == "https://acct.blob.core.windows.net"


def test_user_delegation_sas(azurite_oauth: AzuriteOAuth) -> None:
    """Entra ID end to end on Azurite (HTTPS, bearer tokens): the delegation key is Azurite's
    own answer and is fetched once for many SAS tokens; head and delete_prefix run on the token.

    The SAS itself is asserted structurally: Azurite 3.35 builds the string to sign of older
    service versions, and refuses the user delegation SAS that azure-storage-blob signs for its
    own (newer) version, valid or not, so an upload with it cannot be checked here."""
    token = EntraToken()
    entra = AzureBlobBackend(
        bucket=BUCKET,
        endpoint_url=azurite_oauth.url,
        account_name=AZURITE_ACCOUNT,
        user_delegation=True,
        credential=token,
        connection_verify=str(azurite_oauth.certificate),
    )
    if not entra.client.exists():
        entra.client.create_container()
    requests_for_keys: list[Any] = []
    fetch = entra.service.get_user_delegation_key

    def counted(**kwargs: Any) -> Any:
        requests_for_keys.append(kwargs)
        return fetch(**kwargs)

    entra.service.get_user_delegation_key = counted  # type: ignore[method-assign]
    post = entra.presigned_post(key=KEY, content_type="image/jpeg", max_size=9, expires_in=600)
    read = entra.url(KEY)
    assert len(requests_for_keys) == 1  # one key for both
    upload_sas, read_sas = sas_of(post.url), sas_of(read)
    assert upload_sas["sp"] == "cw"
    assert read_sas["sp"] == "r"
    for sas in (upload_sas, read_sas):
        assert sas["sr"] == "b"
        assert sas["skoid"] == EntraToken.object_id  # signed as the signed-in identity
        assert sas["sktid"] == EntraToken.tenant_id
        assert sas["spr"] == "https"
        assert "sig" in sas
        assert datetime.fromisoformat(sas["ske"]) >= datetime.fromisoformat(sas["se"])
    assert datetime.fromisoformat(upload_sas["se"]) == post.expires_at
    assert post.url.startswith(f"{azurite_oauth.url}/{BUCKET}/temp/9a/")
    # The rest of the backend works on the bearer token alone.
    entra.client.upload_blob("processed/e/a.jpg", b"abc", overwrite=True)
    info = entra.head("processed/e/a.jpg")
    assert info is not None
    assert info.size == 3
    assert entra.delete_prefix("processed/e/") == 1
    assert entra.head("processed/e/a.jpg") is None
    assert token.calls >= 1


REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) {
    upload { id status }
    presignedPost { url fields method headers expiresAt }
  }
}
"""


@pytest.mark.django_db
def test_request_image_upload_to_azure(gql: GraphQL, azure: Any, azurite: str) -> None:
    """The GraphQL mutation hands out a PUT with a SAS that uploads to Azurite."""
    data = jpeg_bytes()
    spec = {"filename": "holiday photo.jpg", "contentType": "image/jpeg", "size": len(data)}
    result = gql(REQUEST, {"input": spec})
    assert "errors" not in result, result
    ticket = result["data"]["requestImageUpload"]
    post = ticket["presignedPost"]
    assert post["method"] == "PUT"
    assert post["fields"] == {}
    assert post["headers"] == {"x-ms-blob-type": "BlockBlob", "Content-Type": "image/jpeg"}
    response = put(post["url"], data, post["headers"])
    assert response.status_code == 201, response.text
    key = f"temp/{ticket['upload']['id']}/holiday photo.jpg"
    assert azure.download_blob(key).readall() == data
