"""The reliability suite's machinery: the whole pipeline as real processes, and browser-like
clients that drive it.

* :class:`Pipeline`: a bucket and a queue of its own on the suite's moto server (the S3 → SQS
  notification as on AWS, :func:`config.embedded.provision`), uvicorn processes of the bundled
  project (:class:`tests.live.AsgiServer`: the test database, a Redis channel layer) and
  ``manage.py asyncimg_worker`` processes (:class:`Worker`) calling back to them.
* :class:`Browser`: one user agent: a cookie jar (session, CSRF) for GraphQL over HTTP and one
  multiplexed ``graphql-transport-ws`` connection per server (:class:`Tab`).
* :func:`run_burst`: many uploads at once, each requested over HTTP, POSTed to moto and watched
  over a websocket until its subscription completes, recovering the way docs/realtime.md tells a
  client to (on a close or an error: reconnect, subscribe again; the first message is the current
  state). Every observation is kept in a :class:`Trace` for the tests to assert on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import requests
from websockets.asyncio.client import ClientConnection, connect

from config.embedded import provision
from tests.live import ROOT, AsgiServer, test_database_url

#: Seconds a subscription may wait for its upload to finish before the upload counts as stuck.
LIVENESS = float(os.environ.get("ASYNCIMG_RELIABILITY_LIVENESS", "90"))
#: Longer than the database pool's own wait for a connection (30 s), after which the server
#: answers anyway: a request still unanswered then is a hang.
HTTP_TIMEOUT = 45.0
SETTINGS = "tests.reliability.settings"

REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) { upload { id status } presignedPost { url fields } }
}
"""
WATCH = """
subscription($id: ID!) {
  imageProcessed(uploadId: $id) { id status error { code } image { id width } }
}
"""
#: progress order of the states, to check that a re-subscription never goes back in time
RANK = {"PENDING": 0, "UPLOADED": 1, "PROCESSING": 2, "READY": 3, "FAILED": 3, "EXPIRED": 3}
TERMINAL = frozenset({"READY", "FAILED", "EXPIRED"})


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


# --- processes ----------------------------------------------------------------------------------


