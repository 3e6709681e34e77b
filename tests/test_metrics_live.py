"""Prometheus metrics of real server processes: a real upload (GraphQL over HTTP → POST to moto's
S3 → SQS → worker → the processor's signed callbacks) and a rejected callback move the scraped
counters by exactly the expected amounts; two servers sharing ``PROMETHEUS_MULTIPROC_DIR`` answer
for each other; a real Prometheus (Debian's package) scrapes a server; promtool accepts the
alert rules of docs/observability/alerts.yml."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from asgiref.sync import sync_to_async
from django.db import connections
from prometheus_client.parser import text_string_to_metric_families

from asyncimg.management.commands.asyncimg_worker import build_worker
from config.embedded import provision
from tests.callbacks import callback_body
from tests.images import jpeg_bytes
from tests.live import ROOT, AsgiServer, GraphQLWS, free_port, running, wait_for_port
from tests.tokens import make_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TOKEN = "scrape-token-for-the-tests"
BUCKET = "asyncimg-metrics"
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
REQUEST = """
mutation($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) { upload { id } presignedPost { url fields } }
}
"""
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: AsgiServer, token: str = TOKEN) -> Samples:
    response = requests.get(
        f"{server.url}/async_image/metrics/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def need(program: str) -> str:
    """Debian's ``prometheus`` package (promtool included); scripts/test-deps installs it. Not a
    skip: CI must run these."""
    path = shutil.which(program)
    assert path, f"{program} is missing: run scripts/test-deps (apt-get install prometheus)"
    return path


def metrics_env(moto_endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "ASYNC_IMAGE_UPLOAD_METRICS": "1",
        "ASYNC_IMAGE_UPLOAD_METRICS_TOKEN": TOKEN,
        "ASYNC_IMAGE_UPLOAD_ENDPOINT_URL": moto_endpoint,
        "ASYNCIMG_TEST_BUCKET": BUCKET,
        **extra,
    }


@pytest.fixture(scope="module")
def server(
    django_db_setup: Any, django_db_blocker: Any, moto_endpoint: str
) -> Iterator[AsgiServer]:
    live = AsgiServer(REDIS, name="metrics", env=metrics_env(moto_endpoint))
    with running(live):
        yield live


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> Any:
    yield
    await sync_to_async(connections.close_all)()


def upload_through(server: AsgiServer, user: Any, moto_endpoint: str, settings: Any) -> str:
    """One real upload: the credential from the server, the file to moto's S3, processed by the
    worker (in this process), whose callbacks go to the server."""
    provisioned = provision(
        moto_endpoint,
        bucket=BUCKET,
        queue="asyncimg-metrics-events",
        origins=[server.url],
        prefix="temp/",
    )
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = moto_endpoint
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = BUCKET
    settings.ASYNC_IMAGE_UPLOAD_QUEUE_URL = provisioned.queue_url
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = f"{server.url}/async_image/callback/"
    data = jpeg_bytes(800, 600)
    spec = {"filename": "cat.jpg", "contentType": "image/jpeg", "size": len(data)}
    answer = requests.post(
        f"{server.url}/graphql/",
        json={"query": REQUEST, "variables": {"input": spec}},
        headers={"Authorization": f"Bearer {make_token(user)}"},
        timeout=30,
    ).json()
    ticket = answer["data"]["requestImageUpload"]
    post = ticket["presignedPost"]
    stored = requests.post(
        post["url"],
        data=post["fields"],
        files={"file": ("cat.jpg", data, "image/jpeg")},
        timeout=30,
    )
    assert stored.status_code == 204, stored.text
    worker = build_worker(wait_time=1)
    worker.run(once=True)
    assert worker.stats.failed == 0
    return str(ticket["upload"]["id"])


def bad_callback(server: AsgiServer) -> requests.Response:
    body = callback_body("00000000-0000-4000-8000-000000000000", "processing")
    headers = {
        "X-Asyncimg-Timestamp": str(int(time.time())),
        "X-Asyncimg-Signature": "v1=" + "0" * 64,
        "Content-Type": "application/json",
    }
    return requests.post(
        f"{server.url}/async_image/callback/", data=body, headers=headers, timeout=30
    )


async def test_upload_and_rejected_callback_move_the_counters_exactly(
    server: AsgiServer, user: Any, moto_endpoint: str, settings: Any
) -> None:
    before = scrape(server)
    await sync_to_async(upload_through)(server, user, moto_endpoint, settings)
    rejected = await asyncio.to_thread(bad_callback, server)
    assert rejected.status_code == 401
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("asyncimg_credentials_issued_total", reused="false") == 1
    assert delta("asyncimg_credentials_issued_total", reused="true") == 0
    transitions = "asyncimg_upload_transitions_total"
    assert delta(transitions, **{"from": "PENDING", "to": "PROCESSING"}) == 1
    assert delta(transitions, **{"from": "PROCESSING", "to": "READY"}) == 1
    assert (
        sum(v for (n, _), v in after.items() if n == transitions)
        - sum(v for (n, _), v in before.items() if n == transitions)
        == 2
    )
    accepted = "asyncimg_callbacks_accepted_total"
    assert delta(accepted, event="processing", result="applied") == 1
    assert delta(accepted, event="succeeded", result="applied") == 1
    assert delta("asyncimg_callbacks_rejected_total", code="BAD_SIGNATURE") == 1
    assert delta("asyncimg_pushes_total", result="published") == 2
    assert delta("asyncimg_pushes_total", result="failed") == 0
    assert delta("asyncimg_processing_duration_seconds_count", outcome="ready") == 1
    assert delta("asyncimg_upload_to_ready_seconds_count") == 1
    assert delta("asyncimg_upload_to_ready_seconds_sum") > 0


def test_the_endpoint_wants_the_token(server: AsgiServer) -> None:
    url = f"{server.url}/async_image/metrics/"
    assert requests.get(url, timeout=30).status_code == 401
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert "asyncimg_" not in wrong.text


async def test_websocket_gauges_follow_connections(server: AsgiServer, user: Any) -> None:
    before = value(scrape(server), "asyncimg_websocket_connections")
    ws = await GraphQLWS.open(server)
    await ws.subscribe("1", "subscription { uploadEvents { id } }")
    # The subscription's task starts once the server read the frame: poll for it.
    for _ in range(100):
        samples = await asyncio.to_thread(scrape, server)
        if value(samples, "asyncimg_subscriptions") >= 1:
            break
        await asyncio.sleep(0.05)
    assert value(samples, "asyncimg_websocket_connections") == before + 1
    await ws.close()
    for _ in range(100):
        samples = await asyncio.to_thread(scrape, server)
        if value(samples, "asyncimg_websocket_connections") == before:
            break
        await asyncio.sleep(0.05)
    assert value(samples, "asyncimg_websocket_connections") == before
    assert value(samples, "asyncimg_subscriptions") == 0


def test_two_servers_share_one_multiprocess_view(
    django_db_setup: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = metrics_env(moto_endpoint, PROMETHEUS_MULTIPROC_DIR=str(shared))
    one = AsgiServer(REDIS, name="metrics-a", env=env)
    two = AsgiServer(REDIS, name="metrics-b", env=env)
    with running(one, two):
        for _ in range(2):
            assert bad_callback(one).status_code == 401
        for _ in range(3):
            assert bad_callback(two).status_code == 401
        for scraped in (scrape(one), scrape(two)):
            assert value(scraped, "asyncimg_callbacks_rejected_total", code="BAD_SIGNATURE") == 5


def test_a_real_prometheus_scrapes_the_server(server: AsgiServer, tmp_path: Path) -> None:
    port = free_port()
    target = server.url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "asyncimg",
                        "metrics_path": "/async_image/metrics/",
                        "authorization": {"type": "Bearer", "credentials": TOKEN},
                        "static_configs": [{"targets": [target]}],
                    }
                ],
            }
        )
    )
    process = subprocess.Popen(
        [
            need("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        targets: list[dict[str, Any]] = []
        for _ in range(150):
            answer = requests.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=10)
            # 503 "Service Unavailable" until Prometheus has opened its storage: not yet ready.
            if answer.status_code != 200:
                time.sleep(0.2)
                continue
            targets = answer.json()["data"]["activeTargets"]
            if targets and targets[0]["health"] == "up":
                break
            time.sleep(0.2)
        assert [t["health"] for t in targets] == ["up"], targets
        assert targets[0]["labels"]["instance"] == target
        query = requests.get(
            f"http://127.0.0.1:{port}/api/v1/query",
            params={"query": "count(asyncimg_websocket_connections)"},
            timeout=10,
        ).json()
        assert query["data"]["result"], query
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_promtool_accepts_the_alert_rules() -> None:
    rules = ROOT / "docs" / "observability" / "alerts.yml"
    result = subprocess.run(
        [need("promtool"), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rejects_a_broken_rule() -> None:
    """The check above can fail: promtool refuses a rule with a bad expression."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        handle.write("groups: [{name: x, rules: [{alert: X, expr: 'rate(foo[5m]'}]}]\n")
    try:
        result = subprocess.run(
            [need("promtool"), "check", "rules", handle.name], capture_output=True
        )
        assert result.returncode != 0
    finally:
        os.unlink(handle.name)


