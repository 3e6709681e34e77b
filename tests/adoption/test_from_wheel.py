"""A newcomer adopts the package from outside: the built wheel, a fresh virtualenv, a fresh
``django-admin startproject myproject``, the README's guide applied as written, and a real
client against the running project.

Steps:

1. ``pip wheel --no-deps`` builds the wheel from a copy of the working tree (setuptools writes
   ``build/`` and ``*.egg-info`` next to the sources; the copy keeps them out of the checkout);
   its file list must hold ``asyncimg/``, ``asyncimg_processor/`` and the dist-info only, and
   every file of those two packages in the tree (the SAM template, the migrations, the static
   client and the vendored GraphiQL files among them).
2. A fresh virtualenv (no ``--system-site-packages``: everything comes from the wheel and the
   package index, through pip's cache) is the newcomer's activated environment.
3. The README's marked snippets run in document order (the convention is in
   :mod:`tests.adoption.readme`): the install line (pointed at the wheel), ``startproject``, the
   settings, the project's own schema with its ``hello`` field, urls.py, asgi.py, ``check``,
   ``migrate``, uvicorn on ``myproject.asgi:application``, ``manage.py asyncimg_worker``, the
   doctor, the deploy dry run, ``asyncimg_expire``.
4. AWS is a moto server (S3 + SQS over HTTP, run from the test's own environment: it stands for
   the cloud, not for anything the project installs), provisioned as on AWS with
   :func:`config.embedded.provision`: bucket CORS, queue, S3 → SQS notification. The settings
   the README reads from the environment point the project at it; they win over the guide's
   example ``export`` values. Credentials reach boto3 through its standard chain (environment
   variables). Redis is the machine's (``REDIS_URL``, else 127.0.0.1:6379).
5. A client as a browser would be: log in (a superuser made with ``createsuperuser --noinput``;
   the guide leaves users to the project), ``{ hello }`` and ``requestImageUpload`` over HTTP with
   the session cookie and ``X-CSRFToken``, the ``imageProcessed`` subscription over the
   ``graphql-transport-ws`` websocket, the presigned POST of a real JPEG to the bucket, and the
   pushed ``PROCESSING`` then ``READY`` with variants whose URLs serve images.

Every process runs in its own process group and is killed with it; the temporary directory goes
too, failure or not. Failures quote the tails of the servers' logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.asyncio.client import connect

from config.embedded import provision
from tests.adoption.readme import (
    Snippet,
    install_extras,
    point_at_wheel,
    readme_snippets,
)
from tests.images import jpeg_bytes
from tests.live import IMAGE_PROCESSED, GraphQLWS, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "adoption-uploads"
QUEUE = "adoption-upload-events"
USERNAME, PASSWORD = "newcomer", "a long test password"
#: Environment a developer's shell may carry that must not leak into the newcomer's project:
#: the checkout on the import path, this suite's settings, the dev virtualenv.
FOREIGN = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "DJANGO_SETTINGS_MODULE",
    "VIRTUAL_ENV",
    "DATABASE_URL",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
EXPECTED_FILES = (
    "asyncimg/__init__.py",
    "asyncimg/py.typed",
    "asyncimg/migrations/0001_initial.py",
    "asyncimg/static/asyncimg/client.js",
    "asyncimg/static/asyncimg/graphiql/graphiql/graphiql.min.js",
    "asyncimg/management/commands/asyncimg_worker.py",
    "asyncimg/management/commands/asyncimg_expire.py",
    "asyncimg/management/commands/asyncimg_deploy.py",
    "asyncimg/management/commands/asyncimg_doctor.py",
    "asyncimg_processor/handler.py",
    "asyncimg_processor/py.typed",
    "asyncimg_processor/sam/template.yaml",
    "asyncimg_processor/sam/requirements.txt",
)
REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) { upload { id status } presignedPost { url fields } }
}
"""


