"""Errors a client can cause, each with a stable code.

The GraphQL layer turns them into errors with ``extensions.code``; the callback view into JSON 4xx
responses. The code is part of the public contract; the message says what to do.
"""

from __future__ import annotations


class AsyncImgError(Exception):
    """Base class of every error a client may see."""

    code = "BAD_REQUEST"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ValidationError(AsyncImgError):
    code = "BAD_USER_INPUT"


class UnsupportedContentType(ValidationError):
    code = "UNSUPPORTED_CONTENT_TYPE"


class FileTooLarge(ValidationError):
    code = "FILE_TOO_LARGE"
    http_status = 413


class TooManyFiles(ValidationError):
    code = "TOO_MANY_FILES"


class RateLimited(AsyncImgError):
    code = "RATE_LIMITED"
    http_status = 429


class QuotaExceeded(AsyncImgError):
    code = "QUOTA_EXCEEDED"
    http_status = 429


class Unauthenticated(AsyncImgError):
    code = "UNAUTHENTICATED"
    http_status = 401


class NotFound(AsyncImgError):
    """Unknown id, or somebody else's upload: the two are indistinguishable on purpose."""

    code = "NOT_FOUND"
    http_status = 404


class ServiceUnavailable(AsyncImgError):
    """A service the request needs did not answer (the channel layer's Redis, say): retrying
    later may succeed, and nothing was lost."""

    code = "SERVICE_UNAVAILABLE"
    http_status = 503


class ConfigurationError(AsyncImgError):
    code = "NOT_CONFIGURED"
    http_status = 503


#: ``Upload.error.code`` of an upload the moderation policy (``ASYNC_IMAGE_UPLOAD_MODERATION``)
#: rejected, at processing or by a reviewer after a hold: its processed files are deleted.
REJECTED_BY_MODERATION = "REJECTED_BY_MODERATION"
