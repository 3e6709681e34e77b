"""A token authenticator for the tests (``ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR =
"tests.tokens.authenticate"``): tokens signed with Django's signing module, carrying the user's id
and an expiry. Mint one with :func:`make_token`, or from a shell (the Node tests):
``python -c "from tests.tokens import cli; cli()" <username> [seconds]``."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

from django.core import signing

from asyncimg.auth import Authenticated

SALT = "asyncimg-tests"


def make_token(user: Any, seconds: float = 3600) -> str:
    return signing.dumps({"u": user.pk, "exp": time.time() + seconds}, salt=SALT)


def authenticate(token: str) -> Authenticated | None:
    from django.contrib.auth import get_user_model

    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if data["exp"] <= time.time():
        return None
    user = get_user_model().objects.filter(pk=data["u"]).first()
    return Authenticated(user, datetime.fromtimestamp(data["exp"], UTC))


def cli() -> None:
    """Print a token for an existing user (creating it when missing)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    username = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3600
    user, _ = get_user_model().objects.get_or_create(username=username)
    print(make_token(user, seconds))
