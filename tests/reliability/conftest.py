"""Fixtures of the reliability suite: a moto server process, a private Redis, sessions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from config.embedded import MotoServer
from tests.live import RedisServer

# The shared assertions live in the harness: let pytest explain their failures too.
pytest.register_assert_rewrite("tests.reliability.harness")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """``python -m moto.server`` in a child process: S3 and SQS over HTTP, beside (not inside)
    the test process, like the real services."""
    server = MotoServer()
    server.start()
    try:
        server.wait_ready(60)
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server: the suite's channel layer, shared with no other suite."""
    redis = RedisServer()
    redis.start()
    try:
        yield redis.url
    finally:
        redis.stop()


@pytest.fixture
def shared_database(django_db_setup: Any) -> str:
    """Skip on SQLite: several server processes writing one SQLite file at the rates of these
    bursts fail with "database is locked"; the PostgreSQL and MariaDB cells run these tests."""
    if connection.vendor == "sqlite":
        pytest.skip(
            "needs a database several processes can share (PostgreSQL or MariaDB); "
            "SQLite is one file with one writer at a time"
        )
    return connection.vendor


def session_keys(django_user_model: Any, count: int, prefix: str = "user") -> list[str]:
    """Session keys of ``count`` new logged-in users, stored in the test database."""
    keys = []
    for index in range(count):
        user = django_user_model.objects.create_user(username=f"{prefix}{index}", password="pw")
        client = Client()
        client.force_login(user)
        keys.append(str(client.cookies["sessionid"].value))
    return keys
