"""Push latency: processor callback POST → the pushed state arriving on a subscriber's websocket.

Run: ``.venv/bin/python bench/push_latency.py`` (about two minutes; ``--quick`` for a smoke run).

What runs (all on 127.0.0.1, all started and stopped by this script):

* a dedicated PostgreSQL database ``asyncimg_bench`` (created, migrated with ``manage.py migrate``,
  dropped at the end) and a private ``redis-server`` on a free port;
* TWO ``uvicorn config.asgi:application`` processes on the production settings
  (``config.settings``: ``DATABASE_URL`` → PostgreSQL with its default ``CONN_MAX_AGE``,
  ``REDIS_URL`` → ``channels_redis.pubsub.RedisPubSubChannelLayer``), access log off;
* websocket clients in separate processes (``--client-procs``, default 2, one per server), each
  subscriber a real browser's shape: its own websocket connection, its own session cookie (one user
  per subscriber), ``connection_init``, then ``imageProcessed(uploadId)`` on its own upload;
* the callback sender in this process: raw HTTP/1.1 on keep-alive connections, bodies signed as
  the processor signs them, sent at a fixed rate (``--rate``) to a random one of the two servers
  (like a load balancer), so about half of the pushes cross processes through Redis.

"N subscribers" means N concurrent websocket connections, split evenly over the two servers, each
holding one ``imageProcessed`` subscription on its own upload. A round: every subscriber subscribes
to a fresh PENDING upload (and receives PENDING), then every upload gets a ``processing`` callback
and then a ``succeeded`` one; the subscription pushes PROCESSING, then READY, then completes. The
clock of one sample starts just before the callback request's first byte is written and stops when
the client process has read the pushed message off its websocket (both ``CLOCK_MONOTONIC``, shared
by all processes of the machine). Every applied callback must be delivered exactly once: what is
missing after the round's deadline is *lost*, what arrives twice is *duplicated*.

The floors, measured in the same run: a bare redis-py PUBLISH → SUBSCRIBE round trip on the same
Redis (one process, one publisher and one subscriber connection); the transport floor (the push's
hops with nothing in them, ``bench/floor_app.py``); and Django's own floor for the callback's HTTP
leg (an unsigned callback to the same servers, refused before any database work). Results go to
the ``push_latency`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

from bench._report import percentile, write_section  # noqa: E402
from bench._support import (  # noqa: E402
    SECRET,
    RedisServer,
    UvicornServer,
    callback_body,
    signed_headers,
)

DB_NAME = "asyncimg_bench"
PG = "postgres://postgres@127.0.0.1:5432"
SUBSCRIBE = "subscription($id: ID!) { imageProcessed(uploadId: $id) { id status } }"
#: liveness bound of one wait (a round's deliveries, a handshake): the run never hangs
DEADLINE = 30.0


def log(message: str) -> None:
    print(message, flush=True)


def ms(ns: float) -> str:
    return f"{ns / 1e6:.2f}"


# --- environment ----------------------------------------------------------------------------------


def server_env(redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": "bench-secret-key-not-for-production-use-0123456789",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ASYNC_IMAGE_UPLOAD_BUCKET": "asyncimg-bench",
        "ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS": SECRET,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'lambda'}",
        "DJANGO_DEBUG": os.environ.get("BENCH_DJANGO_DEBUG", "0"),
        # The default storage configuration: a private bucket, images served by presigned GET
        # URLs, signed (locally, no request) with these dummy credentials.
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def admin_sql(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def create_database(env: dict[str, str]) -> None:
    admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", f"CREATE DATABASE {DB_NAME}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def drop_database() -> None:
    with contextlib.suppress(Exception):
        admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


# --- fixtures in the database ---------------------------------------------------------------------


def django_setup(env: dict[str, str]) -> None:
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"):
        os.environ[name] = env[name]
    os.environ["ASYNC_IMAGE_UPLOAD_BUCKET"] = env["ASYNC_IMAGE_UPLOAD_BUCKET"]
    os.environ["ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS"] = SECRET
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        os.environ[name] = env[name]
    # The fixtures are written from the sender's event loop between rounds (nothing in flight).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    import django

    django.setup()


def make_users(count: int) -> list[tuple[int, str]]:
    """``count`` users, each with a logged-in session: [(user id, session key)]."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    User.objects.bulk_create(
        [User(username=f"bench{i}", password="!unusable") for i in range(count)],
        batch_size=1000,
    )
    out = []
    for user in User.objects.filter(username__startswith="bench").order_by("id"):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        out.append((user.pk, str(session.session_key)))
    return out


def make_uploads(owner_ids: list[int]) -> list[str]:
    """One PENDING upload per owner id, in order: their ids."""
    from django.utils import timezone

    from asyncimg.models import Upload

    expires = timezone.now() + timedelta(hours=1)
    rows = []
    for owner_id in owner_ids:
        pk = uuid.uuid4()
        rows.append(
            Upload(
                id=pk,
                owner_id=owner_id,
                filename="photo.jpg",
                content_type="image/jpeg",
                size=100_000,
                key=f"temp/{pk}/photo.jpg",
                expires_at=expires,
            )
        )
    Upload.objects.bulk_create(rows, batch_size=1000)
    return [str(row.id) for row in rows]


