"""The demo page of the bundled project."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from asyncimg.conf import app_settings

#: What GraphiQL opens with from the demo page (strawberry's GraphiQL reads ``?q=``).
GRAPHIQL_EXAMPLE = """# Your uploads (this browser session's, in the demo). Run with Ctrl-Enter.
query MyUploads {
  uploads(first: 5) {
    totalCount
    edges { node { id status filename image { width height variants { name url } } } }
  }
}

# Paste an id from above, then run this one: the current state first, then every change.
subscription Follow {
  imageProcessed(uploadId: "PASTE-AN-UPLOAD-ID") { id status error { code message } }
}
"""


@ensure_csrf_cookie
def demo(request: HttpRequest) -> HttpResponse:
    """``/``: upload images and watch them being processed. Uses only ``asyncimg/client.js``.

    No session is made here: an anonymous visitor's session is made by their first upload
    request (the page waits for that one before sending the others)."""
    return render(
        request,
        "asyncimg_project/demo.html",
        {
            "accept": ",".join(app_settings.ALLOWED_CONTENT_TYPES),
            "max_size": app_settings.PRESIGNED_URL_CONTENT_LENGTH,
            "max_files": app_settings.MAX_FILES_PER_REQUEST,
            "anonymous_allowed": app_settings.ALLOW_ANONYMOUS,
            "graphiql_url": f"{reverse('graphql')}?{urlencode({'q': GRAPHIQL_EXAMPLE})}",
        },
    )


# Included by ``config/urls.py`` at ``/`` (``include("config.views")``).
urlpatterns = [path("", demo, name="demo")]
