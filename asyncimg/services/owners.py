"""Who owns an upload: an authenticated user, or (when allowed) an anonymous session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.crypto import salted_hmac

from asyncimg.conf import app_settings
from asyncimg.errors import Unauthenticated


@dataclass(frozen=True)
class Owner:
    user_id: Any = None
    session_key: str | None = None
    #: the client's address, for the per-address rate limit of anonymous owners
    client_ip: str | None = None

    @property
    def filter(self) -> Q:
        """Selects this owner's uploads: a user's, or an anonymous session's."""
        if self.user_id is not None:
            return Q(owner_id=self.user_id)
        if not self.session_key:
            return Q(pk__in=[])  # no session yet: owns nothing
        return Q(owner__isnull=True, session_key=self.session_key)

    @property
    def group_key(self) -> str:
        return owner_key(self.user_id, self.session_key)

    def create_kwargs(self) -> dict[str, Any]:
        if self.user_id is not None:
            return {"owner_id": self.user_id, "session_key": ""}
        return {"owner_id": None, "session_key": self.session_key or ""}


def owner_key(user_id: Any, session_key: str | None) -> str:
    """The owner's name in channel groups and published messages: a keyed hash, never the
    session key itself (a bearer secret), nor a user id that anyone reading Redis could map.
    Letters and digits only, as channel-group names require."""
    raw = f"u{user_id}" if user_id is not None else f"s{session_key or ''}"
    return salted_hmac("asyncimg.owner", raw, algorithm="sha256").hexdigest()[:40]


def owner_of(
    user: Any, session: Any, *, create_session: bool, client_ip: str | None = None
) -> Owner:
    """The owner acting in a request or websocket scope.

    Raises ``UNAUTHENTICATED`` when nobody is logged in and anonymous uploads are off. An anonymous
    visitor without a session gets one only when ``create_session`` (i.e. when about to upload):
    reading does not write sessions.
    """
    if user is not None and getattr(user, "is_authenticated", False):
        return Owner(user_id=user.pk)
    if not app_settings.ALLOW_ANONYMOUS or session is None:
        raise Unauthenticated("Log in to upload images.")
    if not session.session_key and create_session:
        session.save()
    return Owner(session_key=session.session_key, client_ip=client_ip)
