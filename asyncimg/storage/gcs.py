"""Google Cloud Storage through google-cloud-storage (extra ``gcs``): V4 signed POST policies for
uploads, V4 signed URLs for downloads.

Credentials come from Application Default Credentials. A service-account key signs locally; on
Cloud Run, GKE or GCE (no key on the machine) set ``ASYNC_IMAGE_UPLOAD_GCS_SERVICE_ACCOUNT_EMAIL``
and the IAM Credentials API's ``signBlob`` signs as that account, authorised by the runtime's own
access token ("keyless" signing). docs/storage.md has the roles each needs.
"""

from __future__ import annotations

import json
import threading
from base64 import b64decode
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import google.auth
from django.core.exceptions import ImproperlyConfigured
from google.api_core.exceptions import NotFound
from google.auth.credentials import AnonymousCredentials, Credentials, Signing
from google.auth.transport.requests import Request
from google.cloud import storage

from asyncimg.storage.base import ObjectInfo, PresignedPost, StorageBackend

#: signBlob needs cloud-platform (or iam); devstorage alone would do for the storage calls
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
#: (connect, read) seconds: Django only HEADs, lists and deletes, never streams image bytes
TIMEOUT = (5, 10)


class GCSBackend(StorageBackend):
    """``bucket`` is the GCS bucket; ``region`` is not used (a bucket's location is its own).

    ``endpoint_url`` is for emulators (fake-gcs-server): requests to it are sent without
    credentials, since an emulator checks none and asking Google for a token would leave the
    machine. Signing still uses ``credentials`` (ADC: ``GOOGLE_APPLICATION_CREDENTIALS``).
    """

    #: constructor argument -> ``asyncimg.conf`` setting, passed by ``get_backend()``
    setting_options: ClassVar[dict[str, str]] = {
        "project": "GCS_PROJECT",
        "service_account_email": "GCS_SERVICE_ACCOUNT_EMAIL",
    }

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "",
        media_url: str | None = None,
        download_expiration: int = 3600,
        project: str | None = None,
        service_account_email: str | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        if credentials is None:
            credentials, default_project = google.auth.default(scopes=SCOPES)
            project = project or default_project
        if not service_account_email and not isinstance(credentials, Signing):
            raise ImproperlyConfigured(
                f"The Google credentials found ({type(credentials).__name__}) hold no private "
                "key to sign uploads with. On Cloud Run, GKE or GCE set "
                "ASYNC_IMAGE_UPLOAD_GCS_SERVICE_ACCOUNT_EMAIL to the service account the "
                "runtime runs as (keyless signing through IAM signBlob); elsewhere point "
                "GOOGLE_APPLICATION_CREDENTIALS at a service-account key file."
            )
        self.credentials = credentials
        self.service_account_email = service_account_email
        self.media_url = media_url.rstrip("/") if media_url else None
        self.download_expiration = download_expiration
        self.emulated = bool(endpoint_url)
        # One client per backend instance (get_backend() caches the instance): it holds the
        # HTTP session and its connection pool, and is thread-safe for these calls.
        if endpoint_url:
            self.client = storage.Client(
                project=project,
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": endpoint_url.rstrip("/")},
            )
        else:
            self.client = storage.Client(project=project, credentials=credentials)
        self.bucket = self.client.bucket(bucket)
        self._token_lock = threading.Lock()
        self._token_request = Request()

    def _signer(self) -> dict[str, Any]:
        """What google-cloud-storage signs with: the key of ``credentials``, or (keyless) IAM
        signBlob as ``service_account_email`` with a fresh access token of this process."""
        if not self.service_account_email:
            return {"credentials": self.credentials}
        with self._token_lock:  # one refresh when the token nears expiry, not one per thread
            if not self.credentials.valid:
                self.credentials.refresh(self._token_request)
            token = self.credentials.token
        return {"service_account_email": self.service_account_email, "access_token": token}

    def presigned_post(
        self, *, key: str, content_type: str, max_size: int, expires_in: int
    ) -> PresignedPost:
        # Every condition is fixed by the server: google-cloud-storage adds the bucket and the
        # exact key; the type is an exact field, the size a range capped at the declared size.
        post = self.client.generate_signed_post_policy_v4(
            self.bucket.name,
            key,
            expiration=timedelta(seconds=expires_in),
            conditions=[["content-length-range", 1, max_size]],
            fields={"Content-Type": content_type},
            **self._signer(),
        )
        fields = {str(k): str(v) for k, v in post["fields"].items()}
        # The policy's own expiration (the library's clock, to the microsecond) is the truth.
        expiration = json.loads(b64decode(fields["policy"]))["expiration"]
        url = str(post["url"])
        if self.emulated:
            # fake-gcs-server routes form uploads at /<bucket> only; GCS takes both forms.
            url = url.rstrip("/")
        return PresignedPost(url=url, fields=fields, expires_at=datetime.fromisoformat(expiration))

    def url(self, key: str) -> str:
        if self.media_url:
            return f"{self.media_url}/{quote(key)}"
        url: str = self.bucket.blob(key).generate_signed_url(
            version="v4",
            method="GET",
            expiration=timedelta(seconds=self.download_expiration),
            **self._signer(),
        )
        return url

    def delete_prefix(self, prefix: str) -> int:
        # One DELETE per object: the prefixes are one upload's outputs (a handful of variants),
        # and fake-gcs-server answers the JSON API's batch endpoint with no parts, so a batch
        # would be a code path no test here exercises.
        deleted = 0
        for blob in self.client.list_blobs(self.bucket, prefix=prefix, timeout=TIMEOUT):
            try:
                blob.delete(timeout=TIMEOUT)
            except NotFound:  # deleted meanwhile: not ours to count
                continue
            deleted += 1
        return deleted

    def list_prefixes(self, prefix: str, *, limit: int) -> list[str]:
        found: list[str] = []
        blobs = self.client.list_blobs(self.bucket, prefix=prefix, delimiter="/", timeout=TIMEOUT)
        for page in blobs.pages:
            found += sorted(page.prefixes)
            if len(found) >= limit:
                break
        return found[:limit]

    def head(self, key: str) -> ObjectInfo | None:
        blob = self.bucket.get_blob(key, timeout=TIMEOUT)
        if blob is None:
            # The JSON API answers 404 for a missing bucket too, and "no object" would then
            # expire every pending upload. Listing (storage.objects.list, which the Django side
            # holds anyway for delete_prefix) raises NotFound when the bucket is gone.
            next(iter(self.client.list_blobs(self.bucket, max_results=1, timeout=TIMEOUT)), None)
            return None
        return ObjectInfo(
            key=key,
            size=int(blob.size or 0),
            content_type=str(blob.content_type or ""),
            etag=str(blob.etag or "").strip('"'),
            metadata=dict(blob.metadata or {}),
        )
