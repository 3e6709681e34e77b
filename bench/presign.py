"""Upload credentials: ours against the peers a team would pick instead, in one run.

One benchmark project (``bench/peers``: the bundled project plus django-s3-file-field 1.1.0 and
django-s3direct 2.0.3, from ``bench/requirements.txt``) on PostgreSQL, Django's default
middleware and logged-in sessions, served by each deployment the README documents: Django's ASGI
handler under uvicorn, and WSGI under gunicorn (one process, 16 threads). Driven, interleaved in
blocks so that a figure and its peer's come from the same minutes of this shared machine:

- ``requestImageUploads`` (ours, one file), s3ff ``upload-initialize``, s3direct
  ``get_upload_params``, and an empty view that touches ``request.user``;
- the per-upload flow each product's own client runs for one photo: ours one mutation, s3direct
  the params and a signature for each of its three S3 requests, s3ff initialize + complete +
  finalize (with the client's own part upload and completion to S3 in between);

at concurrency 1 (p50/p99, server CPU per request from /proc of the server process) and with 16
client threads (throughput of the one server process). Then the rate-limit survey's cost with
0 and 100,000 uploads of history for one owner, with its ``EXPLAIN``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

from bench._http import Client, GunicornServer, Project, unique_name  # noqa: E402
from bench._report import percentile, write_section  # noqa: E402
from bench._support import UvicornServer  # noqa: E402

USERS = 40
HISTORY = 100_000
#: Inserted in the server's database: an owner's finished uploads of the past year.
HISTORY_ROWS = """
import uuid
from datetime import timedelta
from django.contrib.auth.models import User
from django.db.models import F
from django.utils import timezone
from asyncimg.models import Upload
user = User.objects.get(username="bench{index}")
now = timezone.now()
rows = []
for i in range({count}):
    at = now - timedelta(days=1, seconds=i * 300)
    pk = uuid.uuid4()
    rows.append(Upload(id=pk, owner=user, filename=f"old-{{i}}.jpg", content_type="image/jpeg",
        size=1000, key=f"temp/{{pk}}/old.jpg", status="READY" if i % 20 else "EXPIRED",
        expires_at=at, created_at=at, updated_at=at))
Upload.objects.bulk_create(rows, batch_size=5000)
# auto_now_add stamped them now: put them back in the past.
Upload.objects.filter(owner=user, filename__startswith="old-").update(
    created_at=F("expires_at"), updated_at=F("expires_at"))
"""
#: The survey statement of one mutation for that owner, with PostgreSQL's plan.
EXPLAIN = """
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from asyncimg.services.owners import Owner
from asyncimg.services.uploads import FileSpec, request_uploads
user = User.objects.get(username="bench{index}")
with CaptureQueriesContext(connection) as queries:
    request_uploads(Owner(user_id=user.pk), [FileSpec("explain.jpg", "image/jpeg", 1000)])
survey = next(q["sql"] for q in queries.captured_queries if "EXISTS" in q["sql"])
with connection.cursor() as cursor:
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + survey)
    print("\\n".join(row[0] for row in cursor.fetchall()))
"""

Call = Callable[[Client], None]
SINGLE: dict[str, Call] = {
    "ours: requestImageUploads": lambda c: c.mutation(unique_name()) and None,
    "s3direct: get_upload_params": lambda c: c.s3direct_params(),
    "s3ff: upload-initialize": lambda c: c.s3ff_initialize() and None,
    "empty view touching request.user": lambda c: c.whoami(),
}
FLOWS: dict[str, Call] = {
    "ours: one mutation": lambda c: c.mutation(unique_name()) and None,
    "s3direct: params + 3 signatures": lambda c: c.s3direct_flow(),
    "s3ff: initialize + complete + finalize": lambda c: c.s3ff_flow(),
}


def ms(seconds: float) -> float:
    return seconds * 1000


def sequential(
    server: UvicornServer, clients: list[Client], calls: dict[str, Call], n: int, block: int
) -> dict[str, tuple[list[float], float]]:
    """Each call ``n`` times, one at a time, in interleaved blocks: latencies and server CPU per
    call."""
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    cpu = dict.fromkeys(calls, 0.0)
    i = 0
    for _ in range(0, n, block):
        for name, call in calls.items():
            before = server.cpu_seconds()
            for _ in range(block):
                start = time.perf_counter()
                call(clients[i % len(clients)])
                latencies[name].append(time.perf_counter() - start)
                i += 1
            cpu[name] += server.cpu_seconds() - before
    return {name: (latencies[name], cpu[name] / len(latencies[name])) for name in calls}


def concurrent(
    server: UvicornServer, clients: list[Client], call: Call, per_thread: int
) -> tuple[float, list[float], float]:
    """``len(clients)`` threads, each its own session, ``per_thread`` calls each: requests per
    second of the one server process, latencies, server CPU per request."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(clients) + 1)

    def run(client: Client) -> None:
        mine = []
        barrier.wait()
        for _ in range(per_thread):
            start = time.perf_counter()
            call(client)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    before = server.cpu_seconds()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    cpu = server.cpu_seconds() - before
    return len(latencies) / wall, latencies, cpu / len(latencies)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**MISSED**"


