from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from strawberry.django.views import AsyncGraphQLView

from graphql_schema.schema import schema


class GraphQLView(AsyncGraphQLView):
    """GraphQL over HTTP and GraphiQL. CSRF stays on: cookies authenticate this endpoint, so
    GraphiQL (which sends the ``csrftoken`` cookie as ``X-CSRFToken``) gets the cookie here."""

    async def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        get_token(request)
        return await super().render_graphql_ide(request)


graphql_view = GraphQLView.as_view(schema=schema)
