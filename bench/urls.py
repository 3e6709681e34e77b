"""The project's URLs plus the baseline of bench/presign.py: an upload proxied through Django."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from PIL import Image

from config.urls import urlpatterns as project_urls


@cache
def _s3() -> Any:
    return boto3.client("s3", endpoint_url=os.environ["BENCH_S3_ENDPOINT"], region_name="us-east-1")


@csrf_exempt
def proxied_upload(request: HttpRequest) -> JsonResponse:
    """What the product avoids, done the usual way: Django parses the multipart body, validates the
    image as ``ImageField`` does (Pillow ``verify``), and uploads the bytes to S3 (as
    django-storages does)."""
    upload = request.FILES["file"]
    with Image.open(upload) as image:
        image.verify()
    upload.seek(0)
    _s3().upload_fileobj(upload, "bench-proxied", f"proxied/{upload.name}")
    return JsonResponse({"size": upload.size})


urlpatterns = [*project_urls, path("bench/proxied-upload/", proxied_upload)]


def hello(request: HttpRequest) -> JsonResponse:
    """The framework's own floor: a view like the GraphQL one (synchronous, so Django's
    ``ASGIHandler`` hands it and the middleware to a thread the same way) doing nothing."""
    return JsonResponse({"ok": True})


urlpatterns.append(path("bench/hello/", hello))
