"""Bearer-token authentication for clients that carry no session cookie (mobile apps, SPAs on
other origins), one rule for HTTP and the websocket.

``ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR`` names a callable ``token -> user | None`` (or an
:class:`Authenticated`, when it knows when the token expires). HTTP: ``Authorization: Bearer
<token>``; websocket: the ``connection_init`` payload ``{"authorization": "Bearer <token>"}``.
A callable of your own, e.g. for tokens of django-rest-framework's ``authtoken``::

    from rest_framework.authtoken.models import Token

    def authenticate(token: str):
        found = Token.objects.select_related("user").filter(key=token).first()
        return found.user if found and found.user.is_active else None

djangorestframework-simplejwt: :mod:`asyncimg.auth.simplejwt` (extra ``simplejwt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.module_loading import import_string

from asyncimg.conf import app_settings
from asyncimg.errors import Unauthenticated

BEARER = "bearer "


@dataclass(frozen=True)
class Authenticated:
    """What an authenticator returns when it knows the token's expiry: websockets authenticated
    by the token are closed at ``expires_at``."""

    user: Any
    expires_at: datetime | None = None


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value; None when there is no such
    header; raises UNAUTHENTICATED for an Authorization header of another scheme or an empty one."""
    if header is None:
        return None
    if not header[: len(BEARER)].lower() == BEARER or not header[len(BEARER) :].strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
    return header[len(BEARER) :].strip()


def authenticate_token(token: str) -> Authenticated:
    """The user the configured authenticator finds for ``token``; UNAUTHENTICATED when none is
    configured, when it finds nobody, or when the user is inactive."""
    path = app_settings.TOKEN_AUTHENTICATOR
    if not path:
        raise Unauthenticated(
            "Bearer tokens are not accepted here (ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR is unset)."
        )
    found = import_string(path)(token)
    result = found if isinstance(found, Authenticated) else Authenticated(found)
    user = result.user
    if user is None or not getattr(user, "is_active", True):
        raise Unauthenticated("The token is invalid or has expired.")
    return result