#: names the CloudWatch exporter provides (SQS), not the app
EXPORTER_METRICS = {"aws_sqs_approximate_number_of_messages_visible_maximum"}


def _expressions() -> list[str]:
    dashboard = json.loads((ROOT / "docs" / "observability" / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_queries_parse_and_name_real_metrics(server: AsgiServer) -> None:
    """Each panel's query passes promtool (as a recording rule) and names only metrics a server
    exposes (or the CloudWatch exporter's SQS depth)."""
    import re

    expressions = _expressions()
    assert len(expressions) >= 10
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"asyncimg:panel{i}", "expr": e} for i, e in enumerate(expressions)
                ],
            }
        ]
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        handle.write(json.dumps(rules))
    try:
        result = subprocess.run(
            [need("promtool"), "check", "rules", handle.name],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(handle.name)
    assert result.returncode == 0, result.stdout + result.stderr
    text = requests.get(
        f"{server.url}/async_image/metrics/",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    ).text
    families = re.findall(r"^# TYPE (asyncimg_\w+) (\w+)$", text, re.MULTILINE)
    suffixes = {"counter": [""], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    exposed = {name + end for name, kind in families for end in suffixes[kind]}
    for expression in expressions:
        for name in re.findall(r"\b(asyncimg_\w+|aws_\w+)", expression):
            assert name in exposed | EXPORTER_METRICS, (name, expression)
