"""Quota and rate limits hold under concurrency: decided in the same transaction as the insert,
under a per-owner lock, on whichever database the suite runs on (the CI matrix runs this file on
PostgreSQL, MariaDB and SQLite). Real threads, each on its own database connection."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from asyncimg.errors import AsyncImgError
from asyncimg.models import Upload, UploadStatus
from asyncimg.services import uploads
from asyncimg.services.owners import Owner
from tests.conftest import graphql_client

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 30


def files(tag: int, count: int = 10) -> list[uploads.FileSpec]:
    return [uploads.FileSpec(f"{tag}-{i}.jpg", "image/jpeg", 1000) for i in range(count)]


def concurrently(calls: list[Callable[[], Any]]) -> Counter[str]:
    """Run ``calls`` at once (a barrier releases them together); count outcomes by error code."""
    barrier = threading.Barrier(len(calls))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            call()
            outcome = "ok"
        except AsyncImgError as exc:
            outcome = exc.code
        except Exception as exc:  # anything else is a failure of the test: counted, shown
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(outcomes.values()) == len(calls), outcomes
    return outcomes


def test_the_pending_quota_holds_under_concurrent_requests(user: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER = 50
    settings.ASYNC_IMAGE_UPLOAD_RATE_LIMIT = (10_000, 3600)
    owner = Owner(user_id=user.pk)
    outcomes = concurrently(
        [lambda tag=tag: uploads.request_uploads(owner, files(tag)) for tag in range(THREADS)]
    )
    assert outcomes == Counter({"ok": 5, "QUOTA_EXCEEDED": THREADS - 5})
    assert Upload.objects.filter(status=UploadStatus.PENDING).count() == 50


def test_the_rate_limit_holds_under_concurrent_requests(user: Any, settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER = 10_000
    settings.ASYNC_IMAGE_UPLOAD_RATE_LIMIT = (100, 3600)
    owner = Owner(user_id=user.pk)
    outcomes = concurrently(
        [lambda tag=tag: uploads.request_uploads(owner, files(tag)) for tag in range(THREADS)]
    )
    assert outcomes == Counter({"ok": 10, "RATE_LIMITED": THREADS - 10})
    assert Upload.objects.count() == 100


def test_owners_do_not_wait_for_each_others_limits(
    user: Any, other_user: Any, settings: Any
) -> None:
    settings.ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER = 20
    alice, bob = Owner(user_id=user.pk), Owner(user_id=other_user.pk)
    calls = [
        lambda o=o, t=t: uploads.request_uploads(o, files(t))
        for t in range(4)
        for o in (alice, bob)
    ]
    assert concurrently(calls) == Counter({"ok": 4, "QUOTA_EXCEEDED": 4})
    assert (
        Upload.objects.filter(owner=user).count()
        == Upload.objects.filter(owner=other_user).count()
        == 20
    )


def test_fresh_sessions_from_one_address_share_the_anonymous_limit(settings: Any) -> None:
    """Every cookie-less request may start a new session: the per-address window holds them."""
    settings.ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS = True
    settings.ASYNC_IMAGE_UPLOAD_ANONYMOUS_RATE_LIMIT = (25, 3600)
    owners = [Owner(session_key=f"session-{i}", client_ip="203.0.113.7") for i in range(THREADS)]
    outcomes = concurrently(
        [lambda o=o, t=t: uploads.request_uploads(o, files(t, 5)) for t, o in enumerate(owners)]
    )
    assert outcomes == Counter({"ok": 5, "RATE_LIMITED": THREADS - 5})
    assert Upload.objects.count() == 25
    # Another address has its own window; a logged-in user is not counted by address at all.
    uploads.request_uploads(Owner(session_key="elsewhere", client_ip="198.51.100.1"), files(99))


def test_graphql_anonymous_requests_from_one_client_are_limited(settings: Any) -> None:
    settings.ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS = True
    settings.ASYNC_IMAGE_UPLOAD_ANONYMOUS_RATE_LIMIT = (3, 3600)
    query = (
        "mutation($input: RequestImageUploadInput!) "
        "{ requestImageUpload(input: $input) { upload { id } } }"
    )
    codes = []
    for i in range(5):
        gql = graphql_client(Client())  # a new cookie-less visitor each time
        result = gql(
            query, {"input": {"filename": f"{i}.jpg", "contentType": "image/jpeg", "size": 5}}
        )
        codes.append((result.get("errors") or [{}])[0].get("extensions", {}).get("code", "ok"))
    assert codes == ["ok", "ok", "ok", "RATE_LIMITED", "RATE_LIMITED"]
