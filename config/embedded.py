"""The whole system in one process tree, for ``manage.py demo``, the browser test and the benchmark.

* a moto server (S3 + SQS over real HTTP) in a child process, provisioned the way the app needs a
  real bucket: CORS for the browser's POST, a queue, and the S3 → SQS ``ObjectCreated``
  notification on the temporary prefix (see :func:`bucket_cors`, :func:`queue_notification`);
* the Django settings the app reads lazily, pointed at it (:func:`configure_settings`);
* the processor's :class:`~asyncimg_processor.worker.SqsWorker` in a thread (built like
  ``manage.py asyncimg_worker`` builds it), running the same
  :func:`~asyncimg_processor.handler.handle_event` as the Lambda and calling back over HTTP;
* the ASGI application served by uvicorn with ONE worker: with the in-memory channel layer the
  callback and the websocket subscribers must share a process.

The bucket's CORS, notification and queue policy come from :mod:`asyncimg.aws`, the builders
``manage.py asyncimg_doctor`` prints as fixes: the demo's bucket is set up exactly as the doctor
asks of a real one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncimg.aws import bucket_cors, queue_notification, queue_policy

logger = logging.getLogger(__name__)


class DemoError(RuntimeError):
    """The demo cannot start; the message says why and what to do."""


#: SQS long poll of the demo worker. moto (like SQS) answers a long poll as soon as a message
#: arrives, so this only bounds how long shutting down waits for the poll in progress.
WORKER_WAIT_SECONDS = 1


def origins_for(host: str, port: int) -> list[str]:
    """Origins a local browser may use to reach a server bound to ``host``:``port``."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host not in {"0.0.0.0", "::", ""}:  # noqa: S104 - naming the wildcard, not binding it
        names.add(f"[{host}]" if ":" in host else host)
    return sorted(f"http://{name}:{port}" for name in names)


@dataclass(frozen=True)
class Provisioned:
    bucket: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str


def provision(
    endpoint_url: str,
    *,
    bucket: str,
    queue: str,
    origins: Iterable[str],
    prefix: str,
    region: str = "us-east-1",
) -> Provisioned:
    """Create (or update) the bucket, its CORS rules, the queue with a dead-letter queue and the
    S3 → SQS notification, exactly as on AWS. Idempotent."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
    sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=bucket_cors(origins))  # type: ignore[arg-type]

    dlq_url = sqs.create_queue(QueueName=f"{queue}-dlq")["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=queue,
        Attributes={
            # Longer than the processing of a 12 MP photo; a crashed worker's message comes back.
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": json.dumps(queue_policy(queue_arn, bucket))}
    )
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration=queue_notification(queue_arn, prefix),  # type: ignore[arg-type]
    )
    return Provisioned(bucket, queue_url, queue_arn, dlq_url)


def _queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


# --- moto server --------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM when the demo dies, even by SIGKILL, so no moto is left behind.
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class MotoServer:
    """``python -m moto.server`` in a child process: its own interpreter (and GIL), so S3/SQS
    work runs beside the ASGI server and the worker, as the real services would."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        with contextlib.ExitStack() as stack:
            log: Any = subprocess.DEVNULL
            if self.log_path is not None:
                # One log per run: the worker polls every second, a log kept across runs grows.
                log = stack.enter_context(open(self.log_path, "wb"))
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Out of the terminal's process group: Ctrl-C reaches the demo only, which stops
                # the worker before moto, so nothing logs a connection error on the way out.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DemoError(
                    f"moto server exited with code {self.process.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise DemoError(f"moto server not ready at {self.url} after {timeout:.0f} s")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- Django settings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedSettings:
    endpoint_url: str
    bucket: str
    queue_url: str
    callback_url: str
    callback_secret: str = field(repr=False)
    region: str = "us-east-1"
    allowed_host: str | None = None


