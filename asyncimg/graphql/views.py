from __future__ import annotations

import re
from typing import Any

from cross_web import HTTPException
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import get_token
from django.templatetags.static import static
from strawberry.django.views import GraphQLView as StrawberryGraphQLView

from asyncimg.conf import app_settings

#: Versions of GraphiQL's files vendored under ``asyncimg/static/asyncimg/graphiql/``.
VENDORED = {
    "react": "18.2.0",
    "react-dom": "18.2.0",
    "js-cookie": "3.0.5",
    "graphiql": "3.8.3",
    "@graphiql/plugin-explorer": "1.0.2",
}
_CDN = re.compile(r"https://unpkg\.com/((?:@[\w.-]+/)?[\w.-]+)@([\w.-]+)/([\w./-]+)")


def _local(match: re.Match[str]) -> str:
    name, version, path = match.groups()
    if VENDORED.get(name) != version:
        return match.group(0)  # not vendored: left as is, and tests/test_graphiql.py fails
    return static(f"asyncimg/graphiql/{name}/{path}")


class GraphQLView(StrawberryGraphQLView):
    """GraphQL over HTTP and GraphiQL: ``GraphQLView.as_view(schema=schema)``.

    CSRF stays on: cookies authenticate this endpoint, so GraphiQL (which sends the ``csrftoken``
    cookie as ``X-CSRFToken``) gets the cookie here. GraphiQL's scripts come from our static files
    instead of a CDN, so it works offline; it is served only when ``ASYNC_IMAGE_UPLOAD_GRAPHIQL``
    (default: ``DEBUG``).

    A synchronous view on purpose: an operation is ORM work from start to end, so under ASGI the
    whole operation (parsing, the resolvers' queries, signing) runs in the one worker thread
    Django hands the view to, with no thread round trip per resolver (see
    ``asyncimg/graphql/resolve.py``). Over the websocket the same resolvers run on the event loop
    and move their ORM work to a thread.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        limit = app_settings.GRAPHQL_MAX_BYTES
        too_large = error_response(
            413, "REQUEST_TOO_LARGE", f"A GraphQL request may have at most {limit} bytes."
        )
        declared = request.META.get("CONTENT_LENGTH") or ""
        if (declared.isdigit() and int(declared) > limit) or len(
            request.META.get("QUERY_STRING", "")
        ) > limit:
            return too_large
        try:
            if request.method == "POST":
                if len(request.body) > limit:
                    return too_large
                if request.content_type == "application/json" and (
                    request.body.lstrip()[:1] not in (b"{", b"[")
                ):
                    # strawberry reads a JSON string or number as an operation and fails (500).
                    return error_response(
                        400, "BAD_REQUEST", "The body must be a JSON object (or a batch list)."
                    )
            return self.run(request=request)
        except RequestDataTooBig:
            return too_large
        except HTTPException as exc:
            # strawberry answers a body it cannot read in plain text: the contract wants a code.
            code = "METHOD_NOT_ALLOWED" if exc.status_code == 405 else "BAD_REQUEST"
            return error_response(exc.status_code, code, exc.reason)

    @property
    def graphql_ide_html(self) -> str:  # type: ignore[override]
        return _CDN.sub(_local, super().graphql_ide_html)

    def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        if not app_settings.GRAPHIQL:
            raise Http404("GraphiQL is off (ASYNC_IMAGE_UPLOAD_GRAPHIQL).")
        get_token(request)
        return super().render_graphql_ide(request)


def error_response(status: int, code: str, message: str) -> JsonResponse:
    """A GraphQL-shaped error for a request refused before execution."""
    return JsonResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]},
        status=status,
    )