def cpu_stat() -> tuple[int, int]:
    """(total, idle + iowait) jiffies of the machine."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


# --- the floor ------------------------------------------------------------------------------------


def redis_floor(redis_url: str, samples: int) -> list[float]:
    """Bare redis-py PUBLISH → SUBSCRIBE round trips (ns)."""
    import redis

    publisher = redis.Redis.from_url(redis_url)
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe("bench.floor")
    subscriber.get_message(timeout=1.0)
    payload = b"x" * 300
    out = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        publisher.publish("bench.floor", payload)
        message = None
        for _ in range(1000):
            message = subscriber.get_message(timeout=1.0)
            if message is not None:
                break
        out.append(time.perf_counter_ns() - t0)
        assert message is not None
    subscriber.close()
    publisher.close()
    return out


def pg_pacing(rate: float, samples: int = 200) -> dict[str, tuple[float, float]]:
    """PostgreSQL round trips (ns, p50) back to back and paced like the callbacks: on this VM an
    idle process is slow to wake, so the same statement costs more at 100/s than in a loop."""
    import psycopg

    out: dict[str, tuple[float, float]] = {}
    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        # A logged table (not TEMPORARY): its COMMIT waits for the WAL flush, as the callback's.
        conn.execute("CREATE TABLE bench_pacing (id serial PRIMARY KEY, v int)")
        for name, sql in (
            ("SELECT 1", "SELECT 1"),
            ("INSERT + COMMIT", "INSERT INTO bench_pacing (v) VALUES (1)"),
        ):
            pair = []
            for gap in (0.0, 1.0 / rate):
                times = []
                for _ in range(samples):
                    if gap:
                        time.sleep(gap)
                    t0 = time.perf_counter_ns()
                    conn.execute(sql)  # type: ignore[call-overload]
                    times.append(time.perf_counter_ns() - t0)
                pair.append(percentile(times, 50))
            out[name] = (pair[0], pair[1])
        conn.execute("DROP TABLE bench_pacing")
    return out


def floor_client(conn: Any, ws_urls: list[str]) -> None:
    """The transport floor's subscriber process: one plain websocket per URL; records every
    frame's receipt time (ns) by the sequence number it carries."""

    async def main() -> None:
        from websockets.asyncio.client import connect

        receipts: dict[int, list[int]] = defaultdict(list)

        async def reader(ws: Any) -> None:
            async for raw in ws:
                now = time.perf_counter_ns()
                receipts[json.loads(raw)["seq"]].append(now)

        sockets = [await connect(url, max_queue=None, ping_interval=None) for url in ws_urls]
        tasks = [asyncio.create_task(reader(ws)) for ws in sockets]
        loop = asyncio.get_running_loop()
        conn.send("connected")
        settle = await loop.run_in_executor(None, conn.recv)
        await asyncio.sleep(settle)
        conn.send(dict(receipts))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(main())


@dataclass
class Floor:
    latencies: list[float] = field(default_factory=list)
    same: list[float] = field(default_factory=list)
    cross: list[float] = field(default_factory=list)
    responses: list[float] = field(default_factory=list)  # ns, the POST's response
    lost: int = 0


async def transport_floor(
    env: dict[str, str], args: argparse.Namespace, rng: random.Random
) -> Floor:
    """The push's hops alone (bench/floor_app.py on two uvicorn processes, same Redis, same rate
    and routing as the levels): POST → channel layer → websocket frame, no Django, no database.
    One subscriber per server; each POST goes to a random server for a random subscriber."""
    servers = [
        UvicornServer(
            env,
            name=f"floor-{name}",
            app="bench.floor_app:application",
            extra_args=["--log-level", "warning", *args.server_args.split()],
        )
        for name in ("a", "b")
    ]
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    process = None
    out = Floor()
    try:
        for server in servers:
            server.start()
        urls = [f"ws://127.0.0.1:{server.port}/ws/floor{k}" for k, server in enumerate(servers)]
        process = ctx.Process(target=floor_client, args=(child, urls), daemon=True)
        process.start()
        if not conn.poll(DEADLINE):
            raise RuntimeError("floor client did not connect")
        conn.recv()
        sender = Sender(servers, args.pool)
        await sender.open()
        # the size of a signed "succeeded" callback body
        padding = "x" * len(callback_body(str(uuid.uuid4()), "succeeded"))
        sent: dict[int, tuple[int, int, int]] = {}  # seq → (t0, target, subscriber)

        async def fire(seq: int, target: int, subscriber: int) -> None:
            body = json.dumps({"seq": seq, "padding": padding}).encode()
            t0, rtt, status, _ = await sender.post(target, f"/publish/floor{subscriber}", body, {})
            if status != 200:
                raise RuntimeError(f"floor server answered {status}")
            if seq >= 0:
                sent[seq] = (t0, target, subscriber)
                out.responses.append(rtt)

        for k in range(50):  # warm-up, not counted
            await fire(-1 - k, k % 2, (k // 2) % 2)
        interval = 1.0 / args.rate
        start = time.perf_counter()
        tasks = []
        for seq in range(args.floor_pushes):
            delay = start + seq * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            target, subscriber = rng.randrange(2), rng.randrange(2)
            tasks.append(asyncio.create_task(fire(seq, target, subscriber)))
        await asyncio.gather(*tasks)
        await sender.close()
        conn.send(1.0)
        if not conn.poll(DEADLINE):
            raise RuntimeError("floor client did not report")
        receipts: dict[int, list[int]] = conn.recv()
        for seq, (t0, target, subscriber) in sent.items():
            hits = receipts.get(seq)
            if not hits:
                out.lost += 1
                continue
            latency = hits[0] - t0
            out.latencies.append(latency)
            (out.same if target == subscriber else out.cross).append(latency)
    finally:
        if process is not None:
            process.join(10)
            if process.is_alive():
                process.terminate()
        for server in servers:
            server.stop()
    return out


async def django_floor(
    servers: list[UvicornServer], args: argparse.Namespace, rng: random.Random
) -> list[float]:
    """Response times (ns) of unsigned callbacks to the project's servers, at the levels' rate and
    routing: HTTP, Django's handler and middleware, the callback view refusing the signature (401)
    — what Django takes to answer the callback before any database work or publishing."""
    sender = Sender(servers, args.pool)
    await sender.open()
    body = callback_body(str(uuid.uuid4()), "succeeded")
    out: list[float] = []

    async def fire(target: int, record: bool) -> None:
        _t0, rtt, status, _ = await sender.post(target, "/async_image/callback/", body, {})
        if status != 401:
            raise RuntimeError(f"unsigned callback answered {status}")
        if record:
            out.append(rtt)

    for k in range(50):  # warm-up, not counted
        await fire(k % len(servers), False)
    interval = 1.0 / args.rate
    start = time.perf_counter()
    tasks = []
    for k in range(args.floor_pushes):
        delay = start + k * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(rng.randrange(len(servers)), True)))
    await asyncio.gather(*tasks)
    await sender.close()
    return out