def configure_settings(values: EmbeddedSettings) -> None:
    """Point the app at the embedded services. ``asyncimg.conf.app_settings`` reads settings on
    every access, so setting them at run time (after ``config.settings`` was imported) works."""
    from django.conf import settings

    settings.ASYNC_IMAGE_UPLOAD_BUCKET = values.bucket
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = values.endpoint_url
    settings.ASYNC_IMAGE_UPLOAD_REGION = values.region
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = values.queue_url
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = values.callback_url
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = [values.callback_secret]
    # Anonymous visitors upload; their uploads belong to their session. GraphiQL is on.
    settings.ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS = True
    settings.ASYNC_IMAGE_UPLOAD_GRAPHIQL = True
    settings.ASYNC_IMAGE_UPLOAD_GRAPHQL_INTROSPECTION = True
    # Processed images are served by moto with presigned GET URLs, not from a CDN.
    settings.ASYNC_IMAGE_UPLOAD_MEDIA_URL = None
    host = values.allowed_host
    if host and host not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]


def tune_sqlite() -> None:
    """WAL and ``BEGIN IMMEDIATE`` for a SQLite database: every ASGI request runs its database
    work in its own thread, and concurrent writers then wait for the lock instead of failing
    with "database is locked" when a read transaction tries to upgrade."""
    from django.db import connections

    options = connections.settings["default"].setdefault("OPTIONS", {})
    if connections.settings["default"]["ENGINE"] == "django.db.backends.sqlite3":
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")


# --- the worker ---------------------------------------------------------------------------------


