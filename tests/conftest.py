"""Shared fixtures: a moto server over real HTTP, users, and a GraphQL client."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from django.test import Client
from moto.server import ThreadedMotoServer

from asyncimg.signals import upload_failed

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

BUCKET = "asyncimg-test"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server speaking the S3/SQS HTTP APIs on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str, settings: Any) -> Any:
    """Settings pointed at the moto server, with an empty bucket; returns a boto3 S3 client."""
    settings.ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = moto_endpoint
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = BUCKET
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return client


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="alice", password="pw")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="mallory", password="pw")


GraphQL = Callable[..., dict[str, Any]]


def graphql_client(client: Client) -> GraphQL:
    """POST a GraphQL operation the way a browser does (session cookie + CSRF header)."""

    def run(query: str, variables: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        if "csrftoken" not in client.cookies:
            client.get("/graphql/", HTTP_ACCEPT="text/html")
        response = client.post(
            "/graphql/",
            data=json.dumps({"query": query, "variables": variables or {}}),
            content_type="application/json",
            HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
            **extra,
        )
        assert response.status_code in (200, 400), response.content
        result: dict[str, Any] = response.json()
        return result

    return run


@pytest.fixture
def gql(client: Client, user: Any) -> GraphQL:
    """GraphQL as the logged-in user ``alice``."""
    client.force_login(user)
    return graphql_client(client)


@pytest.fixture
def anon_gql(client: Client) -> GraphQL:
    return graphql_client(client)


def error_codes(result: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors") or []]


@pytest.fixture
def failed_signals() -> Iterator[list[str]]:
    """Ids of the uploads ``upload_failed`` is sent for, in order."""
    received: list[str] = []
    upload_failed.connect(
        lambda **kw: received.append(kw["state"].id), weak=False, dispatch_uid="failed-signals"
    )
    yield received
    upload_failed.disconnect(dispatch_uid="failed-signals")