# --- websocket clients (separate processes) -------------------------------------------------------


def client_process(conn: Any, ws_url: str, origin: str) -> None:
    """Holds websocket subscribers; driven by commands over ``conn`` (see ``Clients``)."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_client_main(conn, ws_url, origin))


async def _client_main(conn: Any, ws_url: str, origin: str) -> None:
    from websockets.asyncio.client import connect

    sockets: dict[int, Any] = {}
    readers: list[asyncio.Task[None]] = []
    #: upload id → [(status, receipt ns)]
    receipts: dict[str, list[tuple[str, int]]] = defaultdict(list)
    first: dict[str, asyncio.Future[str]] = {}
    completed: set[str] = set()
    pending_complete: set[str] = set()
    errors: list[str] = []
    done_event = asyncio.Event()

    async def reader(ws: Any) -> None:
        perf = time.perf_counter_ns
        loads = json.loads
        async for raw in ws:
            now = perf()
            message = loads(raw)
            kind = message["type"]
            if kind == "next":
                op = message["id"]
                data = message["payload"].get("data")
                if data is None:
                    errors.append(json.dumps(message["payload"])[:300])
                    continue
                status = data["imageProcessed"]["status"]
                future = first.get(op)
                if future is not None and not future.done():
                    future.set_result(status)
                else:
                    receipts[op].append((status, now))
            elif kind == "complete":
                completed.add(message["id"])
                pending_complete.discard(message["id"])
                if not pending_complete:
                    done_event.set()
            elif kind == "ping":
                await ws.send('{"type":"pong"}')
            elif kind == "error":
                errors.append(json.dumps(message)[:300])

    async def open_one(index: int, session: str) -> None:
        ws = await connect(
            ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            additional_headers={"Origin": origin, "Cookie": f"sessionid={session}"},
            max_queue=None,
            ping_interval=None,
        )
        await ws.send('{"type":"connection_init","payload":{}}')
        ack = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
        if ack["type"] != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        sockets[index] = ws
        readers.append(asyncio.create_task(reader(ws)))

    loop = asyncio.get_running_loop()
    start_cpu = time.process_time()
    while True:
        command, arg = await loop.run_in_executor(None, conn.recv)
        if command == "connect":

            async def guarded(index: int, session: str, sem: asyncio.Semaphore) -> None:
                async with sem:
                    await open_one(index, session)

            sem = asyncio.Semaphore(50)
            await asyncio.gather(*(guarded(i, s, sem) for i, s in arg))
            start_cpu = time.process_time()
            conn.send(("connected", len(sockets)))
        elif command == "subscribe":
            # arg: [(socket index, upload id)]; answered once every initial state arrived.
            first.clear()
            for index, upload_id in arg:
                first[upload_id] = loop.create_future()
                pending_complete.add(upload_id)
                await sockets[index].send(
                    json.dumps(
                        {
                            "id": upload_id,
                            "type": "subscribe",
                            "payload": {"query": SUBSCRIBE, "variables": {"id": upload_id}},
                        }
                    )
                )
            done_event.clear()
            initial = await asyncio.wait_for(asyncio.gather(*first.values()), DEADLINE)
            first.clear()
            conn.send(("subscribed", Counter(initial)))
        elif command == "collect":
            # arg: seconds to wait for every subscription of the round to complete
            if pending_complete:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done_event.wait(), arg)
            out = {k: v for k, v in receipts.items()}
            conn.send(("collected", (out, sorted(completed), sorted(pending_complete), errors[:])))
            receipts.clear()
            completed.clear()
            pending_complete.clear()
            errors.clear()
        elif command == "cpu":
            conn.send(("cpu", time.process_time() - start_cpu))
        elif command == "close":
            for task in readers:
                task.cancel()
            await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            conn.send(("closed", usage.ru_maxrss))
            return


class Clients:
    """The parent's handle on one client process."""

    def __init__(self, server: UvicornServer) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=client_process, args=(child, server.ws_url, server.url), daemon=True
        )
        self.process.start()

    async def call(self, command: str, arg: Any = None, timeout: float = DEADLINE * 4) -> Any:
        self.conn.send((command, arg))
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self.conn.poll, timeout):
            raise RuntimeError(f"client process did not answer {command!r} in {timeout} s")
        _kind, result = self.conn.recv()
        return result

    def stop(self) -> None:
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()


# --- callback sender (this process) ---------------------------------------------------------------


