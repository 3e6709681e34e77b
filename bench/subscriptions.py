"""Subscriptions at scale: many open ``imageProcessed`` subscriptions on one server process.

Run: ``.venv/bin/python bench/subscriptions.py [--subscriptions 10000]`` (a few minutes;
``--quick`` for a smoke run with 500).

What runs (all on 127.0.0.1, started and stopped by this script): the PostgreSQL database and
private Redis of ``bench/push_latency.py`` (its helpers, same settings), then in turn

* **bare**: ``uvicorn bench.bare_ws_app:application``, a websocket app with nothing in it (it
  echoes each frame), the floor of what a websocket costs this uvicorn;
* **ours**: ONE ``uvicorn config.asgi:application`` process on the production settings.

Against each, ``--clients`` client processes open the connections with up to ``--concurrency``
handshakes in flight per process. For ours one connection is a browser's: websocket handshake
with the session cookie, ``connection_init`` → ``connection_ack``, ``subscribe`` to
``imageProcessed`` on its own PENDING upload → the first state (PENDING). For bare: the handshake
and two echoed frames (the same round trips). All uploads belong to one logged-in user (a session
per subscription would measure session creation, not subscriptions).

Reported: the server's RSS (``VmRSS``) before and with everything open, per connection; the open
rate (connections fully open per second of wall time, first handshake to last first state);
then, with every subscription still open, push latency: ``--pushes`` signed ``processing``
callbacks at ``--rate`` per second to random uploads, callback POST → the pushed state read by
the client. The file descriptor limit is raised to its hard limit for this process and its
children. Results go to the ``subscriptions`` section of docs/benchmarks.md.
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
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

import bench.push_latency  # noqa: E402
from bench._report import percentile, write_section  # noqa: E402
from bench._support import RedisServer, UvicornServer  # noqa: E402
from bench.push_latency import (  # noqa: E402
    SUBSCRIBE,
    Sender,
    create_database,
    django_setup,
    drop_database,
    make_uploads,
    make_users,
    server_env,
)

DEADLINE = 60.0
# A database of its own (push_latency's helpers read the name at call time): the two scripts
# may run at the same time without dropping each other's.
bench.push_latency.DB_NAME = "asyncimg_bench_subscriptions"
#: goals of issue 16
MEMORY_GOAL = 1.3
RATE_GOAL = 1000.0


def log(message: str) -> None:
    print(message, flush=True)


def raise_fd_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE to the hard limit (inherited by the servers and clients)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(f"need {needed} file descriptors, the hard limit is {hard}")
    return target


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# --- client processes ----------------------------------------------------------------------------


def client_process(conn: Any, ws_url: str, origin: str, cookie: str, bare: bool) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_client_main(conn, ws_url, origin, cookie, bare))


async def _client_main(conn: Any, ws_url: str, origin: str, cookie: str, bare: bool) -> None:
    from websockets.asyncio.client import connect

    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []
    receipts: dict[str, list[tuple[str, int]]] = defaultdict(list)
    errors: list[str] = []
    opened: list[str] = []

    async def reader(ws: Any, upload_id: str) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                now = time.perf_counter_ns()
                message = json.loads(raw)
                if message.get("type") == "next":
                    status = message["payload"]["data"]["imageProcessed"]["status"]
                    receipts[upload_id].append((status, now))
                elif message.get("type") == "ping":
                    await ws.send('{"type":"pong"}')

    async def open_one(upload_id: str) -> None:
        ws = await connect(
            ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            additional_headers={"Origin": origin, "Cookie": cookie},
            max_queue=None,
            ping_interval=None,
            open_timeout=DEADLINE,
        )
        await ws.send('{"type":"connection_init","payload":{}}')
        ack = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
        if not bare and ack["type"] != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        subscribe = {
            "id": upload_id,
            "type": "subscribe",
            "payload": {"query": SUBSCRIBE, "variables": {"id": upload_id}},
        }
        await ws.send(json.dumps(subscribe))
        raw = await asyncio.wait_for(ws.recv(), DEADLINE)
        first = json.loads(raw)
        data = (first.get("payload") or {}).get("data") if first.get("type") == "next" else None
        if not bare and (data or {}).get("imageProcessed", {}).get("status") != "PENDING":
            raise RuntimeError(f"first message {str(raw)[:200]}")
        sockets.append(ws)
        opened.append(upload_id)
        readers.append(asyncio.create_task(reader(ws, upload_id)))

    loop = asyncio.get_running_loop()
    while True:
        command, arg = await loop.run_in_executor(None, conn.recv)
        if command == "open":
            uploads, concurrency = arg
            sem = asyncio.Semaphore(concurrency)

            async def guarded(upload_id: str, sem: asyncio.Semaphore = sem) -> None:
                async with sem:
                    try:
                        await open_one(upload_id)
                    except Exception as exc:
                        errors.append(f"{type(exc).__name__}: {exc}"[:300])

            cpu0 = time.process_time()
            t0 = time.perf_counter_ns()
            await asyncio.gather(*(guarded(u) for u in uploads))
            t1 = time.perf_counter_ns()
            conn.send(
                (t0, t1, len(sockets), errors[:5], len(errors), time.process_time() - cpu0, opened)
            )
        elif command == "collect":
            await asyncio.sleep(arg)
            conn.send(dict(receipts))
        elif command == "close":
            for task in readers:
                task.cancel()
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
            conn.send("closed")
            return


class Clients:
    def __init__(self, server: UvicornServer, cookie: str, bare: bool) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=client_process,
            args=(child, server.ws_url, server.url, cookie, bare),
            daemon=True,
        )
        self.process.start()

    async def call(self, command: str, arg: Any = None, timeout: float = 600) -> Any:
        self.conn.send((command, arg))
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self.conn.poll, timeout):
            raise RuntimeError(f"client process did not answer {command!r} in {timeout} s")
        return self.conn.recv()

    def stop(self) -> None:
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()


async def written(path: Path) -> None:
    """Wait until the traced server wrote ``path`` (a snapshot of a big heap takes a while)."""
    deadline = time.monotonic() + 300
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the traced server did not write {path}")
        await asyncio.sleep(0.5)


# --- one system ----------------------------------------------------------------------------------


async def measure(
    name: str,
    server: UvicornServer,
    uploads: list[str],
    cookie: str,
    args: argparse.Namespace,
    rng: random.Random,
) -> dict[str, Any]:
    bare = name == "bare"
    assert server.process is not None
    pid = server.process.pid
    procs = [Clients(server, cookie, bare) for _ in range(args.clients)]
    out: dict[str, Any] = {"name": name}
    try:
        # Warm-up: imports, first queries, caches; then closed again.
        warm = procs[0]
        await warm.call("open", (uploads[: args.warm], 10))
        await warm.call("close")
        warm.stop()
        procs[0] = Clients(server, cookie, bare)
        await asyncio.sleep(1.0)
        if args.tracemalloc and not bare:
            os.kill(pid, signal.SIGUSR1)  # the baseline snapshot
            await written(Path(args.tracemalloc).with_suffix(".baseline"))
        rss0 = rss_kb(pid)
        cpu0 = server.cpu_seconds()
        todo = uploads[args.warm : args.warm + args.subscriptions]
        shares = [todo[k :: args.clients] for k in range(args.clients)]
        answers = await asyncio.gather(
            *(
                p.call("open", (share, args.concurrency))
                for p, share in zip(procs, shares, strict=True)
            )
        )
        t0 = min(a[0] for a in answers)
        t1 = max(a[1] for a in answers)
        opened = sum(a[2] for a in answers)
        out["errors"] = [e for a in answers for e in a[3]]
        out["failed"] = sum(a[4] for a in answers)
        out["client_cpu"] = sum(a[5] for a in answers)
        out["server_cpu"] = server.cpu_seconds() - cpu0
        out["opened"] = opened
        # Pushes go only to subscriptions that opened: a failed open is counted as failed, not
        # as a lost push.
        live = [u for a in answers for u in a[6]]
        out["wall"] = (t1 - t0) / 1e9
        out["rate"] = opened / out["wall"]
        await asyncio.sleep(2.0)
        out["rss0_kb"] = rss0
        out["rss1_kb"] = rss_kb(pid)
        out["per_conn_kb"] = (out["rss1_kb"] - rss0) / max(1, opened)
        if args.tracemalloc and not bare:
            os.kill(pid, signal.SIGUSR1)
            await written(Path(args.tracemalloc))
            out["tracemalloc"] = Path(args.tracemalloc).read_text()
            probe = (
                "yappi, CPU while opening (share inclusive, own, calls, where)"
                if args.profile
                else "tracemalloc, growth with all open (bytes, blocks, where)"
            )
            log(f"  {probe}:\n{out['tracemalloc']}")
        log(
            f"{name}: {opened:,} open in {out['wall']:.1f} s = {out['rate']:.0f}/s "
            f"({out['failed']} failed); RSS {rss0 / 1024:.0f} → {out['rss1_kb'] / 1024:.0f} MB = "
            f"{out['per_conn_kb']:.1f} KB per connection; server CPU {out['server_cpu']:.1f} s, "
            f"clients' CPU {out['client_cpu']:.1f} s"
        )
        for error in out["errors"]:
            log(f"  error: {error}")
        if not bare:
            out["push"] = await pushes(server, live, procs, args, rng)
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                await p.call("close", timeout=120)
            p.stop()
    return out


async def pushes(
    server: UvicornServer,
    uploads: list[str],
    procs: list[Clients],
    args: argparse.Namespace,
    rng: random.Random,
) -> dict[str, Any]:
    """``processing`` callbacks to random open subscriptions, at a fixed rate."""
    sender = Sender([server], 8)
    await sender.open()
    targets = rng.sample(uploads, min(args.pushes, len(uploads)))
    sent: dict[str, int] = {}
    interval = 1.0 / args.rate

    async def fire(upload_id: str) -> None:
        t0, _rtt, body = await sender.send(0, upload_id, "processing")
        if body.get("status") == "applied":
            sent[upload_id] = t0

    start = time.perf_counter()
    tasks = []
    for k, upload_id in enumerate(targets):
        delay = start + k * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(upload_id)))
    await asyncio.gather(*tasks)
    await sender.close()
    receipts: dict[str, list[tuple[str, int]]] = {}
    for p in procs:
        receipts.update(await p.call("collect", 3.0))
    latencies, lost, duplicated = [], 0, 0
    for upload_id, t0 in sent.items():
        hits = [t for status, t in receipts.get(upload_id, []) if status == "PROCESSING"]
        if not hits:
            lost += 1
            continue
        duplicated += len(hits) - 1
        latencies.append(hits[0] - t0)
    result = {"latencies": latencies, "lost": lost, "duplicated": duplicated, "sent": len(sent)}
    if latencies:
        log(
            f"  push with all open: {len(latencies)} pushes, p50 "
            f"{percentile(latencies, 50) / 1e6:.2f} ms, "
            f"p99 {percentile(latencies, 99) / 1e6:.2f} ms, "
            f"lost {lost}, duplicated {duplicated}"
        )
    return result


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes per process")
    parser.add_argument("--warm", type=int, default=50, help="connections opened first, unmeasured")
    parser.add_argument("--pushes", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0, help="callbacks per second")
    parser.add_argument("--quick", action="store_true", help="500 subscriptions, no report")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--tracemalloc",
        metavar="FILE",
        help="serve ours under tracemalloc (bench/traced_asgi.py); write its growth to FILE",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="serve ours under yappi (bench/traced_asgi.py): CPU by function while opening",
    )
    args = parser.parse_args()
    if args.quick:
        args.subscriptions, args.pushes = 500, 100
    if args.profile:
        # The same probe, measuring CPU by function instead of memory (bench/traced_asgi.py).
        args.tracemalloc = args.profile
    if args.tracemalloc:
        for stale in (Path(args.tracemalloc), Path(args.tracemalloc).with_suffix(".baseline")):
            stale.unlink(missing_ok=True)
    # Per process: the server holds every connection (plus its database and Redis sockets);
    # each client process holds its share.
    limit = raise_fd_limit(args.subscriptions + 1000)
    log(f"file descriptor limit {limit}")
    rng = random.Random(args.seed)
    redis_server = RedisServer()
    redis_server.start()
    env = server_env(redis_server.url)
    results: dict[str, dict[str, Any]] = {}
    try:
        create_database(env)
        django_setup(env)
        ((user_id, session),) = make_users(1)
        uploads = make_uploads([user_id] * (args.subscriptions + args.warm))
        cookie = f"sessionid={session}"
        ours_app = (
            "bench.traced_asgi:application" if args.tracemalloc else "config.asgi:application"
        )
        for name, app in (("bare", "bench.bare_ws_app:application"), ("ours", ours_app)):
            traced = {
                **env,
                "BENCH_TRACEMALLOC_OUT": args.tracemalloc or "",
                "BENCH_PROBE": "profile" if args.profile else "",
            }
            server = UvicornServer(
                traced, name=f"subs-{name}", app=app, extra_args=["--log-level", "warning"]
            )
            server.start()
            try:
                results[name] = asyncio.run(measure(name, server, uploads, cookie, args, rng))
            finally:
                server.stop()
    finally:
        redis_server.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        drop_database()
    goals = goal_lines(results)
    for line in goals:
        log(line)
    if not (args.quick or args.no_report):
        write_section("subscriptions", report(results, args, goals))


def goal_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    ours, bare = results["ours"], results["bare"]
    memory = ours["per_conn_kb"] / bare["per_conn_kb"]
    push = ours.get("push", {})
    lat = push.get("latencies") or [float("nan")]
    return [
        f"- memory per subscription: ours {ours['per_conn_kb']:.1f} KB, bare uvicorn websocket "
        f"{bare['per_conn_kb']:.1f} KB per connection: {memory:.2f}x (goal <= {MEMORY_GOAL}x: "
        f"{verdict(memory <= MEMORY_GOAL)}).",
        f"- open rate (connect + init + subscribe + first state) on one process: "
        f"{ours['rate']:.0f}/s, bare {bare['rate']:.0f}/s (goal >= {RATE_GOAL:.0f}/s: "
        f"{verdict(ours['rate'] >= RATE_GOAL)}).",
        f"- push latency with {ours['opened']:,} open: p50 {percentile(lat, 50) / 1e6:.2f} ms, "
        f"p99 {percentile(lat, 99) / 1e6:.2f} ms over {len(push.get('latencies', []))} pushes, "
        f"lost {push.get('lost', '—')}, duplicated {push.get('duplicated', '—')}.",
    ]


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, goals: list[str]) -> str:
    lines = [
        "## Subscriptions at scale (`bench/subscriptions.py`)",
        "",
        f"{args.subscriptions:,} connections on ONE uvicorn process, opened by {args.clients} "
        f"client processes ({args.concurrency} handshakes in flight each) on the same 2 cores. "
        "`ours`: the bundled project (`config.settings`, PostgreSQL, `RedisPubSubChannelLayer`), "
        "each connection a session-cookie websocket with `connection_init` and one "
        "`imageProcessed` subscription on its own PENDING upload, open once its first state "
        "arrived; `bare`: `bench/bare_ws_app.py` (accept, echo) with the same round trips. "
        "Memory: the server's RSS with all open minus before, per connection. The clients "
        "offer permessage-deflate, as browsers do.",
        "",
        "| server | open | failed | open/s | RSS before MB | RSS all open MB | KB per connection "
        "| server CPU per open | clients' CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("bare", "ours"):
        r = results[name]
        lines.append(
            f"| {name} | {r['opened']:,} | {r['failed']} | {r['rate']:.0f} | "
            f"{r['rss0_kb'] / 1024:.0f} | {r['rss1_kb'] / 1024:.0f} | {r['per_conn_kb']:.1f} | "
            f"{r['server_cpu'] / max(1, r['opened']) * 1e3:.2f} ms | {r['client_cpu']:.1f} s |"
        )
    lines += ["", "Goals (this run):", "", *goals]
    ours = results["ours"]
    memory = ours["per_conn_kb"] / results["bare"]["per_conn_kb"]
    lines += ["", f"<!-- subscriptions-summary memory={memory:.2f} opens={ours['rate']:.1f} -->"]
    busy = ours["server_cpu"] / max(ours["wall"], 1e-9)
    lines += [
        "",
        f"Where the open time goes: while opening, our server used {busy:.2f} cores "
        f"({ours['server_cpu'] / max(1, ours['opened']) * 1e3:.1f} ms CPU per open)"
        + (
            ": the one process is computing, not waiting, so opens are bounded by CPU per open."
            if busy >= 0.8
            else ": below one core, so opens also wait — every ORM call of a websocket goes "
            "through `database_sync_to_async`, one thread per process."
        )
        + " Its profile (`--profile FILE`: yappi over every thread of the server while it "
        "opens) and what would close the gap are in the note *Against the peers: method and "
        "where the time goes*; `--tracemalloc FILE` prints what memory grew with every open.",
    ]
    if ours.get("tracemalloc"):
        lines += ["", "```", ours["tracemalloc"].strip(), "```"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
