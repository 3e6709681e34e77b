"""Object storage I/O of the handler, one small class per cloud behind :class:`ObjectStore`.

The handler needs four operations on the bucket (GCS) or container (Azure) an event names:
HEAD (size, ETag; None when the object is gone), a bounded GET, a PUT with content type and
cache headers, and an idempotent DELETE. :class:`S3Store` wraps a boto3 client,
:class:`GCSStore` a google-cloud-storage client and :class:`AzureBlobStore` an
azure-storage-blob ``BlobServiceClient``. Each SDK is imported only by its own store, so the
Lambda package never needs google-cloud-storage or azure-storage-blob and a Cloud Function never
needs boto3. Stores are thread-safe when their client is (all three are): the handler PUTs the
outputs from a small thread pool.
"""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient
    from google.cloud.storage import Client as GCSClient
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class ObjectHead:
    size: int
    etag: str | None = None


class ObjectStore(abc.ABC):
    """What the handler does to storage. ``bucket`` is the S3/GCS bucket or the Azure container
    the event named."""

    @abc.abstractmethod
    def head(self, bucket: str, key: str) -> ObjectHead | None:
        """The object's size and ETag, or None when it does not exist (already handled)."""

    @abc.abstractmethod
    def read(self, bucket: str, key: str, limit: int) -> bytes:
        """At most ``limit`` bytes from the start of the object."""

    @abc.abstractmethod
    def put(
        self, bucket: str, key: str, data: bytes, content_type: str, cache_control: str
    ) -> None:
        """Store ``data`` at ``key``, replacing what is there."""

    @abc.abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Delete ``key``; deleting a missing object is not an error."""


class S3Store(ObjectStore):
    def __init__(self, client: S3Client) -> None:
        self.client = client

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectHead(int(head.get("ContentLength", 0)), _etag(head.get("ETag")))

    def read(self, bucket: str, key: str, limit: int) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read(limit)

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str, cache_control: str
    ) -> None:
        self.client.put_object(
            Bucket=bucket, Key=key, Body=data, ContentType=content_type, CacheControl=cache_control
        )

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)  # S3 answers 204 for a missing key


#: (connect, read) seconds of each GCS request: images are at most tens of megabytes
GCS_TIMEOUT = (5, 60)


class GCSStore(ObjectStore):
    """google-cloud-storage. Build the client with Application Default Credentials (the
    function's service account); it honours ``STORAGE_EMULATOR_HOST`` for emulators."""

    def __init__(self, client: GCSClient) -> None:
        from google.api_core.exceptions import NotFound

        self.client = client
        self._not_found = NotFound

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        blob = self.client.bucket(bucket).get_blob(key, timeout=GCS_TIMEOUT)
        if blob is None:
            return None
        return ObjectHead(int(blob.size or 0), _etag(blob.etag))

    def read(self, bucket: str, key: str, limit: int) -> bytes:
        blob = self.client.bucket(bucket).blob(key)
        # A range request: an object replaced by a larger one since HEAD is never read whole.
        data: bytes = blob.download_as_bytes(start=0, end=max(0, limit - 1), timeout=GCS_TIMEOUT)
        return data

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str, cache_control: str
    ) -> None:
        blob = self.client.bucket(bucket).blob(key)
        blob.cache_control = cache_control  # sent with the upload's metadata
        blob.upload_from_string(data, content_type=content_type, timeout=GCS_TIMEOUT)

    def delete(self, bucket: str, key: str) -> None:
        with contextlib.suppress(self._not_found):
            self.client.bucket(bucket).blob(key).delete(timeout=GCS_TIMEOUT)


class AzureBlobStore(ObjectStore):
    """azure-storage-blob. ``bucket`` is the container. Build the service client with a managed
    identity (``DefaultAzureCredential``) or a connection string (Azurite)."""

    def __init__(self, service: BlobServiceClient) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        self.service = service
        self._not_found = ResourceNotFoundError
        self._http_error = HttpResponseError

    def _blob(self, bucket: str, key: str) -> Any:
        return self.service.get_blob_client(bucket, key)

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        try:
            properties = self._blob(bucket, key).get_blob_properties()
        except self._not_found as exc:
            # A missing container is a configuration error, not "already handled".
            if getattr(exc, "error_code", None) != "BlobNotFound":
                raise
            return None
        return ObjectHead(int(properties.size), _etag(properties.etag))

    def read(self, bucket: str, key: str, limit: int) -> bytes:
        try:
            data: bytes = self._blob(bucket, key).download_blob(offset=0, length=limit).readall()
        except self._http_error as exc:
            if getattr(exc, "status_code", None) == 416:  # a range of an empty blob
                return b""
            raise
        return data

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str, cache_control: str
    ) -> None:
        from azure.storage.blob import ContentSettings

        self._blob(bucket, key).upload_blob(
            data,
            overwrite=True,
            content_settings=ContentSettings(
                content_type=content_type, cache_control=cache_control
            ),
        )

    def delete(self, bucket: str, key: str) -> None:
        with contextlib.suppress(self._not_found):
            self._blob(bucket, key).delete_blob()


def _etag(value: Any) -> str | None:
    return str(value).strip('"') or None if value else None
