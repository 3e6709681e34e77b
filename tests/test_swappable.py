"""``PROCESSED_IMAGE_MODEL`` swapped for a project's own model, like ``AUTH_USER_MODEL``: a fresh
database migrates, no migration is missing, and a processor callback stores its image in the
project's table.

A swap must be in place before the app registry loads, so every step runs in a subprocess with
``tests.settings_swapped`` (which installs ``tests.swapped_images``) on a database of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SWAPPED = "tests.settings_swapped"


def run(args: list[str], settings: str, database_url: str, data_dir: Path) -> Any:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": database_url,
        "ASYNCIMG_DATA_DIR": str(data_dir),
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: Any, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: an SQLite file, or a PostgreSQL database next to the test one
    when the suite runs on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'swapped.sqlite3'}"
        return
    if connection.vendor != "postgresql":
        pytest.skip("the suite runs on SQLite; set DATABASE_URL to a PostgreSQL database")
    s = connection.settings_dict
    name = f"{s['NAME']}_swapped"
    host, port, user = s.get("HOST") or "127.0.0.1", s.get("PORT") or 5432, s.get("USER")
    params = {"host": host, "port": port, "user": user, "password": s.get("PASSWORD") or None}
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"postgres://{user or 'postgres'}@{host}:{port}/{name}"
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(drop)


@pytest.mark.slow
def test_fresh_database_migrates_and_stores_images_in_the_swapped_table(
    database_url: str, tmp_path: Path
) -> None:
    migrate = run(["manage.py", "migrate", "--no-input"], SWAPPED, database_url, tmp_path)
    assert migrate.returncode == 0, migrate.stderr

    flow = run(["-m", "tests.swapped_images.callback_flow"], SWAPPED, database_url, tmp_path)
    assert flow.returncode == 0, flow.stderr
    result = json.loads(flow.stdout)
    # The database's own foreign key, read back by introspection: Upload.image → the swapped table.
    assert result["image_fk"] == ["id", "swapped_images_swappedimage"]
    assert "asyncimg_processedimage" not in result["tables"]  # swapped out: never created
    status, body = result["response"]
    assert status == 200
    assert (body["status"], body["uploadStatus"]) == ("applied", "READY")
    [image] = result["images"]
    assert result["upload"] == {"status": "READY", "image_id": image["id"]}
    assert image["key"] == f"processed/{body['uploadId']}/original.jpg"
    assert image["alt_text"] == ""  # the project's own column, filled with its default


@pytest.mark.parametrize("settings", ["tests.settings", SWAPPED])
def test_no_migration_is_missing(settings: str, tmp_path: Path) -> None:
    check = run(
        ["manage.py", "makemigrations", "--check", "--dry-run"],
        settings,
        f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        tmp_path,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No changes detected" in check.stdout
