"""The S3 backend's presigned GET URLs are exactly botocore's, only cheaper to make."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config

from asyncimg.storage.s3 import S3Backend
from asyncimg.storage.sigv4 import ObjectUrlBase, presign_get, presign_post

KEYS = ["processed/abc/320w.webp", "processed/a b+c/ü 東京 (1).jpg", "x/~tilde/%percent.jpg"]


def botocore_client(endpoint: str | None, region: str, token: str | None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
        config=Config(
            signature_version="s3v4", s3={"addressing_style": "path" if endpoint else "virtual"}
        ),
    )


def botocore_url(endpoint: str | None, region: str, key: str, token: str | None) -> str:
    client = botocore_client(endpoint, region, token)
    url: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": "my-bucket", "Key": key}, ExpiresIn=3600
    )
    return url


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(
    ("endpoint", "region", "token"),
    [
        (None, "us-east-1", None),
        (None, "eu-west-1", "SESSION/TOKEN+="),
        ("http://127.0.0.1:9", "us-east-1", None),
    ],
)
def test_identical_to_botocore(
    key: str, endpoint: str | None, region: str, token: str | None
) -> None:
    expected = botocore_url(endpoint, region, key, token)
    base = botocore_url(endpoint, region, "k", token).split("?", 1)[0][:-1]
    stamp = parse_qs(urlsplit(expected).query)["X-Amz-Date"][0]
    now = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = presign_get(
        ObjectUrlBase(base),
        key,
        region=region,
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token=token,
        expires_in=3600,
        now=now,
    )
    assert ours == expected


def test_backend_urls_fetch_the_object(s3: Any, moto_endpoint: str) -> None:
    s3.put_object(Bucket="asyncimg-test", Key="processed/a b/ü.jpg", Body=b"bytes")
    backend = S3Backend(bucket="asyncimg-test", endpoint_url=moto_endpoint)
    url = backend.url("processed/a b/ü.jpg")
    assert "X-Amz-Signature=" in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"bytes"


def test_media_url_skips_signing() -> None:
    backend = S3Backend(bucket="b", media_url="https://cdn.example.com/")
    assert backend.url("processed/a b.jpg") == "https://cdn.example.com/processed/a%20b.jpg"


FROZEN = datetime(2026, 11, 25, 16, 59, 58, tzinfo=UTC)


@pytest.mark.parametrize(
    ("endpoint", "region", "token", "key", "content_type"),
    [
        (None, "us-east-1", None, "temp/1f0e/cat.jpg", "image/jpeg"),
        (None, "eu-west-1", "SESSION/TOKEN+=", 'temp/9a/ü 東京 "q" (1).png', "image/png"),
        ("http://127.0.0.1:9", "us-east-1", None, "temp/x/a+b.webp", "image/webp"),
    ],
)
def test_post_policy_identical_to_botocore(
    monkeypatch: Any,
    endpoint: str | None,
    region: str,
    token: str | None,
    key: str,
    content_type: str,
) -> None:
    # Same instant for both: botocore reads the clock in two places.
    import botocore.auth
    import botocore.signers

    for module in (botocore.auth, botocore.signers):
        monkeypatch.setattr(module, "get_current_datetime", lambda: FROZEN.replace(tzinfo=None))
    client = botocore_client(endpoint, region, token)
    expected = client.generate_presigned_post(
        Bucket="my-bucket",
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[
            {"bucket": "my-bucket"},
            ["eq", "$key", key],
            ["eq", "$Content-Type", content_type],
            ["content-length-range", 1, 12345],
        ],
        ExpiresIn=900,
    )
    ours = presign_post(
        expected["url"],
        bucket="my-bucket",
        key=key,
        content_type=content_type,
        max_size=12345,
        region=region,
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token=token,
        expires_in=900,
        now=FROZEN,
    )
    assert list(ours.items()) == list(expected["fields"].items())


def test_backend_post_url_and_expiry(moto_endpoint: str) -> None:
    backend = S3Backend(bucket="asyncimg-test", endpoint_url=moto_endpoint)
    before = datetime.now(UTC)
    post = backend.presigned_post(
        key="temp/1/cat.jpg", content_type="image/jpeg", max_size=10, expires_in=600
    )
    assert post.url == f"{moto_endpoint}/asyncimg-test"
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    expiration = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert post.expires_at == expiration
    assert 599 <= (expiration - before).total_seconds() <= 601
    virtual = S3Backend(bucket="asyncimg-test", region="eu-west-1")
    assert virtual._post_url == "https://asyncimg-test.s3.eu-west-1.amazonaws.com/"
