"""The small interface every storage backend implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class PresignedPost:
    """A credential for sending exactly one object: a ``multipart/form-data`` POST of ``fields``
    plus the file (S3, GCS), or a ``PUT`` of the file's bytes with ``headers`` (Azure SAS)."""

    url: str
    fields: dict[str, str]
    expires_at: datetime
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    etag: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


class StorageBackend(abc.ABC):
    """Signs uploads and builds URLs. Implementations must be thread-safe and cheap to call."""

    @abc.abstractmethod
    def presigned_post(
        self, *, key: str, content_type: str, max_size: int, expires_in: int
    ) -> PresignedPost:
        """A POST credential allowing exactly ``key`` with exactly ``content_type`` and at most
        ``max_size`` bytes, valid for ``expires_in`` seconds."""

    @abc.abstractmethod
    def url(self, key: str) -> str:
        """A URL a browser can GET the object at."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; how many. Raises when storage
        cannot be asked."""

    def list_prefixes(self, prefix: str, *, limit: int) -> list[str]:
        """The "folders" whose names start with ``prefix``: each distinct key prefix up to the
        next ``/`` after it (``processed/<id>/``), in key order, at most ``limit``. Raises when
        storage cannot be asked; ``NotImplementedError`` from a backend that cannot list (the
        orphan sweep then skips it)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list prefixes")

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The stored object's size and type, or None when it does not exist. Raises when the
        answer is unknown (network, permissions, a missing bucket): callers decide on None."""
