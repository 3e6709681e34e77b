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

import pytest
from django.db import connection

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


class SiblingDatabase:
    """CREATE/DROP DATABASE ``name`` on the server of the suite's own database, through the
    vendor's driver (Django's connection may not run outside a django_db test)."""

    def __init__(self, settings: dict[str, Any], vendor: str) -> None:
        self.vendor = vendor
        self.host = settings.get("HOST") or "127.0.0.1"
        self.user = settings.get("USER") or ("postgres" if vendor == "postgresql" else "root")
        self.password = settings.get("PASSWORD") or ""
        self.port = int(settings.get("PORT") or (5432 if vendor == "postgresql" else 3306))
        self.name = f"{settings['NAME']}_swapped"

    @property
    def url(self) -> str:
        scheme = "postgres" if self.vendor == "postgresql" else "mysql"
        password = f":{self.password}" if self.password else ""
        return f"{scheme}://{self.user}{password}@{self.host}:{self.port}/{self.name}"

    def _execute(self, statement: str) -> None:
        if self.vendor == "postgresql":
            import psycopg
            from psycopg import sql

            query = sql.SQL(statement).format(sql.Identifier(self.name))
            params = {"host": self.host, "port": self.port, "user": self.user}
            password = self.password or None
            with psycopg.connect(
                dbname="postgres", autocommit=True, password=password, **params
            ) as admin:
                admin.execute(query)
        else:
            import MySQLdb

            admin = MySQLdb.connect(
                host=self.host, port=self.port, user=self.user, password=self.password
            )
            try:
                quoted = "`{}`".format(self.name.replace("`", "``"))
                admin.cursor().execute(statement.format(quoted))
            finally:
                admin.close()

    def create(self) -> None:
        self.drop()
        self._execute("CREATE DATABASE {}")

    def drop(self) -> None:
        force = " WITH (FORCE)" if self.vendor == "postgresql" else ""
        self._execute("DROP DATABASE IF EXISTS {}" + force)


@pytest.fixture(params=["sqlite", "suite-database"])
def database_url(request: Any, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: an SQLite file, then one on the server of the suite's own
    database (PostgreSQL, MariaDB/MySQL) next to the test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'swapped.sqlite3'}"
        return
    if connection.vendor == "sqlite":
        pytest.skip("the suite runs on SQLite, which the first param covers")
    sibling = SiblingDatabase(connection.settings_dict, connection.vendor)
    sibling.create()
    yield sibling.url
    sibling.drop()


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
