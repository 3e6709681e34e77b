"""Amazon S3 and S3-compatible stores (moto, MinIO, Cloudflare R2) through boto3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from asyncimg.storage.base import ObjectInfo, PresignedPost, StorageBackend


class S3Backend(StorageBackend):
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        media_url: str | None = None,
        download_expiration: int = 3600,
    ) -> None:
        self.bucket = bucket
        self.media_url = media_url.rstrip("/") if media_url else None
        self.download_expiration = download_expiration
        # One client per backend instance: clients are thread-safe and expensive to build.
        # Custom endpoints (moto, MinIO) want path-style addressing; AWS wants virtual hosts.
        self.region = region
        session = boto3.session.Session()
        self.client: Any = session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if endpoint_url else "virtual"},
                retries={"max_attempts": 3, "mode": "standard"},
                # Django only HEADs objects (expiry, asyncimg_doctor): never wait botocore's
                # default 60 s for an answer.
                connect_timeout=5,
                read_timeout=10,
            ),
        )

    def presigned_post(
        self, *, key: str, content_type: str, max_size: int, expires_in: int
    ) -> PresignedPost:
        # Every condition is fixed by the server: the client chooses nothing it signs.
        now = datetime.now(UTC).replace(microsecond=0)
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"bucket": self.bucket},
                ["eq", "$key", key],
                ["eq", "$Content-Type", content_type],
                ["content-length-range", 1, max_size],
            ],
            ExpiresIn=expires_in,
        )
        return PresignedPost(
            url=str(post["url"]),
            fields={str(k): str(v) for k, v in post["fields"].items()},
            expires_at=now + timedelta(seconds=expires_in),
        )

    def url(self, key: str) -> str:
        if self.media_url:
            return f"{self.media_url}/{quote(key)}"
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self.download_expiration,
        )
        return url

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:  # a page holds at most 1000 keys, as much as one DeleteObjects takes
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                deleted += len(keys)
        return deleted

    def list_prefixes(self, prefix: str, *, limit: int) -> list[str]:
        found: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            found += [str(p["Prefix"]) for p in page.get("CommonPrefixes", [])]
            if len(found) >= limit:
                break
        return found[:limit]

    def head(self, key: str) -> ObjectInfo | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
                raise
            # A HEAD has no body to say NoSuchBucket: a wrong or deleted bucket answers 404 too,
            # and "no object" would then expire every pending upload. Ask about the bucket.
            self.client.head_bucket(Bucket=self.bucket)
            return None
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            content_type=str(head.get("ContentType", "")),
            etag=str(head.get("ETag", "")).strip('"'),
            metadata=dict(head.get("Metadata", {})),
        )