class WorkerThread:
    """Runs a worker in a daemon thread; :meth:`stop` waits for the message in hand."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=self._run, name="asyncimg-worker", daemon=True)

    def _run(self) -> None:
        while not self.worker.stopping:
            try:
                self.worker.run()
            except Exception:
                # moto restarting or a network blip: keep the demo's worker alive.
                logger.exception("asyncimg demo worker: poll failed; retrying in 1 s")
                time.sleep(1)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = WORKER_WAIT_SECONDS + 10) -> None:
        self.worker.stop()
        self.thread.join(timeout)


# --- the whole thing ----------------------------------------------------------------------------


class Shutdown(Exception):
    """Raised in the main thread by SIGTERM (SIGINT raises KeyboardInterrupt)."""


def _raise_shutdown(signum: int, frame: Any) -> None:
    raise Shutdown(signal.Signals(signum).name)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts: a busy port fails at once, and
    ``port=0`` picks a free one whose number the callback URL and the CORS rules can use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP; with
    # proto 0, every response after the first on a keep-alive connection waits ~40 ms for a
    # delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DemoError(
            f"Cannot listen on {host}:{port}: {exc.strerror}. Choose another --port (0 picks a "
            "free one) or stop what is using it."
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def loopback_for(host: str) -> str:
    """The address this machine uses to reach a server bound to ``host``."""
    if host in {"0.0.0.0", ""}:  # noqa: S104 - naming the wildcard, not binding it
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


@dataclass
class Demo:
    """``manage.py demo``: start everything, serve until a signal, stop everything in order."""

    host: str = "127.0.0.1"
    port: int = 8000
    bucket: str = "asyncimg-demo"
    queue: str = "asyncimg-demo-uploads"
    log_level: str = "info"
    access_log: bool = False
    out: Any = sys.stdout
    #: ``BaseCommand.check``: the system checks, run once the settings point at the services.
    checks: Callable[[], Any] | None = None
    moto: MotoServer | None = None
    worker: WorkerThread | None = None

    def run(self) -> None:
        from django.conf import settings

        previous = signal.signal(signal.SIGTERM, _raise_shutdown)
        sock = bind(self.host, self.port)
        try:
            port = int(sock.getsockname()[1])
            data_dir = Path(getattr(settings, "DATA_DIR", Path.cwd() / "var"))
            data_dir.mkdir(parents=True, exist_ok=True)
            self.moto = MotoServer(log_path=data_dir / "moto.log")
            self.moto.start()
            # Migrating overlaps moto's start-up.
            self._migrate()
            self.moto.wait_ready()
            values = self._provision(port)
            configure_settings(values)
            if self.checks is not None:
                self.checks()
            from asyncimg.management.commands.asyncimg_worker import build_worker

            # The same handler as the Lambda, with the settings just configured.
            self.worker = WorkerThread(build_worker(wait_time=WORKER_WAIT_SECONDS))
            self.worker.start()
            self._serve(sock, port)
        except (KeyboardInterrupt, Shutdown):
            pass
        finally:
            sock.close()
            self.stop()
            signal.signal(signal.SIGTERM, previous)

    def _migrate(self) -> None:
        from django.core.management import call_command
        from django.db import connections

        tune_sqlite()
        call_command("migrate", interactive=False, verbosity=0)
        connections.close_all()

    def _provision(self, port: int) -> EmbeddedSettings:
        from asyncimg.conf import app_settings

        assert self.moto is not None
        # boto3 must not look for real credentials: moto accepts any.
        os.environ["AWS_ACCESS_KEY_ID"] = "demo"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "demo"  # noqa: S105 - moto's fake credentials
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        provisioned = provision(
            self.moto.url,
            bucket=self.bucket,
            queue=self.queue,
            origins=origins_for(self.host, port),
            prefix=app_settings.TEMPORARY_IMAGE_PATH,
        )
        return EmbeddedSettings(
            endpoint_url=self.moto.url,
            bucket=provisioned.bucket,
            queue_url=provisioned.queue_url,
            callback_url=f"http://{loopback_for(self.host)}:{port}/async_image/callback/",
            callback_secret=secrets.token_urlsafe(32),
            allowed_host=None if self.host in {"0.0.0.0", "::", ""} else self.host,  # noqa: S104
        )

    def _serve(self, sock: socket.socket, port: int) -> None:
        import asyncio

        import uvicorn
        from django.conf import settings
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
        from django.utils.module_loading import import_string

        from asyncimg.conf import app_settings

        # The project's own ASGI application (the bundled project's is config.asgi).
        application = import_string(settings.ASGI_APPLICATION)

        config = uvicorn.Config(
            # Static files (the client module) straight from the app directories: no collectstatic.
            ASGIStaticFilesHandler(application),
            lifespan="off",
            log_level=self.log_level,
            access_log=self.access_log,
            workers=1,
            timeout_graceful_shutdown=2,
            # A websocket message larger than a GraphQL request may be is refused by uvicorn
            # before it is even buffered in full (the consumer checks again).
            ws_max_size=app_settings.GRAPHQL_MAX_BYTES,
        )
        server = uvicorn.Server(config)

        async def serve() -> None:
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():
                await asyncio.sleep(0.02)
            if server.started:
                self._banner(port)
            await task

        asyncio.run(serve())

    def _banner(self, port: int) -> None:
        base = f"http://{loopback_for(self.host)}:{port}"
        assert self.moto is not None
        self.out.write(
            "\nasyncimg demo is running (SQLite, moto S3+SQS, in-process worker, one ASGI server)\n"
            f"  Demo page:  {base}/\n"
            f"  GraphiQL:   {base}/graphql/\n"
            f"  S3 / SQS:   {self.moto.url} (moto)\n"
            "Press Ctrl-C to stop.\n"
        )
        self.out.flush()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None


# --- the demo as a child process (tests, benchmark) ---------------------------------------------

#: Variables that would point the demo away from its embedded defaults.
_FOREIGN_ENV = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "ASYNCIMG_DATA_DIR")


class DemoProcess:
    """``manage.py demo --port 0`` in a child process with its own data directory and nothing of
    the caller's configuration; :attr:`url` is the page's URL once it is serving."""

    def __init__(self, data_dir: Path, *, timeout: float = 60.0, verbosity: int = 0) -> None:
        self.data_dir = data_dir
        self.timeout = timeout
        self.verbosity = verbosity
        self.url = ""
        self.output: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> DemoProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        import queue

        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
        env.update(
            ASYNCIMG_DATA_DIR=str(self.data_dir),
            DJANGO_SETTINGS_MODULE="config.settings",
            PYTHONUNBUFFERED="1",
        )
        manage = Path(__file__).resolve().parent.parent / "manage.py"
        self.process = subprocess.Popen(
            [sys.executable, str(manage), "demo", "--port", "0", "-v", str(self.verbosity)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=manage.parent,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                self.output.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, name="demo-output", daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while not self.url:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError("the demo did not start:\n" + "".join(self.output))
            if "Demo page:" in line:
                self.url = line.split("Demo page:", 1)[1].strip()

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Send ``sig`` and wait; the exit code (None if it had to be killed)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode
