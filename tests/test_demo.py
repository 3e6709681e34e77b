"""``manage.py demo`` and its pieces: bucket provisioning on moto, the page, the whole process."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
import requests
from django.test import Client

from asyncimg.aws import NOTIFICATION_ID, bucket_cors
from bench.e2e import DemoClient
from config.embedded import DemoProcess, loopback_for, origins_for, provision
from tests.images import SVG, jpeg_bytes

# --- pieces ---------------------------------------------------------------------------------------


def test_origins_cover_the_names_of_loopback() -> None:
    assert origins_for("127.0.0.1", 8000) == [
        "http://127.0.0.1:8000",
        "http://[::1]:8000",
        "http://localhost:8000",
    ]
    assert "http://demo.local:80" in origins_for("demo.local", 80)
    assert origins_for("0.0.0.0", 1) == origins_for("127.0.0.1", 1)


def test_loopback_for_wildcards() -> None:
    assert loopback_for("0.0.0.0") == "127.0.0.1"
    assert loopback_for("::") == "[::1]"
    assert loopback_for("::1") == "[::1]"
    assert loopback_for("localhost") == "localhost"


def test_cors_rules_allow_post_and_get_from_the_origins_only() -> None:
    rules = bucket_cors(["http://b", "http://a", "http://a"])["CORSRules"]
    assert rules == [
        {
            "AllowedOrigins": ["http://a", "http://b"],
            "AllowedMethods": ["POST", "GET", "HEAD"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag", "Location"],
            "MaxAgeSeconds": 3000,
        }
    ]


@pytest.mark.django_db
def test_the_bundled_project_serves_graphql_over_wsgi() -> None:
    """README: HTTP can stay on WSGI (gunicorn ``config.wsgi:application``) beside uvicorn."""
    from wsgiref.util import setup_testing_defaults

    from config.wsgi import application

    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/graphql/",
        "QUERY_STRING": "query=%7B%20__typename%20%7D",
        "HTTP_ACCEPT": "application/json",
    }
    setup_testing_defaults(environ)
    answered: list[str] = []
    chunks = application(environ, lambda status, headers, *_: answered.append(status))
    assert answered == ["200 OK"]
    assert json.loads(b"".join(chunks)) == {"data": {"__typename": "Query"}}


def test_provision_configures_bucket_queue_and_notification(moto_endpoint: str) -> None:
    provisioned = provision(
        moto_endpoint,
        bucket="demo-provision",
        queue="demo-provision",
        origins=["http://127.0.0.1:9"],
        prefix="temp/",
    )
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert s3.get_bucket_cors(Bucket="demo-provision")["CORSRules"][0]["AllowedOrigins"] == [
        "http://127.0.0.1:9"
    ]
    notification = s3.get_bucket_notification_configuration(Bucket="demo-provision")
    [queue_config] = notification["QueueConfigurations"]
    assert queue_config["Id"] == NOTIFICATION_ID
    assert queue_config["QueueArn"] == provisioned.queue_arn
    attributes = sqs.get_queue_attributes(QueueUrl=provisioned.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    policy = json.loads(attributes["Policy"])
    assert policy["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] == (
        "arn:aws:s3:::demo-provision"
    )
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 5

    # Idempotent: the demo provisions again on every start.
    again = provision(
        moto_endpoint,
        bucket="demo-provision",
        queue="demo-provision",
        origins=["http://127.0.0.1:9"],
        prefix="temp/",
    )
    assert again.queue_url == provisioned.queue_url

    # moto delivers the notification, like AWS: created objects under the prefix only.
    s3.put_object(Bucket="demo-provision", Key="elsewhere/x.jpg", Body=b"x")
    s3.put_object(Bucket="demo-provision", Key="temp/abc/red flower.jpg", Body=b"x")
    keys = []
    for _ in range(5):
        response = sqs.receive_message(
            QueueUrl=provisioned.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in response.get("Messages", []):
            body = json.loads(message["Body"])
            keys += [unquote_plus(r["s3"]["object"]["key"]) for r in body.get("Records", [])]
        if keys:
            break
    assert keys == ["temp/abc/red flower.jpg"]


# --- the page -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_page_sets_the_csrf_cookie_and_no_session(client: Client, settings: Any) -> None:
    """Sessions are made by the first upload request (a page view would make one per cookie-less
    GET, free to sidestep the per-owner limits with)."""
    settings.ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS = True
    response = client.get("/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert "sessionid" not in response.cookies
    html = response.content.decode()
    assert 'from "/static/asyncimg/client.js"' in html
    assert 'graphqlUrl: "/graphql/"' in html
    assert 'href="/graphql/?q=%23+Your+uploads' in html  # GraphiQL opens with an example
    assert 'accept="image/jpeg,' in html
    assert "svg" not in html.split('accept="', 1)[1].split('"', 1)[0]


@pytest.mark.django_db
def test_page_creates_no_session_when_anonymous_uploads_are_off(
    client: Client, settings: Any
) -> None:
    settings.ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS = False
    response = client.get("/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert "sessionid" not in response.cookies


# --- the whole demo -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    with DemoProcess(tmp_path_factory.mktemp("demo")) as process:
        yield process


def moto_url(demo: DemoProcess) -> str:
    return next(
        line.split("S3 / SQS:", 1)[1].split()[0] for line in demo.output if "S3 / SQS:" in line
    )


async def upload_and_follow(client: DemoClient, name: str, data: bytes) -> list[dict[str, Any]]:
    ticket = await asyncio.to_thread(client.request_upload, name, "image/jpeg", len(data))
    seen = []
    async with client.websocket() as subs:
        sub_id = await subs.subscribe(ticket["upload"]["id"])
        updates = subs.updates(sub_id)
        _, first = await anext(updates)
        seen.append(first)
        await asyncio.to_thread(client.post_to_storage, ticket, name, data)
        async for _, upload in updates:
            seen.append(upload)
    return seen


@pytest.mark.slow
def test_demo_serves_page_graphiql_and_static_client(demo: DemoProcess) -> None:
    assert demo.url.startswith("http://127.0.0.1:")
    page = requests.get(demo.url, timeout=5)
    assert page.status_code == 200
    assert set(page.cookies.keys()) == {"csrftoken"}  # the session comes with the first upload
    script = requests.get(demo.url + "static/asyncimg/client.js", timeout=5)
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert re.search(r"export\s*\{[^}]*\bcreateClient\b", script.text)  # the built bundle
    graphiql = requests.get(demo.url + "graphql/", headers={"Accept": "text/html"}, timeout=5)
    assert "GraphiQL" in graphiql.text
    # Reachable, and refusing what is not signed with the generated secret.
    callback = requests.post(demo.url + "async_image/callback/", data=b"{}", timeout=5)
    assert callback.status_code == 401


@pytest.mark.slow
def test_demo_bucket_allows_the_page_origin_to_post(demo: DemoProcess) -> None:
    origin = demo.url.rstrip("/")
    preflight = requests.options(
        moto_url(demo) + "/asyncimg-demo",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=5,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


@pytest.mark.slow
def test_demo_processes_an_anonymous_upload_to_ready(demo: DemoProcess) -> None:
    client = DemoClient(demo.url)
    seen = asyncio.run(upload_and_follow(client, "red flower.jpg", jpeg_bytes(1000, 750)))
    statuses = [u["status"] for u in seen]
    assert statuses[0] == "PENDING"
    assert statuses[-1] == "READY", seen
    assert "PROCESSING" in statuses
    image = seen[-1]["image"]
    assert (image["width"], image["height"], image["format"]) == (1000, 750, "jpeg")
    variant = requests.get(image["variants"][0]["url"], timeout=5)
    assert variant.status_code == 200
    assert variant.content[:3] == b"\xff\xd8\xff" or variant.content[8:12] == b"WEBP"


@pytest.mark.slow
def test_demo_reports_a_file_that_is_not_an_image(demo: DemoProcess) -> None:
    client = DemoClient(demo.url)
    # Declared as JPEG (the mutation accepts it), but the processor sniffs the bytes.
    seen = asyncio.run(upload_and_follow(client, "fake.jpg", SVG))
    assert seen[-1]["status"] == "FAILED"
    assert seen[-1]["error"]["code"] == "UNSUPPORTED_TYPE"


@pytest.mark.slow
def test_demo_refuses_svg_with_a_graphql_error(demo: DemoProcess) -> None:
    client = DemoClient(demo.url)
    result = client.graphql(
        "mutation($i: RequestImageUploadInput!) { requestImageUpload(input: $i) "
        "{ upload { id } } }",
        {"i": {"filename": "x.svg", "contentType": "image/svg+xml", "size": 10}},
    )
    assert result["errors"][0]["extensions"]["code"] == "UNSUPPORTED_CONTENT_TYPE"


def port_open(url: str) -> bool:
    host, port = url.split("//", 1)[1].split(":")
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port.rstrip("/")))) == 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_stops_everything_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    process = DemoProcess(tmp_path)
    process.start()
    moto = moto_url(process)
    assert port_open(process.url)
    assert port_open(moto)
    assert (tmp_path / "db.sqlite3").exists()

    assert process.stop(sig) == 0, "".join(process.output)
    assert not port_open(process.url)
    assert not port_open(moto)
    assert "Traceback" not in "".join(process.output)
    # The SQLite database was switched to WAL (file format bytes 18-19 are 2 in WAL mode).
    assert (tmp_path / "db.sqlite3").read_bytes()[18:20] == b"\x02\x02"


@pytest.mark.slow
def test_demo_fails_fast_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            env={"ASYNCIMG_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
            cwd=Path(__file__).resolve().parent.parent,
            check=False,
        )
    assert result.returncode != 0
    assert "Address already in use" in result.stderr + result.stdout