class Sender:
    """Signed callbacks over raw HTTP/1.1 keep-alive connections, a small pool per server."""

    def __init__(self, servers: list[UvicornServer], pool: int) -> None:
        self.servers = servers
        self.pool_size = pool
        self.pools: list[asyncio.Queue[tuple[Any, Any]]] = []

    async def open(self) -> None:
        for server in self.servers:
            queue: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()
            for _ in range(self.pool_size):
                queue.put_nowait(await asyncio.open_connection("127.0.0.1", server.port))
            self.pools.append(queue)

    async def close(self) -> None:
        for queue in self.pools:
            while not queue.empty():
                _, writer = queue.get_nowait()
                writer.close()

    async def send(self, index: int, upload_id: str, event: str) -> tuple[int, int, dict[str, Any]]:
        """(t0 ns, response ns, response JSON) of one signed callback to server ``index``."""
        body = callback_body(upload_id, event)
        headers = signed_headers(body)
        t0, rtt, status, payload = await self.post(index, "/async_image/callback/", body, headers)
        if status != 200:
            title = payload.split(b"<title>", 1)[-1].split(b"</title>", 1)[0]
            raise RuntimeError(f"callback answered {status}: {title[:500]!r}")
        return t0, rtt, json.loads(payload)

    async def post(
        self, index: int, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, int, int, bytes]:
        """(t0 ns, response ns, status, body) of one JSON POST to server ``index``."""
        server = self.servers[index]
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            + "\r\n"
        ).encode()
        request = head + body
        reader, writer = await self.pools[index].get()
        try:
            for attempt in (1, 2):
                t0 = time.perf_counter_ns()
                writer.write(request)
                try:
                    status_and_headers = await asyncio.wait_for(
                        reader.readuntil(b"\r\n\r\n"), DEADLINE
                    )
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    # The server closed this keep-alive connection while it sat idle (uvicorn
                    # does after 5 s, e.g. while a level subscribes 1,000 clients): reconnect and
                    # send again, as HTTP clients do. Nothing was answered, and a callback is
                    # idempotent anyway (its eventId).
                    if attempt == 2 or getattr(exc, "partial", b""):
                        raise
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                    continue
                break
            t1 = time.perf_counter_ns()
            length = 0
            for line in status_and_headers.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            payload = await reader.readexactly(length)
        finally:
            self.pools[index].put_nowait((reader, writer))
        return t0, t1 - t0, int(status_and_headers.split(b" ", 2)[1]), payload


async def warm_up(
    servers: list[UvicornServer], users: list[tuple[int, str]], count: int = 50
) -> None:
    """Imports, first connections, caches: a few callbacks on each server before measuring."""
    sender = Sender(servers, 2)
    await sender.open()
    uploads = make_uploads([users[0][0]] * count * len(servers))
    for k, upload_id in enumerate(uploads):
        for event in ("processing", "succeeded"):
            await sender.send(k % len(servers), upload_id, event)
    await sender.close()


@dataclass
class Level:
    subscribers: int
    rounds: int
    latencies: list[float] = field(default_factory=list)  # ns, pushed message
    #: ns, pushed message from the callback's *scheduled* time: includes any wait for a free
    #: sender connection, so a server that falls behind the rate cannot hide it (open loop)
    open_loop: list[float] = field(default_factory=list)
    same: list[float] = field(default_factory=list)  # ns, callback on the subscriber's server
    cross: list[float] = field(default_factory=list)  # ns, through the other server
    responses: list[float] = field(default_factory=list)  # ns, callback response
    callbacks: int = 0
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    not_completed: int = 0
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0


async def run_level(
    level: Level,
    users: list[tuple[int, str]],
    servers: list[UvicornServer],
    args: argparse.Namespace,
    rng: random.Random,
) -> None:
    n = level.subscribers
    procs = [Clients(server) for server in servers[: min(n, len(servers))]]
    # subscriber i: user i, websocket on server i % 2, held by client process i % 2
    try:
        for p, clients in enumerate(procs):
            mine = [(i, users[i][1]) for i in range(p, n, len(procs))]
            await clients.call("connect", mine)
        sender = Sender(servers, args.pool)
        await sender.open()
        interval = 1.0 / args.rate
        server_cpu0 = sum(s.cpu_seconds() for s in servers)
        wall0 = time.perf_counter()
        for _ in range(level.rounds):
            uploads = make_uploads([users[i][0] for i in range(n)])
            for p, clients in enumerate(procs):
                initial = await clients.call(
                    "subscribe", [(i, uploads[i]) for i in range(p, n, len(procs))]
                )
                if set(initial) != {"PENDING"}:
                    raise RuntimeError(f"initial states {initial}")
            # processing for every upload, then succeeded for every upload, at the fixed rate
            order = list(range(n))
            rng.shuffle(order)
            schedule = [(i, "processing") for i in order] + [(i, "succeeded") for i in order]
            results: dict[tuple[str, str], tuple[int, int, int, dict[str, Any]]] = {}
            firsts: dict[str, asyncio.Task[Any]] = {}
            lags: dict[tuple[str, str], int] = {}
            tasks = []

            async def fire(
                i: int,
                event: str,
                target: int,
                scheduled: int,
                uploads: list[str] = uploads,
                firsts: dict[str, asyncio.Task[Any]] = firsts,
                results: dict[Any, Any] = results,
                lags: dict[Any, int] = lags,
            ) -> None:
                upload_id = uploads[i]
                if event == "succeeded" and upload_id in firsts:
                    await firsts[upload_id]  # keep processing → succeeded order per upload
                t0, rtt, body = await sender.send(target, upload_id, event)
                results[(upload_id, event)] = (t0, rtt, target, body)
                lags[(upload_id, event)] = max(0, t0 - scheduled)

            start = time.perf_counter()
            start_ns = time.perf_counter_ns()
            for k, (i, event) in enumerate(schedule):
                delay = start + k * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                scheduled = start_ns + int(k * interval * 1e9)
                task = asyncio.create_task(fire(i, event, rng.randrange(len(servers)), scheduled))
                if event == "processing":
                    firsts[uploads[i]] = task
                tasks.append(task)
            await asyncio.gather(*tasks)
            level.callbacks += len(tasks)
            received: dict[str, list[tuple[str, int]]] = {}
            for clients in procs:
                got, _completed, incomplete, errors = await clients.call("collect", args.settle)
                received.update(got)
                level.not_completed += len(incomplete)
                level.errors += errors
            position = {upload_id: i for i, upload_id in enumerate(uploads)}
            for (upload_id, _event), (t0, rtt, target, body) in results.items():
                level.responses.append(rtt)
                if body["status"] != "applied":
                    continue
                level.expected += 1
                status = body["uploadStatus"]
                hits = [t for s, t in received.get(upload_id, []) if s == status]
                if not hits:
                    level.lost += 1
                    continue
                level.duplicated += len(hits) - 1
                latency = hits[0] - t0
                level.latencies.append(latency)
                level.open_loop.append(latency + lags[(upload_id, _event)])
                subscriber_server = position[upload_id] % len(servers)
                (level.same if subscriber_server == target else level.cross).append(latency)
            expected_statuses = {
                (u, b["uploadStatus"])
                for (u, _), (_, _, _, b) in results.items()
                if b["status"] == "applied"
            }
            for upload_id, hits in received.items():
                level.unexpected += sum(
                    1 for s, _ in hits if (upload_id, s) not in expected_statuses
                )
        level.wall = time.perf_counter() - wall0
        level.server_cpu = sum(s.cpu_seconds() for s in servers) - server_cpu0
        for clients in procs:
            level.client_cpu += await clients.call("cpu")
        await sender.close()
    finally:
        for clients in procs:
            with contextlib.suppress(Exception):
                await clients.call("close", timeout=20)
            clients.stop()


