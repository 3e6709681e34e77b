"""Storage backends: one per file behind :class:`~asyncimg.storage.base.StorageBackend`."""

from __future__ import annotations

from functools import lru_cache

from django.utils.module_loading import import_string

from asyncimg.conf import app_settings
from asyncimg.storage.base import ObjectInfo, PresignedPost, StorageBackend

__all__ = ["ObjectInfo", "PresignedPost", "StorageBackend", "get_backend"]


def get_backend() -> StorageBackend:
    """The configured backend. Instances are cached per configuration (a boto3 client costs
    milliseconds to build), so changing settings in tests gets a fresh one."""
    return _backend(
        app_settings.STORAGE_BACKEND,
        app_settings.BUCKET or "",
        app_settings.ENDPOINT_URL,
        app_settings.REGION,
        app_settings.MEDIA_URL,
        app_settings.DOWNLOAD_URL_EXPIRATION,
    )


@lru_cache(maxsize=8)
def _backend(
    path: str,
    bucket: str,
    endpoint_url: str | None,
    region: str,
    media_url: str | None,
    download_expiration: int,
) -> StorageBackend:
    cls = import_string(path)
    backend: StorageBackend = cls(
        bucket=bucket,
        endpoint_url=endpoint_url,
        region=region,
        media_url=media_url,
        download_expiration=download_expiration,
    )
    return backend
