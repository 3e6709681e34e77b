"""Real server processes for integration tests: uvicorn running the project, a private Redis,
and a ``graphql-transport-ws`` client built on the ``websockets`` library."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from django.db import connection
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
#: Liveness bound for waiting on a message: generous, so a slow CI machine never fails a test.
WAIT = float(os.environ.get("ASYNCIMG_TEST_WAIT", "20"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


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


class RedisServer:
    """A private redis-server on a free port, so a test may stop and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class UvicornServer:
    """``uvicorn config.asgi:application`` (or ``app``) in its own process, with exactly the
    environment given (the benchmarks use it as is; :class:`AsgiServer` points it at the test
    database)."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        name: str = "server",
        extra_args: list[str] | None = None,
        app: str = "config.asgi:application",
    ) -> None:
        self.env = env
        self.app = app
        self.extra_args = extra_args or []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql/"
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (open for the process' life)
            prefix=f"asyncimg-{name}-", suffix=".log", delete=False
        )

    def start(self) -> None:
        args = [sys.executable, "-m", "uvicorn", self.app]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"]
        args += ["--lifespan", "off", *self.extra_args]
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid)

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
