"""``ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR = "asyncimg.auth.simplejwt.authenticate"``: access
tokens of djangorestframework-simplejwt (``pip install "django-async-image-upload[simplejwt]"``),
validated with the project's ``SIMPLE_JWT`` settings, the user looked up as simplejwt does.
Websockets authenticated by such a token are closed when it expires (its ``exp`` claim)."""

from __future__ import annotations

from datetime import UTC, datetime

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from asyncimg.auth import Authenticated

_authentication = JWTAuthentication()


def authenticate(token: str) -> Authenticated | None:
    try:
        validated = _authentication.get_validated_token(token.encode())
        user = _authentication.get_user(validated)
    except (InvalidToken, AuthenticationFailed, TokenError):
        return None
    expires = validated.get("exp")
    return Authenticated(
        user, datetime.fromtimestamp(int(expires), UTC) if expires is not None else None
    )
