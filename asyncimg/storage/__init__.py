"""Storage backends: one per file behind :class:`~asyncimg.storage.base.StorageBackend`.

Every backend takes the same keyword arguments (``bucket``, ``endpoint_url``, ``region``,
``media_url``, ``download_expiration``) plus its own, which it names in a ``setting_options``
class attribute mapping each argument to the ``asyncimg.conf`` setting it comes from
(``{"project": "GCS_PROJECT"}``). A project's own backend follows the same convention.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.utils.module_loading import import_string

from asyncimg.conf import app_settings
from asyncimg.storage.base import ObjectInfo, PresignedPost, StorageBackend

__all__ = ["ObjectInfo", "PresignedPost", "StorageBackend", "get_backend"]


def get_backend() -> StorageBackend:
    """The configured backend. Instances are cached per configuration (a storage client costs
    milliseconds to build), so changing settings in tests gets a fresh one."""
    path = app_settings.STORAGE_BACKEND
    options = tuple(
        (argument, getattr(app_settings, setting))
        for argument, setting in _setting_options(path).items()
    )
    return _backend(
        path,
        app_settings.BUCKET or "",
        app_settings.ENDPOINT_URL,
        app_settings.REGION,
        app_settings.MEDIA_URL,
        app_settings.DOWNLOAD_URL_EXPIRATION,
        options,
    )


@lru_cache(maxsize=8)
def _setting_options(path: str) -> dict[str, str]:
    options: dict[str, str] = getattr(import_string(path), "setting_options", {})
    return options


@lru_cache(maxsize=8)
def _backend(
    path: str,
    bucket: str,
    endpoint_url: str | None,
    region: str,
    media_url: str | None,
    download_expiration: int,
    options: tuple[tuple[str, Any], ...],
) -> StorageBackend:
    cls = import_string(path)
    backend: StorageBackend = cls(
        bucket=bucket,
        endpoint_url=endpoint_url,
        region=region,
        media_url=media_url,
        download_expiration=download_expiration,
        **dict(options),
    )
    return backend
