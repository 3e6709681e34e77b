"""The benchmark project with its peers (``bench/peers``) on PostgreSQL and a moto server, and the
HTTP calls each product's own client makes, for bench/presign.py and bench/lifecycle.py.

Everything runs in processes of its own: the server whose CPU is read from /proc serves Django
only; moto (the peers' S3 calls) and the clients are other processes, so their CPU is not
counted against any product.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from bench._support import ROOT, UvicornServer, cpu_seconds, free_port, wait_for_port

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
CSRF = "b" * 32  # a browser's csrftoken cookie, echoed in the X-CSRFToken header
MUTATION = """mutation($inputs: [RequestImageUploadInput!]!) {
  requestImageUploads(inputs: $inputs) {
    upload { id status expiresAt } presignedPost { url fields expiresAt method headers }
  }
}"""
SESSIONS = """
import json
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, BACKEND_SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
keys = []
for i in range({users}):
    user = User.objects.create_user(f"bench{{i}}", password="unused-password")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    keys.append(session.session_key)
print(json.dumps(keys))
"""


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", sql], check=True, capture_output=True)


class GunicornServer(UvicornServer):
    """``gunicorn`` serving the WSGI application, one process with ``threads`` threads: the
    README's WSGI deployment for HTTP."""

    def __init__(self, env: dict[str, str], *, threads: int = 16, name: str = "wsgi") -> None:
        super().__init__(env, name=name, app="bench.peers.wsgi:application")
        self.threads = threads

    def start(self) -> None:
        args = [sys.executable, "-m", "gunicorn", self.app, "-b", f"127.0.0.1:{self.port}"]
        args += ["--workers", "1", "--threads", str(self.threads), "-k", "gthread"]
        args += ["--keep-alive", "75", "--backlog", "2048"]
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, self.process)
        # gunicorn's master only forks: the worker is what serves (and what spends the CPU).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self._children():
            time.sleep(0.05)

    def _children(self) -> list[int]:
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid) + sum(cpu_seconds(p) for p in self._children())


@dataclass
class Project:
    """The benchmark project's database, moto server and logged-in sessions."""

    db: str
    users: int
    env: dict[str, str] = field(default_factory=dict)
    sessions: list[str] = field(default_factory=list)
    moto: subprocess.Popen[bytes] | None = None
    s3_endpoint: str = ""

    def start(self) -> None:
        # A terminated run still stops its servers and drops its database (the finally blocks).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        psql(f"DROP DATABASE IF EXISTS {self.db}")
        psql(f"CREATE DATABASE {self.db}")
        port = free_port()
        self.moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, self.moto)
        self.s3_endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1")
        for bucket in ("bench-peers", "bench-proxied", "asyncimg-bench"):
            s3.create_bucket(Bucket=bucket)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.peers.settings",
            "DATABASE_URL": f"{PG}/{self.db}",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'lambda'}",
            "BENCH_S3_ENDPOINT": self.s3_endpoint,
        }
        self.manage("migrate", "-v0")
        out = self.manage("shell", "-c", SESSIONS.format(users=self.users))
        self.sessions = json.loads(out.strip().splitlines()[-1])

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def stop(self) -> None:
        if self.moto is not None:
            self.moto.terminate()
            self.moto.wait(10)
        psql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")


class Client:
    """One browser-like client: keep-alive HTTP, a session cookie, the CSRF header."""

    def __init__(self, base: str, session_key: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.cookies.set("sessionid", session_key)
        self.http.cookies.set("csrftoken", CSRF)
        self.http.headers["X-CSRFToken"] = CSRF
        self.http.headers["Referer"] = base + "/"

    def _ok(self, response: requests.Response) -> Any:
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
        return response.json()

    # --- ours ---------------------------------------------------------------------------------

    def mutation(self, name: str = "photo.jpg", size: int = 1000) -> dict[str, Any]:
        body = {
            "query": MUTATION,
            "variables": {
                "inputs": [{"filename": name, "contentType": "image/jpeg", "size": size}]
            },
        }
        result = self._ok(
            self.http.post(
                f"{self.base}/graphql/",
                data=json.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
        )
        if "errors" in result:
            raise RuntimeError(str(result["errors"]))
        ticket: dict[str, Any] = result["data"]["requestImageUploads"][0]
        return ticket

    def whoami(self) -> None:
        self._ok(self.http.get(f"{self.base}/bench/whoami/", timeout=30))

    # --- django-s3direct (its JavaScript client, evaporate, signs each multipart step) ----------

    def s3direct_params(self, name: str = "photo.jpg") -> None:
        data = {"name": name, "type": "image/jpeg", "size": "1000", "dest": "photos"}
        self._ok(self.http.post(f"{self.base}/s3direct/get_upload_params/", data=data, timeout=30))

    def s3direct_signature(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{stamp[:8]}/us-east-1/s3/aws4_request\n" + "0" * 64
        data = {"to_sign": to_sign, "datetime": stamp, "dest": "photos"}
        self._ok(
            self.http.post(f"{self.base}/s3direct/get_aws_v4_signature/", data=data, timeout=30)
        )

    def s3direct_flow(self) -> None:
        """One photo through django-s3direct's client: the params, then a signature for each of
        evaporate's initiate, part and complete requests to S3 (which go to S3, not Django)."""
        self.s3direct_params()
        for _ in range(3):
            self.s3direct_signature()

    # --- django-s3-file-field -------------------------------------------------------------------

    def s3ff_initialize(self, name: str = "photo.jpg", size: int = 1000) -> dict[str, Any]:
        body = {
            "field_id": "peers.Photo.file",
            "file_name": name,
            "file_size": size,
            "content_type": "image/jpeg",
        }
        result: dict[str, Any] = self._ok(
            self.http.post(f"{self.base}/api/s3-upload/upload-initialize/", json=body, timeout=30)
        )
        return result

    def s3ff_flow(self, payload: bytes = b"x" * 1000) -> None:
        """One photo through django-s3-file-field's client: initialize (the server creates the
        multipart upload in S3), PUT the part to S3, complete (the server signs the completion),
        POST the completion to S3, finalize (the server HEADs the object)."""
        init = self.s3ff_initialize(size=len(payload))
        part = init["parts"][0]
        etag = requests.put(part["upload_url"], data=payload, timeout=30).headers["ETag"]
        done = self._ok(
            self.http.post(
                f"{self.base}/api/s3-upload/upload-complete/",
                json={
                    "upload_signature": init["upload_signature"],
                    "upload_id": init["upload_id"],
                    "parts": [{"part_number": 1, "size": len(payload), "etag": etag}],
                },
                timeout=30,
            )
        )
        completed = requests.post(done["complete_url"], data=done["body"], timeout=30)
        completed.raise_for_status()
        self._ok(
            self.http.post(
                f"{self.base}/api/s3-upload/finalize/",
                json={"upload_signature": init["upload_signature"]},
                timeout=30,
            )
        )


def unique_name() -> str:
    return f"photo-{uuid.uuid4().hex[:12]}.jpg"