def run_in_group(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` in a process group of its own, killed whole on timeout (a pip or a
    manage.py the command started must not outlive it)."""
    process = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        stderr += f"\n(killed after {timeout:.0f} s)"
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


class Process:
    """A long-running child in its own process group, its output in a log file."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        logs: Path,
    ) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                args,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        status = self.process.poll()
        state = "running" if status is None else f"exited with {status}"
        return f"--- {self.name} ({state}), last lines of {self.log.name}:\n" + "\n".join(
            text.splitlines()[-lines:]
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        else:
            # The leader is gone; anything it left in its group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


class Newcomer:
    """One terminal in a fresh virtualenv: runs the guide's snippets, keeps ``cd`` and ``export``
    across them, and starts its long-running commands."""

    def __init__(
        self,
        home: Path,
        logs: Path,
        env: dict[str, str],
        owned: dict[str, str],
        port: int,
        processes: list[Process],
    ) -> None:
        self.home = home
        self.logs = logs
        self.cwd = home
        self.env = env
        #: the test's variables (emulated AWS, its ports): they win over the guide's exports
        self.owned = owned
        self.port = port
        self.processes = processes
        self.timings: dict[str, float] = {}

    def diagnostics(self) -> str:
        return "\n".join(p.tail() for p in self.processes)

    def apply(self, snippet: Snippet, text: str | None = None) -> None:
        started = time.monotonic()
        if snippet.action in ("install", "shell"):
            self.shell(snippet, text or snippet.with_port(self.port))
        elif snippet.action == "background":
            self.background(snippet)
        else:
            self.write(snippet)
        self.timings[str(snippet)] = time.monotonic() - started

    def shell(self, snippet: Snippet, text: str) -> None:
        state = self.logs / "shell-state"
        script = f"{text}\npwd > {state}.cwd\nenv -0 > {state}.env\n"
        result = run_in_group(
            ["bash", "-euo", "pipefail", "-c", script], cwd=self.cwd, env=self.env, timeout=600
        )
        if result.returncode != 0:
            pytest.fail(
                f"{snippet} failed with {result.returncode}:\n{text}\n--- stdout:\n"
                f"{result.stdout[-4000:]}\n--- stderr:\n{result.stderr[-4000:]}\n"
                + self.diagnostics()
            )
        self.cwd = Path(Path(f"{state}.cwd").read_text().strip())
        exported = Path(f"{state}.env").read_bytes().decode().split("\0")
        self.env = dict(item.split("=", 1) for item in exported if "=" in item)
        self.env.update(self.owned)

    def background(self, snippet: Snippet) -> None:
        command = snippet.with_port(self.port).strip()
        assert "\n" not in command, f"{snippet}: one command per background snippet"
        words = [w for w in command.split() if w not in {"python", "manage.py"}]
        name = re.sub(r"\W+", "-", words[0]).strip("-")
        self.processes.append(
            # exec: the command leads its process group, as in a terminal of its own.
            Process(
                name, ["bash", "-c", f"exec {command}"], cwd=self.cwd, env=self.env, logs=self.logs
            )
        )

    def write(self, snippet: Snippet) -> None:
        assert snippet.path is not None
        target = self.cwd / snippet.path
        if snippet.action == "new":
            assert not target.exists(), f"{snippet}: {target} exists already"
            target.write_text(snippet.text)
        else:
            assert target.is_file(), f"{snippet}: {target} does not exist"
            if snippet.action == "replace":
                target.write_text(snippet.text)
            else:
                with target.open("a") as file:
                    file.write("\n" + snippet.text)

    def run(self, *args: str) -> str:
        """A command of the test's own (not the guide's) in the project's environment."""
        result = run_in_group(list(args), cwd=self.cwd, env=self.env, timeout=120)
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout


def build_wheel(tmp: Path) -> Path:
    """The wheel of the working tree (tracked and new files, as a commit of it would have)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    source = tmp / "source"
    for name in filter(None, listed):
        path = ROOT / name
        if path.is_file():  # a file deleted in the working tree is still listed by --cached
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    dist = tmp / "dist"
    result = run_in_group(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), "."],
        cwd=source,
        env=dict(os.environ),
        timeout=600,
    )
    assert result.returncode == 0, f"building the wheel failed:\n{result.stdout}{result.stderr}"
    (wheel,) = dist.glob("*.whl")
    return wheel


def package_files(source: Path) -> set[str]:
    """Every file of the two import packages in the source tree, as the wheel names them: a
    subpackage left out of pyproject's explicit ``packages`` list is missing from the wheel."""
    processor = source / "lambda" / "asyncimg_processor"
    trees = {"asyncimg": source / "asyncimg", "asyncimg_processor": processor}
    return {
        f"{name}/{path.relative_to(tree).as_posix()}"
        for name, tree in trees.items()
        for path in tree.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def check_wheel(wheel: Path, extras: list[str], source: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        provided = re.findall(r"^Provides-Extra: (\S+)$", archive.read(metadata).decode(), re.M)
    top = {name.split("/")[0] for name in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"asyncimg", "asyncimg_processor"}, sorted(top)
    assert len(dist_info) == 1, sorted(top)
    missing = sorted(set(EXPECTED_FILES) - set(names))
    assert not missing, f"not in the wheel: {missing}"
    unshipped = sorted(package_files(source) - set(names))
    assert not unshipped, (
        f"package files not in the wheel (pyproject packages/package-data): {unshipped}"
    )
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    unknown = sorted(set(extras) - set(provided))
    assert not unknown, f"the README installs extras the wheel lacks: {unknown} ({provided})"


def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    match = re.match(r"redis://(?:[^@/]*@)?([^:/]+):?(\d+)?", url)
    assert match, url
    try:
        socket.create_connection((match.group(1), int(match.group(2) or 6379)), 2).close()
    except OSError as exc:
        pytest.fail(f"Redis is not reachable at {url} ({exc}): scripts/test-deps starts one")
    return url


def wait_until_listening(port: int, newcomer: Newcomer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if any(p.process.poll() is not None for p in newcomer.processes):
            break
        time.sleep(0.1)
    pytest.fail(f"nothing listens on {port}\n{newcomer.diagnostics()}")


def wait_for_moto(url: str, moto: Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and moto.process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    pytest.fail(f"moto server did not start\n{moto.tail()}")


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="asyncimg-adoption-") as name:
        yield Path(name)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop()


def newcomer_env(venv: Path) -> dict[str, str]:
    """The environment of a terminal with ``venv`` activated, none of this suite's in it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in FOREIGN and not k.startswith(("ASYNC_IMAGE_UPLOAD_", "ASYNCIMG_"))
    }
    dev_bin = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != dev_bin]
    env.update(PATH=os.pathsep.join([str(venv / "bin"), *path]), VIRTUAL_ENV=str(venv))
    return env


def test_readme_guide_from_the_wheel(workdir: Path, processes: list[Process]) -> None:
    started = time.monotonic()
    snippets = readme_snippets()
    install = [s for s in snippets if s.action == "install"]
    assert len(install) == 1, f"the guide needs exactly one install snippet: {install}"
    wheel = build_wheel(workdir)
    check_wheel(wheel, install_extras(install[0]), workdir / "source")
    built = time.monotonic()

    venv, home, logs = workdir / "venv", workdir / "home", workdir / "logs"
    # No --system-site-packages: the project gets what the wheel and the index give it.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    home.mkdir()
    logs.mkdir()

    # The emulated AWS first: the guide's settings read its addresses from the environment.
    moto_port, port = free_port(), free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    moto = Process(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        cwd=workdir,
        env=dict(os.environ),
        logs=logs,
    )
    processes.append(moto)
    wait_for_moto(moto_url, moto)
    base = f"http://127.0.0.1:{port}"
    provisioned = provision(moto_url, bucket=BUCKET, queue=QUEUE, origins=[base], prefix="temp/")
    owned = {
        "ASYNC_IMAGE_UPLOAD_BUCKET": BUCKET,
        "ASYNC_IMAGE_UPLOAD_ENDPOINT_URL": moto_url,
        "ASYNC_IMAGE_UPLOAD_REGION": "us-east-1",
        "ASYNC_IMAGE_UPLOAD_QUEUE_URL": provisioned.queue_url,
        "ASYNC_IMAGE_UPLOAD_CALLBACK_URL": f"{base}/async_image/callback/",
        "REDIS_URL": redis_url(),
        # boto3's standard chain, first link: moto accepts any key.
        "AWS_ACCESS_KEY_ID": "adoption",
        "AWS_SECRET_ACCESS_KEY": "adoption",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONUNBUFFERED": "1",
    }
    newcomer = Newcomer(home, logs, {**newcomer_env(venv), **owned}, owned, port, processes)

    for snippet in snippets:
        text = point_at_wheel(snippet, wheel) if snippet.action == "install" else None
        newcomer.apply(snippet, text)
        if snippet.action == "install":
            where = newcomer.run(
                "python",
                "-c",
                "import asyncimg, asyncimg_processor; "
                "print(asyncimg.__file__, asyncimg_processor.__file__)",
            )
            assert where.count(str(venv)) == 2, f"imported from outside the virtualenv: {where}"
        if snippet.action == "background" and "uvicorn" in snippet.text:
            wait_until_listening(port, newcomer)
    assert (newcomer.cwd / "manage.py").is_file(), (
        f"the guide ends outside the project: {newcomer.cwd}"
    )
    adopted = time.monotonic()

    newcomer.env["DJANGO_SUPERUSER_PASSWORD"] = PASSWORD
    newcomer.run(
        "python",
        "manage.py",
        "createsuperuser",
        "--noinput",
        "--username",
        USERNAME,
        "--email",
        "newcomer@example.com",
    )
    try:
        asyncio.run(use_the_project(base))
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}\n{newcomer.diagnostics()}") from exc
    timings = {
        "wheel": built - started,
        "guide": adopted - built,
        "client": time.monotonic() - adopted,
        **newcomer.timings,
    }
    print("adoption timings (s):", json.dumps({k: round(v, 1) for k, v in timings.items()}))


async def use_the_project(base: str) -> None:
    """The client's side, against the project served at ``base``."""
    http = requests.Session()
    await asyncio.to_thread(login, http, base)
    csrf = {"X-CSRFToken": http.cookies["csrftoken"], "Referer": f"{base}/"}

    def graphql(query: str, variables: dict[str, Any] | None = None, *, token: bool = True) -> Any:
        return http.post(
            f"{base}/graphql/",
            json={"query": query, "variables": variables or {}},
            headers=csrf if token else {},
            timeout=30,
        )

    # The project's own field beside the app's, on the same endpoint.
    response = await asyncio.to_thread(graphql, "{ hello }")
    assert response.json() == {"data": {"hello": "world"}}, response.text
    refused = await asyncio.to_thread(graphql, "{ hello }", token=False)
    assert refused.status_code == 403, "a cookie-authenticated POST without X-CSRFToken passed"

    # GraphiQL (DEBUG) and the app's static files, served by staticfiles_urlpatterns.
    page = await asyncio.to_thread(
        http.get, f"{base}/graphql/", headers={"Accept": "text/html"}, timeout=30
    )
    assert page.status_code == 200, page.text[:500]
    assert "/static/asyncimg/graphiql/" in page.text, page.text[:500]
    for asset in [
        "asyncimg/client.js",
        *re.findall(r"/static/(asyncimg/graphiql/[^\"']+)", page.text),
    ]:
        got = await asyncio.to_thread(http.get, f"{base}/static/{asset}", timeout=30)
        assert got.status_code == 200, f"/static/{asset}: {got.status_code}"
        assert got.content, f"/static/{asset} is empty"

    data = jpeg_bytes(1000, 750)
    ticket_response = await asyncio.to_thread(
        graphql,
        REQUEST,
        {"input": {"filename": "first photo.jpg", "contentType": "image/jpeg", "size": len(data)}},
    )
    result = ticket_response.json()
    assert "errors" not in result, result
    ticket = result["data"]["requestImageUpload"]
    upload_id = ticket["upload"]["id"]
    assert ticket["upload"]["status"] == "PENDING"

    cookies = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    async with connect(
        f"ws://{base.removeprefix('http://')}/graphql/",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"Origin": base, "Cookie": cookies},
    ) as socket_:
        ws = GraphQLWS(socket_)
        await socket_.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert (await ws.raw())["type"] == "connection_ack"
        await ws.subscribe("hello", "{ hello }")
        assert (await ws.next("hello"))["payload"] == {"data": {"hello": "world"}}

        await ws.subscribe("upload", IMAGE_PROCESSED, {"id": upload_id})
        first = await ws.next("upload")
        assert first["payload"]["data"]["imageProcessed"]["status"] == "PENDING", first

        post = ticket["presignedPost"]
        stored = await asyncio.to_thread(
            requests.post,
            post["url"],
            data=post["fields"],
            files={"file": ("first photo.jpg", data, "image/jpeg")},
            timeout=30,
        )
        assert stored.status_code == 204, stored.text

        states = []
        while True:
            message = await ws.next("upload")
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            states.append(message["payload"]["data"]["imageProcessed"])
    assert [s["status"] for s in states] == ["PROCESSING", "READY"], states
    image = states[-1]["image"]
    assert image["width"] == 1000, image
    variants = {v["name"]: v["url"] for v in image["variants"]}
    assert {name.split(".")[0] for name in variants} == {"320w", "800w"}, variants
    served = await asyncio.to_thread(requests.get, next(iter(variants.values())), timeout=30)
    assert served.status_code == 200, served.text[:500]
    assert served.headers["Content-Type"].startswith("image/"), served.headers


def login(http: requests.Session, base: str) -> None:
    """Through the admin's login form, as a person would: its CSRF cookie, then the POST."""
    http.get(f"{base}/admin/login/", timeout=30).raise_for_status()
    response = http.post(
        f"{base}/admin/login/?next=/admin/",
        data={
            "username": USERNAME,
            "password": PASSWORD,
            "next": "/admin/",
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:500]
    assert "sessionid" in http.cookies, "the login set no session cookie"
