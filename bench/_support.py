"""What the benchmark scripts need to run servers and send callbacks, without the test suite.

Benchmarks import nothing from ``tests/``: a process helper here may change without touching the
suite, and the suite's helpers may change without silently changing what a benchmark measures.
Callbacks are signed by the processor's own ``sign`` (the bodies are shaped as the processor
sends them), so the benchmark exercises exactly the contract the Lambda uses.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from asyncimg_processor.callback import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

ROOT = Path(__file__).resolve().parent.parent
#: the callback secret the benchmark servers are configured with
SECRET = "bench-callback-secret"


# --- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RedisServer:
    """A private redis-server on a free port: nothing else's keys or subscribers in the run."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        # No persistence: nothing of the run outlives it, and no fork for snapshots mid-run.
        persistence = ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class UvicornServer:
    """``uvicorn <app>`` (default: the bundled project) in its own process, with exactly the
    environment given, its output in a temporary log file."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        name: str = "server",
        extra_args: list[str] | None = None,
        app: str = "config.asgi:application",
    ) -> None:
        self.env = env
        self.app = app
        self.extra_args = extra_args or []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql/"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (open for the process' life)
            prefix=f"asyncimg-bench-{name}-", suffix=".log", delete=False
        )

    def start(self) -> None:
        args = [sys.executable, "-m", "uvicorn", self.app]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"]
        args += ["--lifespan", "off", *self.extra_args]
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid)


# --- processor callbacks --------------------------------------------------------------------------


def image_payload(upload_id: str) -> dict[str, Any]:
    """A ``succeeded`` callback's ``image``: an original and four variants (five object URLs to
    sign in the pushed state)."""
    base = f"processed/{upload_id}/"
    return {
        "key": base + "original.jpg",
        "width": 1600,
        "height": 1200,
        "format": "jpeg",
        "size": 123456,
        "variants": [
            {
                "name": f"{w}w.{fmt}",
                "width": w,
                "height": w * 3 // 4,
                "format": fmt,
                "key": f"{base}{w}w.{fmt}",
                "size": w * 10,
            }
            for w in (320, 800)
            for fmt in ("webp", "jpeg")
        ],
        "metadata": {"width": 1600, "height": 1200, "dominantColor": "#336699"},
    }


def callback_body(upload_id: str, event: str) -> bytes:
    body: dict[str, Any] = {
        "uploadId": upload_id,
        "event": event,
        "eventId": f"{upload_id}:{event}:{uuid.uuid4().hex[:8]}",
    }
    if event == "succeeded":
        body["image"] = image_payload(upload_id)
    return json.dumps(body).encode()


def signed_headers(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    """The processor's signature headers for ``body``, sent now."""
    timestamp = int(time.time())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}
