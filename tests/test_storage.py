"""The S3 backend's presigned GET URLs are exactly botocore's, only cheaper to make."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config

from asyncimg.storage.s3 import S3Backend
from asyncimg.storage.sigv4 import ObjectUrlBase, presign_get

KEYS = ["processed/abc/320w.webp", "processed/a b+c/ü 東京 (1).jpg", "x/~tilde/%percent.jpg"]


def botocore_url(endpoint: str | None, region: str, key: str, token: str | None) -> str:
    client = boto3.client(
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
