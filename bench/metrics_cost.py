"""What the Prometheus metrics (and the structured log lines' formatting) cost: CPU per
``requestImageUpload`` mutation and per processor callback, metrics on versus off, in one run.

In one process, through Django's own request handling (the test client: URL routing,
middleware, the GraphQL view, the callback view), on PostgreSQL (a database of its own, created
and dropped here), so nothing but the code under test runs on this process's CPU clock. Rounds
alternate on/off (and which goes first), so a slow spell of the shared machine hits both alike;
the figures are medians over rounds. No server process, no network: the mutation's and the
callback's own work is what is measured, not uvicorn's.

    .venv/bin/python bench/metrics_cost.py [--rounds 12] [--per-round 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

from bench._report import write_section  # noqa: E402
from bench._support import callback_body, signed_headers  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = "asyncimg_bench_metrics"
SECRET = "bench-callback-secret"  # bench/settings.py
MUTATION = """mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) { upload { id status } presignedPost { url fields } }
}"""


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", sql], check=True, capture_output=True)


def setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DATABASE_URL"] = f"{PG}/{DB}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def one_round(client: Any, count: int, metrics_on: bool) -> tuple[float, float]:
    """CPU seconds per mutation and per callback, ``count`` uploads each."""
    from django.test import override_settings

    with override_settings(ASYNC_IMAGE_UPLOAD_METRICS=metrics_on):
        ids = []
        start = time.process_time()
        for _ in range(count):
            spec = {
                "filename": f"{uuid.uuid4().hex}.jpg",
                "contentType": "image/jpeg",
                "size": 1000,
            }
            answer = client.post(
                "/graphql/",
                {"query": MUTATION, "variables": {"input": spec}},
                content_type="application/json",
            )
            ids.append(answer.json()["data"]["requestImageUpload"]["upload"]["id"])
        mutation = (time.process_time() - start) / count
        bodies = [callback_body(i, event) for i in ids for event in ("processing", "succeeded")]
        start = time.process_time()
        for body in bodies:
            response = client.post(
                "/async_image/callback/",
                body,
                content_type="application/json",
                headers=signed_headers(body, secret=SECRET),
            )
            assert response.status_code == 200, response.content
        callback = (time.process_time() - start) / len(bodies)
    return mutation, callback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--per-round", type=int, default=60)
    args = parser.parse_args()
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    psql(f"CREATE DATABASE {DB}")
    try:
        setup()
        from django.contrib.auth.models import User
        from django.test import Client

        from asyncimg import metrics

        assert metrics.installed(), "pip install -e '.[metrics]'"
        client = Client(HTTP_HOST="localhost")
        client.force_login(User.objects.create_user("bench", password="unused-password"))
        one_round(client, 10, True)  # warm-up: imports, the registry, connections
        one_round(client, 10, False)
        results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for index in range(args.rounds):
            order = (True, False) if index % 2 else (False, True)
            for on in order:
                results[on].append(one_round(client, args.per_round, on))
        report(results, args)
    finally:
        from django.db import connections

        connections.close_all()
        psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def report(results: dict[bool, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    rows = []
    for index, what in enumerate(("mutation", "callback")):
        off = statistics.median(r[index] for r in results[False])
        on = statistics.median(r[index] for r in results[True])
        rows.append((what, off, on, (on / off - 1) * 100))
        print(f"{what}: off {off * 1e3:.3f} ms CPU, on {on * 1e3:.3f} ms CPU, {rows[-1][3]:+.1f} %")
    table = "\n".join(
        f"| {what} | {off * 1e3:.3f} | {on * 1e3:.3f} | {delta:+.1f} % |"
        for what, off, on, delta in rows
    )
    write_section(
        "metrics_cost",
        f"""## Cost of the Prometheus metrics (`bench/metrics_cost.py`)

CPU of this process per operation (`time.process_time`), through Django's request handling
in-process (test client → view → service → PostgreSQL), medians of {args.rounds} alternating
rounds of {args.per_round} uploads with `ASYNC_IMAGE_UPLOAD_METRICS` off and on. The baseline is
the same code with metrics off, in the same run. Goal: under 5 %. A callback is the mean of a
`processing` and a `succeeded` callback (two transitions, one histogram each). Single-process
registry; with `PROMETHEUS_MULTIPROC_DIR` each update also writes to a memory-mapped file.

| operation | off (ms CPU) | on (ms CPU) | added |
|---|---:|---:|---:|
{table}

Command: `.venv/bin/python bench/metrics_cost.py --rounds {args.rounds} \\
--per-round {args.per_round}`.""",
    )


if __name__ == "__main__":
    main()
