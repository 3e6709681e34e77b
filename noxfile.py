"""The supported matrix, one nox session per cell. ``nox -l`` lists them, ``nox`` runs them all,
``nox -s mariadb`` one of them, ``nox -R -s mariadb`` again without reinstalling, and arguments
after ``--`` go to pytest (``nox -s sqlite -- -x tests/test_state.py``).

=============  ======  ======  ==========  ===================================================
session        Python  Django  database    browser tests
=============  ======  ======  ==========  ===================================================
postgres-5.2   3.11    5.2     PostgreSQL  yes (the only cell that runs them: they drive the
                                           demo, which uses none of the cell's database)
postgres-6.1   3.13    6.1     PostgreSQL  no
mariadb        3.11    5.2     MariaDB     no
sqlite         3.11    5.2     SQLite      no
=============  ======  ======  ==========  ===================================================

Every other test runs in every cell. ``make test`` is the postgres-5.2 cell (plus lint) in the
project's own ``.venv``; ``.ci/run`` runs it, then the three other sessions.

Each session starts its database server and Redis when they do not answer (``scripts/db-up``,
``scripts/test-deps``; they install Debian's packages the cell needs), and points the suite at
``DATABASE_URL`` (the machine's servers, or ``NOX_POSTGRES_URL`` / ``NOX_MARIADB_URL`` when set)
and ``REDIS_URL``. Virtualenvs are kept between runs (``reuse_venv``); a clean checkout (CI)
builds them from scratch.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import nox

nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"  # only PyPI is reachable; the interpreters are local

POSTGRES_URL = os.environ.get("NOX_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("NOX_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
DJANGO = {"5.2": "Django>=5.2,<5.3", "6.1": "Django>=6.1,<6.2"}
#: the servers scripts/db-up starts on this machine, by URL scheme
LOCAL_SERVERS = {"postgres": ("postgresql", 5432), "mysql": ("mariadb", 3306)}


def python(version: str) -> str:
    """``version`` itself when an interpreter of that name runs from PATH (setup-python, Debian);
    else the newest pyenv install of it (pyenv's shims answer only for the selected versions)."""
    try:
        subprocess.run([f"python{version}", "-c", ""], check=True, capture_output=True, timeout=30)
        return version
    except (OSError, subprocess.SubprocessError):
        pass
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found = Path(root, "versions").glob(f"{version}.*/bin/python{version}")

    def release(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name))

    newest = max(found, key=release, default=None)
    return str(newest) if newest else version


def cell(session: nox.Session, *, django: str, database_url: str | None, browser: bool) -> None:
    """Install the app with the dev extra and ``django``'s release line, then run pytest."""
    session.run(
        "scripts/test-deps", external=True
    )  # Debian's packages (mysqlclient's build), Redis
    if database_url:
        scheme, host = urlsplit(database_url).scheme, urlsplit(database_url).hostname
        if scheme in LOCAL_SERVERS and host in ("127.0.0.1", "localhost"):
            session.run("scripts/db-up", LOCAL_SERVERS[scheme][0], external=True)
    session.install("-e", ".[dev]", DJANGO[django])
    session.run("python", "-c", "import django; print('Django', django.get_version())")
    # None unsets: an outer DATABASE_URL (.ci/run exports one for `make test`) must not leak in.
    env = {"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL}
    args = list(session.posargs)
    if not browser:
        args = ["-m", "not browser", *args]
    session.run("python", "-m", "pytest", *args, env=env)


@nox.session(name="postgres-5.2", python=python("3.11"))
def postgres_52(session: nox.Session) -> None:
    """Django 5.2 LTS, Python 3.11, PostgreSQL; with the browser tests."""
    cell(session, django="5.2", database_url=POSTGRES_URL, browser=True)


@nox.session(name="postgres-6.1", python=python("3.13"))
def postgres_61(session: nox.Session) -> None:
    """Django 6.1, Python 3.13, PostgreSQL."""
    cell(session, django="6.1", database_url=POSTGRES_URL, browser=False)


@nox.session(name="mariadb", python=python("3.11"))
def mariadb(session: nox.Session) -> None:
    """Django 5.2 LTS, Python 3.11, MariaDB."""
    cell(session, django="5.2", database_url=MARIADB_URL, browser=False)


@nox.session(name="sqlite", python=python("3.11"))
def sqlite(session: nox.Session) -> None:
    """Django 5.2 LTS, Python 3.11, SQLite (the bundled project's default database)."""
    cell(session, django="5.2", database_url=None, browser=False)
