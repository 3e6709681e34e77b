"""The project's URLs plus the baseline of bench/presign.py: an upload proxied through Django."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as project_urls


@csrf_exempt
def proxied_upload(request: HttpRequest) -> JsonResponse:
    """What the product avoids: the image's bytes parsed and stored by a Django worker."""
    upload = request.FILES["file"]
    name = default_storage.save(f"proxied/{upload.name}", upload)
    default_storage.delete(name)
    return JsonResponse({"size": upload.size})


urlpatterns = [*project_urls, path("bench/proxied-upload/", proxied_upload)]
