from __future__ import annotations

import re
from typing import Any

from cross_web import HTTPException
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.templatetags.static import static
from strawberry.django.views import GraphQLView as StrawberryGraphQLView

from asyncimg.auth import authenticate_token, bearer_token
from asyncimg.conf import app_settings
from asyncimg.errors import Unauthenticated

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

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        view = super().as_view(**initkwargs)
        # CSRF is checked in dispatch, for cookie-authenticated requests only: a bearer token is
        # no ambient credential, and the middleware's 403 page would reach API clients as HTML.
        view.csrf_exempt = True  # type: ignore[attr-defined]
        return view

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        refused = _authenticate(request)
        if refused is not None:
            return refused
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


def _authenticate(request: HttpRequest) -> HttpResponseBase | None:
    """``Authorization: Bearer`` → the token's user (a request carrying a cookie too uses the
    token); otherwise the session, with the CSRF check Django's middleware would make. A refusal
    is a GraphQL-shaped error with a code."""
    header = request.headers.get("Authorization")
    if header is not None:
        try:
            token = bearer_token(header) or ""
            request.user = authenticate_token(token).user
        except Unauthenticated as exc:
            response = error_response(401, exc.code, exc.message)
            response["WWW-Authenticate"] = 'Bearer realm="graphql"'
            return response
        return None
    if CSRF_MIDDLEWARE in settings.MIDDLEWARE:
        rejected = CsrfViewMiddleware(_no_response).process_view(request, _no_response, (), {})
        if rejected is not None:
            return error_response(
                403,
                "CSRF_FAILED",
                "CSRF check failed: send the csrftoken cookie's value as the X-CSRFToken header "
                "(same-site pages), or authenticate with Authorization: Bearer <token>.",
            )
    return None


CSRF_MIDDLEWARE = "django.middleware.csrf.CsrfViewMiddleware"


def _no_response(request: HttpRequest) -> HttpResponse:
    raise AssertionError("not called: only process_view is used")