def measure(
    label: str, server: UvicornServer, project: Project, args: argparse.Namespace
) -> tuple[list[str], dict[str, float]]:
    server.start()
    try:
        clients = [Client(server.url, key) for key in project.sessions]
        warm = sequential(server, clients, {**SINGLE, **FLOWS}, 20, 10)  # noqa: F841
        print(f"{label}: concurrency 1", file=sys.stderr, flush=True)
        single = sequential(server, clients, SINGLE, args.requests, 50)
        flows = sequential(server, clients, FLOWS, args.flows, 25)
        print(f"{label}: {args.threads} threads", file=sys.stderr, flush=True)
        threads = clients[: args.threads]
        loaded: dict[str, tuple[float, list[float], float]] = {}
        for name in SINGLE:
            loaded[name] = (0.0, [], 0.0)
        for _ in range(2):  # two interleaved rounds, summed
            for name, call in SINGLE.items():
                rate, lat, cpu = concurrent(server, threads, call, args.per_thread)
                old = loaded[name]
                loaded[name] = (old[0] + rate / 2, old[1] + lat, old[2] + cpu / 2)
    finally:
        server.stop()

    ours, s3d, _s3ff, empty = SINGLE
    f_ours, f_s3d, f_s3ff = FLOWS
    lines = [
        f"### {label}",
        "",
        "| endpoint (one request) | p50 | p99 | server CPU | "
        f"{args.threads} threads: req/s | p50 | p99 | server CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in SINGLE:
        lat, cpu = single[name]
        rate, llat, lcpu = loaded[name]
        lines.append(
            f"| {name} | {ms(percentile(lat, 50)):.2f} ms | {ms(percentile(lat, 99)):.2f} ms | "
            f"{ms(cpu):.2f} ms | {rate:.0f} | {ms(percentile(llat, 50)):.1f} ms | "
            f"{ms(percentile(llat, 99)):.1f} ms | {ms(lcpu):.2f} ms |"
        )
    lines += ["", "| per-upload flow | requests to Django | p50 | server CPU per upload |"]
    lines += ["|---|---:|---:|---:|"]
    for name, count in zip(FLOWS, (1, 4, 3), strict=True):
        lat, cpu = flows[name]
        lines.append(f"| {name} | {count} | {ms(percentile(lat, 50)):.1f} ms | {ms(cpu):.2f} ms |")
    cheaper = min(flows[f_s3d][1], flows[f_s3ff][1])
    cheaper_name = f_s3d if flows[f_s3d][1] <= flows[f_s3ff][1] else f_s3ff
    upload_ratio = flows[f_ours][1] / cheaper
    view_ratio = single[ours][1] / single[empty][1]
    rate_ratio = loaded[ours][0] / loaded[s3d][0]
    tail = percentile(loaded[ours][1], 99) / percentile(loaded[ours][1], 50)
    figures = {
        "upload": upload_ratio,
        "view": view_ratio,
        "rate": rate_ratio,
        "tail": tail,
        "ours_cpu": ms(flows[f_ours][1]),
        "cheaper_cpu": ms(cheaper),
    }
    lines += [
        "",
        f"- Server CPU per upload: ours {ms(flows[f_ours][1]):.2f} ms, the cheaper peer's flow "
        f"({cheaper_name.split(':')[0]}) {ms(cheaper):.2f} ms → **{upload_ratio:.2f}x** "
        f"(goal ≤ 0.5x: {verdict(upload_ratio <= 0.5)}).",
        f"- Mutation CPU {ms(single[ours][1]):.2f} ms vs the empty view touching `request.user` "
        f"{ms(single[empty][1]):.2f} ms → **{view_ratio:.2f}x** "
        f"(goal ≤ 1.5x: {verdict(view_ratio <= 1.5)}).",
        f"- {args.threads}-thread throughput: ours {loaded[ours][0]:.0f} req/s vs s3direct "
        f"params {loaded[s3d][0]:.0f} req/s → **{rate_ratio:.2f}x** "
        f"(goal ≥ 1x: {verdict(rate_ratio >= 1)}).",
        f"- {args.threads}-thread tail: ours p99 {ms(percentile(loaded[ours][1], 99)):.1f} ms "
        f"/ p50 {ms(percentile(loaded[ours][1], 50)):.1f} ms → **{tail:.2f}x** "
        f"(goal ≤ 3x: {verdict(tail <= 3)}).",
    ]
    return lines, figures


def survey(project: Project, args: argparse.Namespace) -> tuple[list[str], float]:
    """The mutation for an owner without history and for one with 100,000 finished uploads,
    alternating on one server; the survey statement's plan for the second."""
    fresh, old = USERS - 1, USERS - 2
    project.manage("shell", "-c", HISTORY_ROWS.format(index=old, count=args.history))
    project.manage(
        "shell",
        "-c",
        "from django.db import connection; connection.cursor().execute('ANALYZE asyncimg_upload')",
    )
    server = UvicornServer(project.env, name="survey")
    server.start()
    try:
        clients = {
            "0 rows": Client(server.url, project.sessions[fresh]),
            f"{args.history:,} rows": Client(server.url, project.sessions[old]),
        }
        calls: dict[str, Call] = {
            name: (lambda c, client=client: client.mutation(unique_name()) and None)
            for name, client in clients.items()
        }
        sequential(server, [clients["0 rows"]], calls, 20, 10)  # warm-up
        results = sequential(server, [clients["0 rows"]], calls, args.requests, 50)
    finally:
        server.stop()
    out = project.manage("shell", "-c", EXPLAIN.format(index=old))
    plan = "\n".join(line for line in out.splitlines() if "imported automatically" not in line)
    plan = plan.strip()
    (a, (lat_a, cpu_a)), (b, (lat_b, cpu_b)) = results.items()
    ratio = cpu_b / cpu_a
    lines = [
        "### The rate-limit survey against the owner's history",
        "",
        f"`requestImageUploads` for an owner with no uploads and for one with {args.history:,} "
        "finished uploads of the past year (5 % EXPIRED, the rest READY), alternating in blocks "
        "on one uvicorn process:",
        "",
        "| owner's uploads | p50 | p99 | server CPU per mutation |",
        "|---|---:|---:|---:|",
        f"| {a} | {ms(percentile(lat_a, 50)):.2f} ms | {ms(percentile(lat_a, 99)):.2f} ms | "
        f"{ms(cpu_a):.2f} ms |",
        f"| {b} | {ms(percentile(lat_b, 50)):.2f} ms | {ms(percentile(lat_b, 99)):.2f} ms | "
        f"{ms(cpu_b):.2f} ms |",
        "",
        f"- CPU with {args.history:,} rows / with none: **{ratio:.2f}x** (goal: flat, within the "
        f"noise, ≤ 1.1x: {verdict(ratio <= 1.1)}).",
        "",
        "The survey (one statement: the rate limit and the quota as `EXISTS` at an offset, the "
        "reuse lookup as a one-row subquery, each reading at most its limit's entries of an index) "
        f"for the owner with {args.history:,} rows:",
        "",
        "```",
        plan,
        "```",
    ]
    return lines, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=150, help="per endpoint, concurrency 1")
    parser.add_argument("--flows", type=int, default=50, help="per-upload flows per product")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--per-thread", type=int, default=12)
    parser.add_argument("--history", type=int, default=HISTORY)
    args = parser.parse_args()

    project = Project(db="asyncimg_bench_presign", users=USERS)
    project.start()
    try:
        deployments = [
            ("Django's ASGI handler under uvicorn (one process)", UvicornServer(project.env)),
            (
                f"WSGI under gunicorn (one process, {args.threads} threads)",
                GunicornServer(project.env, threads=args.threads),
            ),
        ]
        sections = []
        figures = {}
        for label, server in deployments:
            lines, figs = measure(label, server, project, args)
            print("\n".join(lines), flush=True)
            sections += [*lines, ""]
            figures[label] = figs
        survey_lines, survey_ratio = survey(project, args)
        print("\n".join(survey_lines), flush=True)
    finally:
        project.stop()

    asgi = figures[deployments[0][0]]
    summary = (
        f"<!-- presign-summary upload={asgi['upload']:.2f} view={asgi['view']:.2f} "
        f"rate={asgi['rate']:.2f} tail={asgi['tail']:.2f} survey={survey_ratio:.2f} -->"
    )
    text = "\n".join(
        [
            "## Upload credentials against the peers (`bench/presign.py`)",
            "",
            "One benchmark project (`bench/peers`): the bundled project plus django-s3-file-field "
            "1.1.0 and django-s3direct 2.0.3 (`bench/requirements.txt`), Django's default "
            "middleware, PostgreSQL, one logged-in session per client; each product as its "
            "documentation sets it up. Concurrency 1: each endpoint in interleaved blocks of 50 "
            f"({args.requests} requests each), flows in blocks of 25 ({args.flows} each); "
            f"{args.threads} threads: each endpoint for {args.per_thread} requests per thread, "
            "two interleaved rounds. Server CPU is read from /proc of the server process; moto "
            "(the peers' S3 calls) and the clients run in other processes.",
            "",
            *sections,
            *survey_lines,
            "",
            summary,
        ]
    )
    write_section("presign", text)


if __name__ == "__main__":
    main()