def summary(level: Level) -> dict[str, Any]:
    lat = level.latencies
    return {
        "n": level.subscribers,
        "samples": len(lat),
        "p50": percentile(lat, 50) if lat else float("nan"),
        "p99": percentile(lat, 99) if lat else float("nan"),
        "same_p50": percentile(level.same, 50) if level.same else float("nan"),
        "cross_p50": percentile(level.cross, 50) if level.cross else float("nan"),
        "resp_p50": percentile(level.responses, 50),
        "resp_p99": percentile(level.responses, 99),
    }


#: the sustained-rate criterion: the highest callback rate whose open-loop p99 stays within it
SUSTAINED_P99_NS = 50e6


def recipe_env(env: dict[str, str]) -> dict[str, str]:
    """The recipe's servers: the same environment, its own settings and URLs."""
    return {**env, "DJANGO_SETTINGS_MODULE": "bench.recipe_settings"}


def make_servers(env: dict[str, str], args: argparse.Namespace, system: str) -> list[UvicornServer]:
    app = "bench.recipe_asgi:application" if system == "recipe" else "config.asgi:application"
    return [
        UvicornServer(
            recipe_env(env) if system == "recipe" else env,
            name=f"{system}-{name}",
            app=app,
            extra_args=["--log-level", "warning", *args.server_args.split()],
        )
        for name in ("a", "b")
    ]


@dataclass
class Rung:
    rate: float
    level: Level
    p99_open: float  # ns

    @property
    def ok(self) -> bool:
        lv = self.level
        clean = not (lv.lost or lv.duplicated or lv.unexpected or lv.errors)
        return clean and self.p99_open <= SUSTAINED_P99_NS


async def sustained_rate(
    users: list[tuple[int, str]],
    servers: list[UvicornServer],
    args: argparse.Namespace,
    rng: random.Random,
    system: str,
) -> list[Rung]:
    """Raise the callback rate by half each rung, from ``--ladder-start``, until the open-loop
    p99 (from each callback's scheduled time, so a server that falls behind cannot hide it in
    the sender's connection queue) exceeds 50 ms or a push is lost or duplicated."""
    rungs: list[Rung] = []
    rate = args.ladder_start
    while rate <= args.ladder_max:
        level = Level(args.ladder_subscribers, args.ladder_rounds)
        paced = argparse.Namespace(**{**vars(args), "rate": rate, "pool": args.ladder_pool})
        await run_level(level, users, servers, paced, rng)
        rung = Rung(rate, level, percentile(level.open_loop, 99) if level.open_loop else 1e18)
        rungs.append(rung)
        log(
            f"  {system:6} {rate:6.0f} callbacks/s: open-loop p50 "
            f"{ms(percentile(level.open_loop, 50)) if level.open_loop else '-'} ms, p99 "
            f"{ms(rung.p99_open)} ms, lost {level.lost}, duplicated {level.duplicated}, "
            f"servers {level.server_cpu / max(level.wall, 1e-9):.2f} cores -> "
            f"{'ok' if rung.ok else 'over'}"
        )
        if not rung.ok:
            break
        rate = round(rate * 1.5)
    return rungs


