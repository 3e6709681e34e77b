"""Where a ``requestImageUploads`` mutation's CPU goes: cProfile over mutations sent through
Django's test client in this process (the whole middleware stack and view, no ASGI server),
next to the empty view touching ``request.user``, on a PostgreSQL database of its own.

Prints each area's share of the mutation's own time (functions attributed by module) and the
statements it sends. Not part of ``make bench`` (it prints, it rewrites nothing):
``.venv/bin/python bench/profile_presign.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

from bench._http import CSRF, MUTATION, PG, Project  # noqa: E402

AREAS = [
    ("database driver + wire", ("psycopg", "psycopg_pool")),
    ("Django ORM (compiling, models)", ("django/db",)),
    ("GraphQL (strawberry, graphql-core)", ("strawberry", "graphql")),
    ("signing (botocore)", ("botocore", "boto3")),
    (
        "Django handler, middleware, sessions, auth",
        ("django/core", "django/middleware", "django/contrib", "django/http"),
    ),
    ("asyncimg", ("asyncimg",)),
]


def area(filename: str) -> str:
    for name, parts in AREAS:
        if any(f"/{part}/" in filename or f"/{part}." in filename for part in parts):
            return name
    return "other (stdlib, json, uuid, ...)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    project = Project(db="asyncimg_bench_profile", users=2)
    project.start()
    try:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="bench.peers.settings",
            DATABASE_URL=f"{PG}/{project.db}",
            BENCH_S3_ENDPOINT=project.s3_endpoint,
        )
        import django

        django.setup()
        from django.db import connection
        from django.test import Client

        client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")
        client.cookies["sessionid"] = project.sessions[0]
        client.cookies["csrftoken"] = CSRF

        def mutate(i: int) -> None:
            body = {
                "query": MUTATION,
                "variables": {
                    "inputs": [{"filename": f"p{i}.jpg", "contentType": "image/jpeg", "size": 9}]
                },
            }
            response = client.post(
                "/graphql/",
                json.dumps(body),
                content_type="application/json",
                headers={"X-CSRFToken": CSRF},
            )
            assert "errors" not in response.json(), response.content

        def whoami(_: int) -> None:
            assert client.get("/bench/whoami/").status_code == 200

        for i in range(50):
            mutate(-i - 1)
            whoami(i)
        statements: list[str] = []

        def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            mutate(-1000)
        for name, call in (("mutation", mutate), ("empty view", whoami)):
            start = time.process_time()
            for i in range(args.requests):
                call(i)
            cpu = (time.process_time() - start) / args.requests
            print(f"{name}: {cpu * 1000:.2f} ms CPU per request (test client, no server)")
        # CPU time, not wall: waiting for PostgreSQL on a busy machine is not the mutation's cost.
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for i in range(args.requests):
            mutate(10**6 + i)
        profile.disable()
    finally:
        project.stop()

    stats = pstats.Stats(profile)
    own: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        own[area(filename)] += tottime
        total += tottime
    print(f"\nmutation, own CPU time by area ({args.requests} mutations under cProfile):")
    for name, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"  {name:45s} {100 * seconds / total:5.1f} %")
    print(f"\nstatements of one mutation ({len(statements)}, besides BEGIN/COMMIT):")
    for sql in statements:
        print("  " + sql[:110])
    print()
    stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