class Worker:
    """``manage.py asyncimg_worker`` in its own process, on the pipeline's queue."""

    def __init__(self, env: dict[str, str], *, name: str) -> None:
        self.env = env
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (open for the process' life)
            prefix=f"asyncimg-{name}-", suffix=".log", delete=False
        )

    def start(self) -> None:
        args = [sys.executable, "manage.py", "asyncimg_worker", "--wait-time", "1"]
        args += ["--max-messages", "5"]
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the worker polls (it prints ``Polling <queue>`` once built)."""
        deadline = time.monotonic() + timeout
        while "Polling " not in self.output():
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} not polling after {timeout} s")
            time.sleep(0.05)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, the message in hand stays in flight."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # finishes the message in hand, prints its counts
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")


def kill_server(server: AsgiServer) -> None:
    """SIGKILL an ASGI server: its websockets and requests in progress are cut."""
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    server.process = None


@dataclass
class Pipeline:
    """A bucket and a queue of their own, ``servers`` uvicorn processes and ``workers`` worker
    processes (worker ``i`` calls back to server ``i % servers``). Use as a context manager:
    every process is stopped on the way out, whatever happened."""

    moto_url: str
    redis_url: str
    servers: int = 2
    workers: int = 2
    #: short, so that a message whose worker died comes back soon
    visibility_timeout: int = 10
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = f"rel-{uuid.uuid4().hex[:10]}"
        self.provisioned = provision(
            self.moto_url, bucket=name, queue=name, origins=["http://127.0.0.1"], prefix="temp/"
        )
        self.bucket = self.provisioned.bucket
        self.queue_url = self.provisioned.queue_url
        self.sqs = boto3.client("sqs", endpoint_url=self.moto_url, region_name="us-east-1")
        self.s3 = boto3.client("s3", endpoint_url=self.moto_url, region_name="us-east-1")
        self.sqs.set_queue_attributes(
            QueueUrl=self.queue_url,
            Attributes={"VisibilityTimeout": str(self.visibility_timeout)},
        )
        common = {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "ASYNC_IMAGE_UPLOAD_BUCKET": self.bucket,
            "ASYNC_IMAGE_UPLOAD_ENDPOINT_URL": self.moto_url,
            "ASYNC_IMAGE_UPLOAD_QUEUE_URL": self.queue_url,
            # Several servers share the database server with other suites: small pools.
            "DATABASE_POOL_SIZE": "8",
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        self.asgi = [
            AsgiServer(self.redis_url, name=f"{name}-asgi{i}", env=dict(common))
            for i in range(self.servers)
        ]
        self._common = common
        self.worker_list = [self.new_worker(i) for i in range(self.workers)]

    def new_worker(self, index: int) -> Worker:
        """A worker (not started) calling back to server ``index % servers``."""
        server = self.asgi[index % len(self.asgi)]
        env = {
            **os.environ,
            **self._common,
            "DATABASE_URL": test_database_url(),
            "ASYNCIMG_TEST_REDIS_LAYER": self.redis_url,
            "ASYNC_IMAGE_UPLOAD_CALLBACK_URL": f"{server.url}/async_image/callback/",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'lambda'}",
        }
        return Worker(env, name=f"{server.name}-worker{index}")

    def start(self) -> None:
        # In parallel: each process spends a second or two importing Django and the schema.
        with ThreadPoolExecutor(len(self.asgi) + len(self.worker_list)) as pool:
            starting = [pool.submit(server.start) for server in self.asgi]
            for worker in self.worker_list:
                worker.start()
            for future in starting:
                future.result()
            for worker in self.worker_list:
                worker.wait_ready()

    def stop(self) -> None:
        for worker in self.worker_list:
            with contextlib.suppress(Exception):
                worker.stop()
        for server in self.asgi:
            with contextlib.suppress(Exception):
                server.stop()

    def __enter__(self) -> Pipeline:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None:
            # After a failure the logs stay (asyncimg-<name>-*.log in the temporary directory).
            for log in [s.log for s in self.asgi] + [w.log for w in self.worker_list]:
                with contextlib.suppress(OSError):
                    os.unlink(log.name)

    def logs(self) -> str:
        """Every process' output, for a failing assertion's message."""
        parts = [f"--- {s.name}\n{s.output()[-4000:]}" for s in self.asgi]
        parts += [f"--- {w.name}\n{w.output()[-4000:]}" for w in self.worker_list]
        return "\n".join(parts)

    def queue_depth(self) -> tuple[int, int]:
        """(visible, in flight) messages of the queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def dead_letters(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.provisioned.dead_letter_queue_url,
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [str(o["Key"]) for page in pages for o in page.get("Contents", [])]


# --- clients -------------------------------------------------------------------------------------

#: put into a subscription's queue when its connection is gone
CLOSED: dict[str, Any] = {"type": "__closed__"}


class Tab:
    """One ``graphql-transport-ws`` connection carrying many subscriptions: a reader task hands
    each message to its operation's queue (and answers pings)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.closed = False
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, server: AsgiServer, cookies: str) -> Tab:
        ws = await asyncio.wait_for(
            connect(
                server.ws_url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                additional_headers={"Origin": server.url, "Cookie": cookies},
                open_timeout=HTTP_TIMEOUT,
                max_queue=None,
            ),
            HTTP_TIMEOUT,
        )
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), HTTP_TIMEOUT))
        if ack.get("type") != "connection_ack":
            await ws.close()
            raise ConnectionError(f"no connection_ack: {ack}")
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                    continue
                queue = self.queues.get(message.get("id", ""))
                if queue is not None:
                    queue.put_nowait(message)
        except Exception:  # noqa: S110 - a cut connection ends the reader either way
            pass
        finally:
            self.closed = True
            for queue in self.queues.values():
                queue.put_nowait(CLOSED)

    async def subscribe(self, op_id: str, upload_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.queues[op_id] = queue
        if self.closed:
            queue.put_nowait(CLOSED)
            return queue
        payload = {"query": WATCH, "variables": {"id": upload_id}}
        try:
            await self.ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
        except Exception:
            queue.put_nowait(CLOSED)
        return queue

    async def unsubscribe(self, op_id: str, *, notify: bool = True) -> None:
        self.queues.pop(op_id, None)
        if notify and not self.closed:
            with contextlib.suppress(Exception):
                await self.ws.send(json.dumps({"id": op_id, "type": "complete"}))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader


@dataclass
class HttpFailure:
    """A GraphQL request over HTTP that did not give a ticket: what came back instead."""

    kind: str  # "status" (an HTTP error status), "errors" (GraphQL errors), "connection", "timeout"
    status: int | None = None
    codes: list[str | None] = field(default_factory=list)
    detail: str = ""


@dataclass
class Trace:
    """Everything one upload's client saw."""

    index: int
    filename: str
    browser: int
    upload_id: str | None = None
    started: float = 0.0
    posted: float = 0.0
    finished: float | None = None
    #: statuses received, one list per subscription made for this upload (in order)
    subscriptions: list[list[str]] = field(default_factory=list)
    #: the server index of each subscription
    servers: list[int] = field(default_factory=list)
    #: how each subscription ended: "complete", "closed", "stalled", "error"
    endings: list[str] = field(default_factory=list)
    #: GraphQL errors received on subscriptions, as (code, message)
    subscription_errors: list[tuple[str | None, str]] = field(default_factory=list)
    http_failures: list[HttpFailure] = field(default_factory=list)
    #: seconds each ``requestImageUpload`` attempt took to answer (or fail)
    request_seconds: list[float] = field(default_factory=list)

    @property
    def final(self) -> str | None:
        for statuses in reversed(self.subscriptions):
            if statuses:
                return statuses[-1]
        return None

    @property
    def ready_count(self) -> int:
        return sum(s.count("READY") for s in self.subscriptions)


class Browser:
    """A user agent with a cookie jar shared by both servers (cookies are per host, not per port,
    as behind one load-balanced origin) and a websocket per server, opened when first needed."""

    def __init__(self, index: int, servers: list[AsgiServer], session_key: str | None) -> None:
        self.index = index
        self.servers = servers
        self.http = requests.Session()
        # Django accepts an unmasked 32-character secret in the cookie and the header alike;
        # a page would have set the cookie, and the client would echo it.
        self.csrf = secrets.token_hex(16)
        self.http.cookies.set("csrftoken", self.csrf)
        if session_key:
            self.http.cookies.set("sessionid", session_key)
        self.home = index % len(servers)
        self.tabs: dict[int, Tab] = {}
        self._tab_locks: dict[int, asyncio.Lock] = {}

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    def graphql(self, server: AsgiServer, query: str, variables: dict[str, Any]) -> Any:
        return self.http.post(
            f"{server.url}/graphql/",
            json={"query": query, "variables": variables},
            headers={"X-CSRFToken": self.csrf},
            timeout=HTTP_TIMEOUT,
        )

    async def tab(self, index: int) -> Tab:
        lock = self._tab_locks.setdefault(index, asyncio.Lock())
        async with lock:
            tab = self.tabs.get(index)
            if tab is None or tab.closed:
                if tab is not None:
                    await tab.close()
                tab = await Tab.open(self.servers[index], self.cookie_header())
                self.tabs[index] = tab
            return tab

    async def close(self) -> None:
        for tab in self.tabs.values():
            await tab.close()
        self.http.close()


def classify(response: requests.Response) -> tuple[dict[str, Any] | None, HttpFailure | None]:
    """A ticket, or why there is none."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and not body.get("errors"):
        return body["data"]["requestImageUpload"], None
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        codes = [(e.get("extensions") or {}).get("code") for e in body["errors"]]
        kind = "errors" if response.status_code == 200 else "status"
        return None, HttpFailure(kind, response.status_code, codes, response.text[:300])
    return None, HttpFailure("status", response.status_code, [], response.text[:300])


def request_upload(
    browser: Browser, server: AsgiServer, filename: str, size: int
) -> dict[str, Any]:
    """``requestImageUpload`` for one JPEG; the ticket (``upload``, ``presignedPost``)."""
    variables = {"input": {"filename": filename, "contentType": "image/jpeg", "size": size}}
    ticket, failure = classify(browser.graphql(server, REQUEST, variables))
    assert ticket is not None, failure
    return ticket


def post_to_storage(ticket: dict[str, Any], filename: str, data: bytes) -> None:
    """The browser's multipart POST of the file to the presigned URL."""
    post = ticket["presignedPost"]
    response = requests.post(
        post["url"],
        data=post["fields"],
        files={"file": (filename, data, "image/jpeg")},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 204, response.text


async def next_status(queue: asyncio.Queue[dict[str, Any]], timeout: float = LIVENESS) -> Any:
    """The next ``imageProcessed`` of a subscription (a dict), or ``"complete"``."""
    message = await asyncio.wait_for(queue.get(), timeout)
    if message.get("type") == "complete":
        return "complete"
    assert message.get("type") == "next", message
    assert not message["payload"].get("errors"), message
    return message["payload"]["data"]["imageProcessed"]


@dataclass
class BurstOptions:
    #: uploads in flight at once
    concurrency: int = 16
    #: re-subscribe when a subscription has been silent this long (None: wait until LIVENESS)
    resubscribe_after: float | None = None
    #: (number of READY uploads, action): each action runs once, when that many are READY
    faults: Sequence[tuple[int, Callable[[], Awaitable[Any]]]] = ()
    #: seconds between attempts of a failed request, and attempts at most
    retry_delay: float = 0.3
    attempts: int = 40


@dataclass
class BurstResult:
    traces: list[Trace]
    wall: float
    fault_results: list[Any]

    def latencies(self) -> list[float]:
        """Seconds from the end of the storage POST to READY on the subscription."""
        return sorted(
            t.finished - t.posted for t in self.traces if t.finished is not None and t.posted
        )


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def run_burst(
    servers: list[AsgiServer],
    browsers: list[Browser],
    image: bytes,
    count: int,
    options: BurstOptions | None = None,
) -> BurstResult:
    """``count`` uploads, round-robin over ``browsers``, ``options.concurrency`` at a time."""
    options = options or BurstOptions()
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(options.concurrency + 4, thread_name_prefix="burst-http")
    ready = 0
    pending_faults = sorted(options.faults, key=lambda f: f[0])
    fault_tasks: list[asyncio.Task[Any]] = []
    op_ids = itertools.count()
    gate = asyncio.Semaphore(options.concurrency)
    tag = uuid.uuid4().hex[:6]

    def fire_faults() -> None:
        while pending_faults and ready >= pending_faults[0][0]:
            _, action = pending_faults.pop(0)
            fault_tasks.append(asyncio.ensure_future(action()))

    async def http(func: Callable[[], Any]) -> Any:
        return await loop.run_in_executor(pool, func)

    async def request_ticket(trace: Trace, browser: Browser) -> dict[str, Any]:
        variables = {
            "input": {"filename": trace.filename, "contentType": "image/jpeg", "size": len(image)}
        }
        for _ in range(options.attempts):
            server = browser.servers[browser.home]
            began = time.monotonic()
            try:
                response = await http(partial(browser.graphql, server, REQUEST, variables))
            except requests.Timeout as exc:
                trace.http_failures.append(HttpFailure("timeout", detail=str(exc)[:300]))
                browser.home = (browser.home + 1) % len(browser.servers)
                continue
            except requests.ConnectionError as exc:
                # The server is gone: the client's next try goes to the other one. The same
                # file again inside the reuse window gets the same upload back, if it was made.
                trace.http_failures.append(HttpFailure("connection", detail=str(exc)[:300]))
                browser.home = (browser.home + 1) % len(browser.servers)
                await asyncio.sleep(options.retry_delay)
                continue
            finally:
                trace.request_seconds.append(time.monotonic() - began)
            ticket, failure = classify(response)
            if ticket is not None:
                return ticket
            assert failure is not None
            trace.http_failures.append(failure)
            await asyncio.sleep(options.retry_delay)
        raise RuntimeError(f"upload {trace.index}: no ticket after {options.attempts} attempts")

    async def post_file(trace: Trace, ticket: dict[str, Any]) -> None:
        for _ in range(options.attempts):
            try:
                await http(partial(post_to_storage, ticket, trace.filename, image))
            except requests.RequestException:
                await asyncio.sleep(options.retry_delay)
                continue
            return
        raise RuntimeError(f"upload {trace.index}: storage POST kept failing")

    async def watch(trace: Trace, browser: Browser) -> None:
        assert trace.upload_id is not None
        deadline = trace.started + LIVENESS
        server_index = random.randrange(len(servers))
        while time.monotonic() < deadline:
            try:
                tab = await browser.tab(server_index)
            except Exception:
                # This server refuses or is gone: the other one, after a pause.
                server_index = (server_index + 1) % len(servers)
                await asyncio.sleep(options.retry_delay)
                continue
            op_id = f"{tag}-{next(op_ids)}"
            queue = await tab.subscribe(op_id, trace.upload_id)
            statuses: list[str] = []
            trace.subscriptions.append(statuses)
            trace.servers.append(server_index)
            ending = await _follow(trace, queue, statuses, deadline, options.resubscribe_after)
            trace.endings.append(ending)
            # The server ended a completed or failed operation itself; a stalled one is ended.
            await tab.unsubscribe(op_id, notify=ending == "stalled")
            if ending == "complete":
                return
            if ending == "closed":
                server_index = (server_index + 1) % len(servers)
            await asyncio.sleep(options.retry_delay)

    async def one(index: int) -> Trace:
        nonlocal ready
        browser = browsers[index % len(browsers)]
        trace = Trace(index, f"burst-{tag}-{index:05d}.jpg", browser.index)
        async with gate:
            trace.started = time.monotonic()
            ticket = await request_ticket(trace, browser)
            trace.upload_id = ticket["upload"]["id"]
            await post_file(trace, ticket)
            trace.posted = time.monotonic()
            await watch(trace, browser)
        if trace.final == "READY":
            ready += 1
            fire_faults()
        return trace

    started = time.monotonic()
    try:
        # Anonymous browsers get their session from their first mutation: one first request
        # each, before the others run concurrently with the same cookie.
        firsts = await asyncio.gather(*(one(i) for i in range(min(len(browsers), count))))
        rest = await asyncio.gather(*(one(i) for i in range(len(firsts), count)))
        traces = [*firsts, *rest]
        wall = time.monotonic() - started
        results = await asyncio.gather(*fault_tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        for _, action in pending_faults:  # never reached their threshold: say so
            raise AssertionError(f"fault {action} did not run")
        return BurstResult(traces, wall, list(results))
    finally:
        for task in fault_tasks:
            task.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


async def _follow(
    trace: Trace,
    queue: asyncio.Queue[dict[str, Any]],
    statuses: list[str],
    deadline: float,
    resubscribe_after: float | None,
) -> str:
    """Read one subscription until it completes, its connection closes, it errs or stalls."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "stalled"
        wait = min(remaining, resubscribe_after) if resubscribe_after else remaining
        try:
            message = await asyncio.wait_for(queue.get(), wait)
        except TimeoutError:
            return "stalled"
        kind = message.get("type")
        if kind == CLOSED["type"]:
            return "closed"
        if kind == "complete":
            # Completed before a final state: it ended on an error (the client subscribes again).
            return "complete" if statuses and statuses[-1] in TERMINAL else "error"
        if kind == "error":
            for error in message.get("payload") or []:
                code = (error.get("extensions") or {}).get("code")
                trace.subscription_errors.append((code, str(error.get("message"))[:200]))
            return "error"
        if kind == "next":
            payload = message.get("payload") or {}
            for error in payload.get("errors") or []:
                code = (error.get("extensions") or {}).get("code")
                trace.subscription_errors.append((code, str(error.get("message"))[:200]))
            data = (payload.get("data") or {}).get("imageProcessed")
            if data is None:
                continue  # an error instead of data; "complete" follows
            statuses.append(data["status"])
            if data["status"] == "READY":
                trace.finished = time.monotonic()


def summary(result: BurstResult) -> str:
    latencies = result.latencies()
    failures = sum(len(t.http_failures) for t in result.traces)
    resubscribed = sum(1 for t in result.traces if len(t.subscriptions) > 1)
    slowest = max((s for t in result.traces for s in t.request_seconds), default=0.0)
    return (
        f"{len(result.traces)} uploads in {result.wall:.1f} s "
        f"({len(result.traces) / result.wall:.1f}/s); POST done → READY "
        f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"max {max(latencies, default=float('nan')) * 1000:.0f} ms; "
        f"slowest requestImageUpload {slowest * 1000:.0f} ms; "
        f"{failures} failed HTTP attempts, {resubscribed} uploads re-subscribed"
    )


# --- what every burst must leave behind ----------------------------------------------------------


def assert_every_upload_ready_once(result: BurstResult, count: int) -> list[str]:
    """The client side of a burst: every upload's subscriptions ended with one READY in all, the
    last one completed, and a subscription never started behind what an earlier one had shown
    (each starts with the current state). Returns the upload ids."""
    traces = result.traces
    assert len(traces) == count
    ids = [t.upload_id for t in traces]
    assert None not in ids
    assert len(set(ids)) == count, "two uploads got the same upload (reuse window?)"
    problems = {}
    for trace in traces:
        seen = [s for s in trace.subscriptions if s]
        reasons = []
        if trace.final != "READY":
            reasons.append("not READY")
        if trace.ready_count != 1:
            reasons.append(f"{trace.ready_count} READY")
        if not trace.endings or trace.endings[-1] != "complete":
            reasons.append("last subscription did not complete")
        flat = [RANK[status] for statuses in seen for status in statuses]
        if flat != sorted(flat):
            reasons.append("went back in time")
        if any(
            not statuses
            for statuses, end in zip(trace.subscriptions, trace.endings, strict=True)
            if end == "complete"
        ):
            reasons.append("a completed subscription sent no state")
        if reasons:
            problems[trace.upload_id] = (reasons, trace.subscriptions, trace.endings)
    assert problems == {}
    return [str(i) for i in ids]


def assert_database_ready(ids: list[str]) -> None:
    """The database side: exactly these uploads, each READY with an image of its own, one
    applied ``succeeded`` callback each."""
    from collections import Counter

    from asyncimg.models import CallbackEvent, ProcessedImage, Upload, UploadStatus

    assert sorted(str(pk) for pk in Upload.objects.values_list("pk", flat=True)) == sorted(ids)
    statuses = Counter(Upload.objects.values_list("status", flat=True))
    assert statuses == {UploadStatus.READY: len(ids)}
    image_ids = list(Upload.objects.values_list("image_id", flat=True))
    assert None not in image_ids
    assert len(set(image_ids)) == len(ids)
    assert ProcessedImage.objects.count() == len(ids)
    succeeded = Counter(
        CallbackEvent.objects.filter(event="succeeded").values_list("upload_id", flat=True)
    )
    assert len(succeeded) == len(ids)
    assert set(succeeded.values()) == {1}
