"""Azure Blob Storage through azure-storage-blob (extra ``azure``): a SAS for one blob.

Uploads are a ``PUT`` of the file's bytes to the blob's URL with a SAS allowing create and write
of that one blob, nothing else (no read, no delete, no list), for ``expires_in`` seconds. A SAS
cannot bind the size or the content type: the processor re-checks both after upload.

The SAS is signed with the account key (``ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY`` or a connection
string), or, with ``ASYNC_IMAGE_UPLOAD_AZURE_USER_DELEGATION = True``, as a user delegation SAS:
this process signs in with Entra ID (azure-identity's ``DefaultAzureCredential``: managed
identity, workload identity, environment, Azure CLI) and signs with a user delegation key that
Azure hands out and that the backend keeps until shortly before it expires. docs/storage.md
has the roles each needs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from azure.core.credentials import AzureNamedKeyCredential, TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (
    BlobPrefix,
    BlobSasPermissions,
    BlobServiceClient,
    UserDelegationKey,
    generate_blob_sas,
)
from django.core.exceptions import ImproperlyConfigured

from asyncimg.storage.base import ObjectInfo, PresignedPost, StorageBackend

#: the most blobs one batch request may delete
BATCH_SIZE = 256
#: the shortest lifetime asked of a user delegation key (Azure allows at most 7 days)
DELEGATION_KEY_LIFETIME = timedelta(days=1)
#: a delegation key's start is set back by this much, for clocks a little ahead of Azure's
CLOCK_SKEW = timedelta(minutes=5)


class AzureBlobBackend(StorageBackend):
    """``bucket`` is the container; ``region`` is not used (an account's location is its own).

    ``endpoint_url`` is the account's blob URL when it is not ``https://<account>.blob.core
    .windows.net``: Azurite (``http://127.0.0.1:10000/devstoreaccount1``), sovereign clouds.
    """

    #: constructor argument -> ``asyncimg.conf`` setting, passed by ``get_backend()``
    setting_options: ClassVar[dict[str, str]] = {
        "account_name": "AZURE_ACCOUNT_NAME",
        "account_key": "AZURE_ACCOUNT_KEY",
        "connection_string": "AZURE_CONNECTION_STRING",
        "user_delegation": "AZURE_USER_DELEGATION",
    }

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "",
        media_url: str | None = None,
        download_expiration: int = 3600,
        account_name: str | None = None,
        account_key: str | None = None,
        connection_string: str | None = None,
        user_delegation: bool = False,
        credential: TokenCredential | None = None,
        **transport: Any,
    ) -> None:
        self.container = bucket
        self.media_url = media_url.rstrip("/") if media_url else None
        self.download_expiration = download_expiration
        self.user_delegation = user_delegation
        # Django only HEADs, lists and deletes: never wait the SDK's default minutes for that.
        transport = {"connection_timeout": 5, "read_timeout": 10, "retry_total": 3, **transport}
        if connection_string:
            parsed = BlobServiceClient.from_connection_string(connection_string)
            account_name = parsed.account_name
            account_key = getattr(parsed.credential, "account_key", None)
            endpoint_url = endpoint_url or parsed.url
        if not account_name:
            raise ImproperlyConfigured(
                "Set ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_NAME (or AZURE_CONNECTION_STRING)."
            )
        self.account_name = account_name
        self.account_url = (endpoint_url or f"https://{account_name}.blob.core.windows.net").rstrip(
            "/"
        )
        # A SAS for an https account is refused over plain http; Azurite speaks http.
        self.protocol = "https" if self.account_url.startswith("https:") else None
        service_credential: TokenCredential | AzureNamedKeyCredential
        if user_delegation:
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            service_credential = credential
            self.account_key = None
        elif account_key:
            self.account_key = account_key
            service_credential = AzureNamedKeyCredential(account_name, account_key)
        else:
            raise ImproperlyConfigured(
                "Set ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY, or sign with Entra ID: "
                "ASYNC_IMAGE_UPLOAD_AZURE_USER_DELEGATION = True."
            )
        # One client per backend instance (get_backend() caches the instance): it holds the
        # HTTP pipeline and its connection pool, and is thread-safe.
        self.service = BlobServiceClient(
            self.account_url, credential=service_credential, **transport
        )
        self.client = self.service.get_container_client(bucket)
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_key_expiry = datetime.min.replace(tzinfo=UTC)
        self._delegation_lock = threading.Lock()

    def _user_delegation_key(self, valid_until: datetime) -> UserDelegationKey:
        """A delegation key valid at least until ``valid_until``: one request a day, not one per
        SAS (a SAS may not outlive its key)."""
        with self._delegation_lock:
            if self._delegation_key is None or self._delegation_key_expiry < valid_until:
                start = datetime.now(UTC) - CLOCK_SKEW
                expiry = max(start + CLOCK_SKEW + DELEGATION_KEY_LIFETIME, valid_until)
                self._delegation_key = self.service.get_user_delegation_key(
                    key_start_time=start, key_expiry_time=expiry
                )
                self._delegation_key_expiry = expiry.replace(microsecond=0)
            return self._delegation_key

    def _sas(self, key: str, permission: BlobSasPermissions, expiry: datetime) -> str:
        signing: dict[str, Any] = (
            {"user_delegation_key": self._user_delegation_key(expiry)}
            if self.user_delegation
            else {"account_key": self.account_key}
        )
        sas: str = generate_blob_sas(
            self.account_name,
            self.container,
            key,
            permission=permission,
            expiry=expiry,
            protocol=self.protocol,
            **signing,
        )
        return sas

    def _blob_url(self, key: str) -> str:
        return f"{self.account_url}/{self.container}/{quote(key, safe='~/')}"

    def presigned_post(
        self, *, key: str, content_type: str, max_size: int, expires_in: int
    ) -> PresignedPost:
        # No start time: a start set from this clock is "not yet valid" to a clock behind it.
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in)
        sas = self._sas(key, BlobSasPermissions(create=True, write=True), expires_at)
        return PresignedPost(
            url=f"{self._blob_url(key)}?{sas}",
            fields={},
            expires_at=expires_at,
            method="PUT",
            # Put Blob stores the request's Content-Type as the blob's.
            headers={"x-ms-blob-type": "BlockBlob", "Content-Type": content_type},
        )

    def url(self, key: str) -> str:
        if self.media_url:
            return f"{self.media_url}/{quote(key)}"
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(
            seconds=self.download_expiration
        )
        return f"{self._blob_url(key)}?{self._sas(key, BlobSasPermissions(read=True), expires_at)}"

    def delete_prefix(self, prefix: str) -> int:
        names = [blob.name for blob in self.client.list_blobs(name_starts_with=prefix)]
        deleted = 0
        for start in range(0, len(names), BATCH_SIZE):
            deleted += self._delete_batch(names[start : start + BATCH_SIZE])
        return deleted

    def _delete_batch(self, names: list[str]) -> int:
        responses: Iterable[Any] = self.client.delete_blobs(*names, raise_on_any_failure=False)
        deleted = 0
        for response in responses:
            if response.status_code == 202:
                deleted += 1
            elif response.status_code != 404:  # 404: deleted meanwhile, not ours to count
                raise HttpResponseError(response=response)
        return deleted

    def list_prefixes(self, prefix: str, *, limit: int) -> list[str]:
        found: list[str] = []
        for item in self.client.walk_blobs(name_starts_with=prefix, delimiter="/"):
            if isinstance(item, BlobPrefix):
                found.append(str(item.name))
                if len(found) >= limit:
                    break
        return found

    def head(self, key: str) -> ObjectInfo | None:
        try:
            properties = self.client.get_blob_client(key).get_blob_properties()
        except ResourceNotFoundError as exc:
            # A HEAD has no body, but Azure names the missing thing in x-ms-error-code: a
            # missing container (ContainerNotFound) is not "no object" and must not expire
            # every pending upload.
            if getattr(exc, "error_code", None) != "BlobNotFound":
                raise
            return None
        return ObjectInfo(
            key=key,
            size=int(properties.size),
            content_type=str(properties.content_settings.content_type or ""),
            etag=str(properties.etag or "").strip('"'),
            metadata=dict(properties.metadata or {}),
        )