def best_rate(rungs: list[Rung]) -> float:
    passed = [r.rate for r in rungs if r.ok]
    return max(passed) if passed else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,100,1000", help="subscriber counts")
    parser.add_argument("--rounds", default="200,10,5", help="rounds per level")
    parser.add_argument("--rate", type=float, default=100.0, help="callbacks per second")
    parser.add_argument("--pool", type=int, default=8, help="HTTP connections per server")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait for a round")
    parser.add_argument("--floor-samples", type=int, default=2000)
    parser.add_argument(
        "--floor-pushes", type=int, default=1000, help="pushes through the transport floor"
    )
    parser.add_argument(
        "--server-args", default="", help="extra uvicorn arguments, e.g. '--loop asyncio'"
    )
    parser.add_argument(
        "--systems", default="ours,recipe", help="ours and/or recipe (bench/recipe_app.py)"
    )
    parser.add_argument("--ladder-start", type=float, default=20.0, help="first rung, per s")
    parser.add_argument("--ladder-max", type=float, default=2000.0, help="last rung, per s")
    parser.add_argument("--ladder-subscribers", type=int, default=100)
    parser.add_argument("--ladder-rounds", type=int, default=3)
    parser.add_argument("--ladder-pool", type=int, default=32, help="connections per server")
    parser.add_argument("--quick", action="store_true", help="smoke run: few rounds, no report")
    parser.add_argument("--no-report", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    rounds = [int(x) for x in args.rounds.split(",")]
    systems = args.systems.split(",")
    if args.quick:
        rounds = [min(r, 20 if n == 1 else 1) for r, n in zip(rounds, levels, strict=True)]
        args.ladder_rounds, args.ladder_max = 1, args.ladder_start * 2.5
    rng = random.Random(args.seed)

    redis_server = RedisServer()
    redis_server.start()
    env = server_env(redis_server.url)
    fleets: dict[str, list[UvicornServer]] = {}
    results: dict[str, list[tuple[Level, dict[str, Any]]]] = {name: [] for name in systems}
    ladders: dict[str, list[Rung]] = {}
    try:
        log(f"database {DB_NAME}: create + migrate")
        create_database(env)
        django_setup(env)
        users = make_users(max([*levels, args.ladder_subscribers]))
        for system in systems:
            fleets[system] = make_servers(env, args, system)
            for server in fleets[system]:
                server.start()
            log(f"{system}: servers on ports {[s.port for s in fleets[system]]}")
            asyncio.run(warm_up(fleets[system], users))
        log(f"redis on {redis_server.port}")
        floor_before = redis_floor(redis_server.url, args.floor_samples)
        stat0 = cpu_stat()
        # The systems take turns level by level, so drift on the shared machine hits both.
        for n, r in zip(levels, rounds, strict=True):
            for system in systems:
                level = Level(n, r)
                log(f"{system}: {n} subscribers x {r} rounds at {args.rate:.0f} callbacks/s ...")
                asyncio.run(run_level(level, users, fleets[system], args, rng))
                s = summary(level)
                results[system].append((level, s))
                log(
                    f"  {n:>5} subscribers: p50 {ms(s['p50'])} ms  p99 {ms(s['p99'])} ms  "
                    f"(same server p50 {ms(s['same_p50'])}, cross p50 {ms(s['cross_p50'])}; "
                    f"callback response p50 {ms(s['resp_p50'])} p99 {ms(s['resp_p99'])}); "
                    f"{level.callbacks} callbacks, {level.expected} pushes expected, "
                    f"lost {level.lost}, duplicated {level.duplicated}, unexpected "
                    f"{level.unexpected}, not completed {level.not_completed}; client CPU "
                    f"{level.client_cpu:.1f} s, servers CPU {level.server_cpu:.1f} s over "
                    f"{level.wall:.1f} s"
                )
                for error in level.errors[:5]:
                    log(f"  error: {error}")
        stat1 = cpu_stat()
        busy = 100 * (1 - (stat1[1] - stat0[1]) / max(1, stat1[0] - stat0[0]))
        log(
            f"sustained rate: {args.ladder_subscribers} subscribers, rungs x1.5 from "
            f"{args.ladder_start:.0f}/s, open-loop p99 <= {SUSTAINED_P99_NS / 1e6:.0f} ms"
        )
        for system in systems:
            ladders[system] = asyncio.run(sustained_rate(users, fleets[system], args, rng, system))
        floor_after = redis_floor(redis_server.url, args.floor_samples)
        pacing = pg_pacing(args.rate)
        log("transport floor (bench/floor_app.py) ...")
        transport = asyncio.run(transport_floor(env, args, rng))
        refused: list[float] = []
        if "ours" in fleets:
            log("Django's floor (unsigned callbacks) ...")
            refused = asyncio.run(django_floor(fleets["ours"], args, random.Random(args.seed + 1)))
    finally:
        for fleet in fleets.values():
            for server in fleet:
                server.stop()
        redis_server.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        drop_database()
    floor = floor_before + floor_after
    f50, f99 = percentile(floor, 50), percentile(floor, 99)
    t = transport
    log(f"whole machine CPU busy during the levels: {busy:.0f} %")
    log(f"floor (redis-py PUBLISH → SUBSCRIBE): p50 {ms(f50)} ms  p99 {ms(f99)} ms")
    log(
        f"transport floor (HTTP → channel layer → websocket, no Django, no database): "
        f"p50 {ms(percentile(t.latencies, 50))} ms  p99 {ms(percentile(t.latencies, 99))} ms  "
        f"(same server p50 {ms(percentile(t.same, 50))}, cross p50 "
        f"{ms(percentile(t.cross, 50))}); {len(t.latencies)} pushes, lost {t.lost}"
    )
    if refused:
        log(
            f"Django's floor (unsigned callback → 401): response p50 "
            f"{ms(percentile(refused, 50))} ms  p99 {ms(percentile(refused, 99))} ms"
        )
    goals = goal_lines(results, ladders, t)
    for line in goals:
        log(line)
    if not (args.quick or args.no_report) and "ours" in results:
        body = report(results["ours"], args, f50, f99, busy, pacing, transport, refused)
        body += "\n\n" + comparison(results, ladders, args, goals)
        body += "\n\n" + push_summary(results, ladders)
        write_section("push_latency", body)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def push_summary(
    results: dict[str, list[tuple[Level, dict[str, Any]]]], ladders: dict[str, list[Rung]]
) -> str:
    """bench/compare.py's line: ours / recipe p99 at the largest level both measured, and the
    sustained rates; a key is left out when the recipe did not measure it."""
    pairs = []
    if "ours" in results and "recipe" in results:
        recipe_p99 = {lv.subscribers: s["p99"] for lv, s in results["recipe"] if lv.latencies}
        both = [(lv.subscribers, s["p99"]) for lv, s in results["ours"] if lv.latencies]
        both = [(n, p) for n, p in both if recipe_p99.get(n)]
        if both:
            n, p99 = max(both)
            pairs.append(f"p99={p99 / recipe_p99[n]:.2f}")
        ours_rate = best_rate(ladders.get("ours", []))
        recipe_rate = best_rate(ladders.get("recipe", []))
        if ours_rate and recipe_rate:
            pairs.append(f"rate={ours_rate / recipe_rate:.2f}")
    return f"<!-- push-summary {' '.join(pairs)} -->"


def goal_lines(
    results: dict[str, list[tuple[Level, dict[str, Any]]]],
    ladders: dict[str, list[Rung]],
    transport: Floor,
) -> list[str]:
    """The issue's goals, ours against the recipe and the transport floor, from this run."""
    if "ours" not in results or "recipe" not in results:
        return ["(goals need both systems: --systems ours,recipe)"]
    ours_level, ours = results["ours"][-1]
    _, recipe = results["recipe"][-1]
    t50 = percentile(transport.latencies, 50)
    p99 = ours["p99"] / recipe["p99"]
    ours_rate, recipe_rate = best_rate(ladders["ours"]), best_rate(ladders["recipe"])
    # Neither sustaining the first rung is no evidence either way: a miss, said so.
    rate = ours_rate / recipe_rate if recipe_rate else (float("inf") if ours_rate else 0.0)
    lost = sum(lv.lost for lv, _ in results["ours"]) + sum(r.level.lost for r in ladders["ours"])
    dup = sum(lv.duplicated for lv, _ in results["ours"]) + sum(
        r.level.duplicated for r in ladders["ours"]
    )
    n = ours_level.subscribers
    return [
        f"- p99 at {n:,} subscribers: ours {ms(ours['p99'])} ms, recipe {ms(recipe['p99'])} ms: "
        f"{p99:.2f}x (goal <= 0.5x: {verdict(p99 <= 0.5)}); p50 ours {ms(ours['p50'])} ms, "
        f"recipe {ms(recipe['p50'])} ms.",
        f"- sustained callback rate over two processes (open-loop p99 <= 50 ms, nothing lost): "
        f"ours {ours_rate:.0f}/s, recipe {recipe_rate:.0f}/s: {rate:.2f}x (goal >= 2x: "
        f"{verdict(rate >= 2)}).",
        f"- p50 at {n:,} subscribers against the transport floor ({ms(t50)} ms): "
        f"{ours['p50'] / t50:.2f}x (goal <= 3x: {verdict(ours['p50'] <= 3 * t50)}).",
        f"- ours lost {lost}, duplicated {dup} over every level and rung (goal 0 and 0: "
        f"{verdict(lost == 0 and dup == 0)}); recipe lost "
        f"{sum(lv.lost for lv, _ in results['recipe'])}, duplicated "
        f"{sum(lv.duplicated for lv, _ in results['recipe'])} at the levels.",
    ]


def comparison(
    results: dict[str, list[tuple[Level, dict[str, Any]]]],
    ladders: dict[str, list[Rung]],
    args: argparse.Namespace,
    goals: list[str],
) -> str:
    lines = [
        "### Against the Strawberry + Channels recipe",
        "",
        "The recipe (`bench/recipe_app.py`, `bench/recipe_asgi.py`) is what a team writes from "
        "the two projects' docs: Strawberry's stock `GraphQLWSConsumer` with "
        "`listen_to_channel`, `RedisChannelLayer`, Django's `ASGIHandler`, and a synchronous "
        "view that checks the signature, saves with the ORM and calls "
        "`async_to_sync(group_send)`. Same tables, sessions, callback bodies, two uvicorn "
        "processes, same Redis and PostgreSQL, same load; the two systems take turns level by "
        "level in one run.",
        "",
        "| system | subscribers | pushes | p50 ms | p99 ms | callback response p50 / p99 ms "
        "| lost | duplicated | servers' CPU per callback |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system, rows in results.items():
        for level, s in rows:
            lines.append(
                f"| {system} | {level.subscribers:,} | {len(level.latencies):,} | "
                f"{ms(s['p50'])} | {ms(s['p99'])} | {ms(s['resp_p50'])} / {ms(s['resp_p99'])} "
                f"| {level.lost} | {level.duplicated} | "
                f"{level.server_cpu / max(1, level.callbacks) * 1e3:.1f} ms |"
            )
    lines += [
        "",
        f"Sustained rate: {args.ladder_subscribers} subscribers, {args.ladder_rounds} rounds "
        f"per rung, rates x1.5 from {args.ladder_start:.0f}/s; latency counted from each "
        "callback's scheduled time (open loop).",
        "",
        "| system | rate /s | open-loop p50 ms | open-loop p99 ms | lost | servers' cores |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for system, rungs in ladders.items():
        for rung in rungs:
            lv = rung.level
            p50 = ms(percentile(lv.open_loop, 50)) if lv.open_loop else "—"
            lines.append(
                f"| {system} | {rung.rate:.0f} | {p50} | {ms(rung.p99_open)} | {lv.lost} | "
                f"{lv.server_cpu / max(lv.wall, 1e-9):.2f} |"
            )
    lines += ["", "Goals (this run):", "", *goals]
    return "\n".join(lines)


def report(
    results: list[tuple[Level, dict[str, Any]]],
    args: argparse.Namespace,
    f50: float,
    f99: float,
    busy: float,
    pacing: dict[str, tuple[float, float]],
    transport: Floor,
    refused: list[float],
) -> str:
    lines = [
        "## Push latency (`bench/push_latency.py`)",
        "",
        "Callback POST (first byte written) → the pushed `imageProcessed` message read by the "
        "subscriber's websocket client. Two uvicorn processes (`config.settings`, default "
        f"uvicorn flags{' + ' + args.server_args if args.server_args else ''}, access log off) "
        "on PostgreSQL and a private Redis through "
        "`RedisPubSubChannelLayer`; **N subscribers** = N websocket connections, half on each "
        "server, each with its own user/session and one `imageProcessed` subscription on its own "
        "upload; per round every upload gets `processing` then `succeeded` (PROCESSING and READY "
        f"pushed), {args.rate:.0f} callbacks/s, each sent to a random server (about half the "
        "pushes cross processes through Redis). Clients run in "
        f"{min(2, max(r.subscribers for r, _ in results))} separate processes. Floor: bare "
        "redis-py PUBLISH → SUBSCRIBE round trip on the same Redis, same run.",
        "",
        "| subscribers | pushes | p50 ms | p99 ms | p50 / floor | p99 / floor "
        "| same-server p50 | cross-server p50 | callback response p50 / p99 ms "
        "| lost | duplicated | client CPU per push |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level, s in results:
        per_push = level.client_cpu / max(1, len(level.latencies)) * 1e6
        lines.append(
            f"| {level.subscribers:,} | {len(level.latencies):,} | {ms(s['p50'])} | "
            f"{ms(s['p99'])} | {s['p50'] / f50:.0f}x | {s['p99'] / f99:.0f}x | "
            f"{ms(s['same_p50'])} | {ms(s['cross_p50'])} | "
            f"{ms(s['resp_p50'])} / {ms(s['resp_p99'])} | {level.lost} | {level.duplicated} | "
            f"{per_push:.0f} µs |"
        )
    t = transport
    t50, t99 = percentile(t.latencies, 50), percentile(t.latencies, 99)
    lines.append(
        f"| transport floor, 2 | {len(t.latencies):,} | {ms(t50)} | {ms(t99)} | "
        f"{t50 / f50:.0f}x | {t99 / f99:.0f}x | {ms(percentile(t.same, 50))} | "
        f"{ms(percentile(t.cross, 50))} | — | {t.lost} | — | — |"
    )
    callbacks = sum(level.callbacks for level, _ in results)
    lost = sum(level.lost for level, _ in results)
    dup = sum(level.duplicated for level, _ in results)
    unexpected = sum(level.unexpected for level, _ in results)
    top, s_top = results[-1]
    commit = pacing["INSERT + COMMIT"][1]
    r50, r99 = percentile(refused, 50), percentile(refused, 99)
    django = r50 - percentile(t.responses, 50)
    lines += [
        "",
        f"- Floor (redis-py PUBLISH → SUBSCRIBE): p50 {ms(f50)} ms, p99 {ms(f99)} ms.",
        f"- {callbacks:,} callbacks in all: {lost} pushes lost, {dup} duplicated, {unexpected} "
        "unexpected (a state nobody's callback applied).",
        f"- At {top.subscribers:,} subscribers: p50 {ms(s_top['p50'])} ms, p99 "
        f"{ms(s_top['p99'])} ms. The callback's response p50 is {ms(s_top['resp_p50'])} ms; "
        "the push is published before the response is written.",
        "- **Transport floor** (last row, `bench/floor_app.py`): the same hops with nothing in "
        "them — the sender's POST to a bare ASGI app on the same uvicorn, one `group_send` "
        "through the same channel layer and Redis, a plain websocket frame to a subscriber in "
        "another process; no Django, no database, no GraphQL; same rate, same random routing "
        f"over two servers, 2 subscribers. p50 {ms(t50)} ms, p99 {ms(t99)} ms. The product "
        f"adds {ms(s_top['p50'] - t50)} ms p50 to it at {top.subscribers:,} subscribers.",
        "- **Django's own floor** for the callback: the same sender posts unsigned callbacks "
        "to the same two servers at the same rate; Django's handler, middleware and the view "
        f"answer 401 before any database work in p50 {ms(r50)} ms, p99 {ms(r99)} ms, "
        f"{ms(django)} ms p50 more than the bare ASGI app's POST. A push that Django serves and "
        "that carries only committed state also waits for a commit (the paced "
        f"`INSERT + COMMIT` below, {ms(commit)} ms): its floor here is about "
        f"{ms(t50 + django + commit)} ms p50 (transport + Django + commit), before the state "
        "machine's own queries and the state's presigned image URLs.",
        f"- Machine: 2 cores shared by both servers, PostgreSQL, Redis, the client processes "
        f"and the sender; whole-machine CPU busy {busy:.0f} % during the levels (other work "
        "on the machine included). The two servers' CPU per callback (their share of "
        "subscribing and pushing included) and the cores it takes at this rate: "
        + "; ".join(
            f"{level.subscribers:,} subscribers {level.server_cpu / level.callbacks * 1e3:.1f} ms, "
            f"{level.server_cpu / level.wall:.2f} cores"
            for level, _ in results
        )
        + ". Where that nears the machine's free CPU, the latencies above are mostly queueing.",
        "- Pacing on this machine (a VM whose idle processes are slow to wake), same run: "
        + "; ".join(
            f"PostgreSQL `{name}` p50 {ms(tight)} ms back to back, {ms(paced)} ms at "
            f"{args.rate:.0f}/s"
            for name, (tight, paced) in pacing.items()
        )
        + ". A callback is one `sync_to_async` hop into the ORM state machine: in one "
        "`transaction.atomic()` the conditional UPDATE, the read back, the event row (on "
        "`succeeded` the image row first) and the nested block's savepoint, one round trip each, "
        "then the commit (`docs/realtime.md`).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
