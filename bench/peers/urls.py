"""bench/urls.py plus the peers' endpoints and the empty view every authenticated request pays."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from bench.urls import urlpatterns as bench_urls


def whoami(request: HttpRequest) -> JsonResponse:
    """An empty view that touches ``request.user`` (the session and user queries)."""
    return JsonResponse({"user": request.user.pk})


urlpatterns = [
    *bench_urls,
    path("bench/whoami/", whoami),
    path("api/s3-upload/", include("s3_file_field.urls")),
    path("s3direct/", include("s3direct.urls")),
]
