"""The S3 backend: credentials and URLs signed by botocore, against moto server over HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import requests

from asyncimg.storage.s3 import S3Backend


def test_policy_fixes_every_condition(moto_endpoint: str) -> None:
    """The client chooses nothing it signs: bucket, exact key, exact type and the size range."""
    backend = S3Backend(bucket="asyncimg-test", endpoint_url=moto_endpoint)
    key = 'temp/9a/ü 東京 "q" (1).png'
    post = backend.presigned_post(key=key, content_type="image/png", max_size=12345, expires_in=60)
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    conditions = policy["conditions"]
    assert {"bucket": "asyncimg-test"} in conditions
    assert ["eq", "$key", key] in conditions
    assert ["eq", "$Content-Type", "image/png"] in conditions
    assert ["content-length-range", 1, 12345] in conditions
    assert post.fields["key"] == key
    assert post.fields["Content-Type"] == "image/png"


def test_presigned_post_uploads_to_moto(s3: Any, moto_endpoint: str) -> None:
    backend = S3Backend(bucket="asyncimg-test", endpoint_url=moto_endpoint)
    post = backend.presigned_post(
        key="temp/1/a b.jpg", content_type="image/jpeg", max_size=100, expires_in=60
    )
    response = requests.post(
        post.url, data=post.fields, files={"file": ("a b.jpg", b"\xff\xd8data")}, timeout=10
    )
    assert response.status_code == 204
    assert backend.head("temp/1/a b.jpg") is not None


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
    virtual_post = virtual.presigned_post(
        key="temp/1/cat.jpg", content_type="image/jpeg", max_size=10, expires_in=600
    )
    assert virtual_post.url == "https://asyncimg-test.s3.eu-west-1.amazonaws.com/"
