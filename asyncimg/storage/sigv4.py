"""Presigned S3 GET URLs and POST policies (AWS Signature Version 4) without botocore's request
machinery.

Every READY image carries a URL per variant, and a page of 100 uploads carries hundreds:
botocore's ``generate_presigned_url`` spends ~0.2 ms of CPU on each (request serialization, event
hooks); the signature itself is four HMACs, three of them the same all day (cached). Every
``requestImageUpload`` signs a POST policy: botocore's ``generate_presigned_post`` costs ~0.3 ms,
the policy and its HMAC a few microseconds. Both outputs are byte-for-byte botocore's
(``tests/test_storage.py`` compares them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class ObjectUrlBase:
    """Where a bucket's objects live: ``base`` + the encoded key is an object's URL."""

    base: str  # e.g. "https://bucket.s3.amazonaws.com/" or "http://127.0.0.1:5000/bucket/"

    @cached_property
    def host(self) -> str:
        return urlsplit(self.base).netloc

    @cached_property
    def path(self) -> str:
        return urlsplit(self.base).path


def encode_key(key: str) -> str:
    return quote(key, safe="/~")


@lru_cache(maxsize=64)
def _signing_key(secret_key: str, date: str, region: str) -> bytes:
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def presign_get(
    base: ObjectUrlBase,
    key: str,
    *,
    region: str,
    access_key: str,
    secret_key: str,
    token: str | None,
    expires_in: int,
    now: datetime,
) -> str:
    """The presigned GET URL of ``key``, valid ``expires_in`` seconds from ``now`` (UTC)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    scope, query, url_query = _query(access_key, amz_date, region, expires_in, token)
    encoded_key = encode_key(key)
    canonical = "\n".join(
        ["GET", base.path + encoded_key, query, f"host:{base.host}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signature = hmac.new(
        _signing_key(secret_key, date, region), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    return f"{base.base}{encoded_key}?{url_query}&X-Amz-Signature={signature}"


@lru_cache(maxsize=16)
def _query(
    access_key: str, amz_date: str, region: str, expires_in: int, token: str | None
) -> tuple[str, str, str]:
    """Scope, canonical query string and the URL's query (without the signature). The same for
    every URL signed within one second: a READY image's variants share it."""
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    params = {
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires_in),
        "X-Amz-SignedHeaders": "host",
    }
    if token:
        params["X-Amz-Security-Token"] = token
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items())
    )
    # botocore's parameter order, so that the URL is identical to its own.
    ordered = [
        (name, params[name])
        for name in (
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Security-Token",
        )
        if name in params
    ]
    return scope, query, "&".join(f"{k}={quote(v, safe='-_.~')}" for k, v in ordered)


def presign_post(
    url: str,
    *,
    bucket: str,
    key: str,
    content_type: str,
    max_size: int,
    region: str,
    access_key: str,
    secret_key: str,
    token: str | None,
    expires_in: int,
    now: datetime,
) -> dict[str, str]:
    """The form fields of a browser POST of exactly ``key``, of type ``content_type`` and at most
    ``max_size`` bytes, to ``url`` (the bucket's POST URL), valid ``expires_in`` seconds from
    ``now`` (UTC). Conditions, their order (the bucket twice included) and the JSON are botocore's
    ``generate_presigned_post`` with these conditions, so the policy is identical."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{access_key}/{amz_date[:8]}/{region}/s3/aws4_request"
    conditions: list[object] = [
        {"bucket": bucket},
        ["eq", "$key", key],
        ["eq", "$Content-Type", content_type],
        ["content-length-range", 1, max_size],
        {"bucket": bucket},
        {"key": key},
        {"x-amz-algorithm": ALGORITHM},
        {"x-amz-credential": credential},
        {"x-amz-date": amz_date},
    ]
    fields = {
        "Content-Type": content_type,
        "key": key,
        "x-amz-algorithm": ALGORITHM,
        "x-amz-credential": credential,
        "x-amz-date": amz_date,
    }
    if token is not None:
        fields["x-amz-security-token"] = token
        conditions.append({"x-amz-security-token": token})
    expiration = (now + timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = base64.b64encode(
        json.dumps({"expiration": expiration, "conditions": conditions}).encode()
    ).decode()
    fields["policy"] = policy
    fields["x-amz-signature"] = hmac.new(
        _signing_key(secret_key, amz_date[:8], region), policy.encode(), hashlib.sha256
    ).hexdigest()
    return fields
