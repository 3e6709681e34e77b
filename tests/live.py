"""Real server processes for integration tests: uvicorn running the project, a private Redis,
and a ``graphql-transport-ws`` client built on the ``websockets`` library."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from django.db import connection
from websockets.asyncio.client import ClientConnection, connect

# One implementation of the servers, for the benchmarks and the tests (bench imports nothing
# from tests/; tests may import bench).
from bench import _support
from bench._support import RedisServer, cpu_seconds, free_port, wait_for_port

__all__ = ["RedisServer", "cpu_seconds", "free_port", "wait_for_port"]  # re-exported for tests

ROOT = Path(__file__).resolve().parent.parent
#: Liveness bound for waiting on a message: generous, so a slow CI machine never fails a test.
WAIT = float(os.environ.get("ASYNCIMG_TEST_WAIT", "20"))


def test_database_url() -> str:
    """The URL of the database pytest-django created, for the server processes."""
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        port = s.get("PORT") or 5432
        user, host = s.get("USER") or "postgres", s.get("HOST") or "127.0.0.1"
        return f"postgres://{user}@{host}:{port}/{s['NAME']}"
    if connection.vendor == "mysql":
        port = s.get("PORT") or 3306
        user, host = s.get("USER") or "root", s.get("HOST") or "127.0.0.1"
        password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
        return f"mysql://{user}{password}@{host}:{port}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


class UvicornServer(_support.UvicornServer):
    """bench's uvicorn process, with its log readable for failure messages."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        name: str = "server",
        extra_args: list[str] | None = None,
        app: str = "config.asgi:application",
    ) -> None:
        super().__init__(env, name=name, extra_args=extra_args, app=app)
        self.name = name

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")


class AsgiServer(UvicornServer):
    """The project on the test database, with the Redis channel layer at ``redis_url``."""

    def __init__(
        self, redis_url: str, *, name: str = "server", env: dict[str, str] | None = None
    ) -> None:
        super().__init__({}, name=name, extra_args=["--ws", "websockets"])
        self.redis_url = redis_url
        self.extra_env = env or {}

    def start(self) -> None:
        # Built at start: the test database's name is known only once pytest-django created it.
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": test_database_url(),
            "DATABASE_CONN_MAX_AGE": "0",
            "ASYNCIMG_TEST_REDIS_LAYER": self.redis_url,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'lambda'}",
            **self.extra_env,
        }
        super().start()


@contextlib.contextmanager
def running(*things: Any) -> Iterator[None]:
    try:
        for thing in things:
            thing.start()
        yield
    finally:
        for thing in reversed(things):
            thing.stop()


class GraphQLWS:
    """Minimal ``graphql-transport-ws`` client: connection_init, subscribe, next/error/complete."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.buffer: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    async def open(
        cls, server: AsgiServer, *, session: str | None = None, init: bool = True
    ) -> GraphQLWS:
        headers = {"Origin": server.url}
        if session:
            headers["Cookie"] = f"sessionid={session}"
        ws = await connect(
            server.ws_url,
            subprotocols=["graphql-transport-ws"],
            additional_headers=headers,  # type: ignore[list-item]
        )
        client = cls(ws)
        if init:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            ack = await client.raw()
            assert ack["type"] == "connection_ack", ack
        return client

    async def raw(self) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), WAIT))
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] != "pong":
                return message

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))

    async def next(self, op_id: str) -> dict[str, Any]:
        """The next message of operation ``op_id`` (others are buffered for their own reader)."""
        while not self.buffer.get(op_id):
            message = await self.raw()
            self.buffer.setdefault(message.get("id", ""), []).append(message)
        return self.buffer[op_id].pop(0)

    async def close(self) -> None:
        await self.ws.close()


IMAGE_PROCESSED = """
subscription($id: ID!) {
  imageProcessed(uploadId: $id) { id status error { code } image { width variants { name url } } }
}
"""
UPLOAD_EVENTS = "subscription { uploadEvents { id status } }"


def post_callback(server: AsgiServer, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{server.url}/async_image/callback/", data=body, headers=headers, timeout=30
    )
