from __future__ import annotations

from strawberry.extensions import MaxTokensLimiter, ValidationCache

from graphql_schema.errors import ErrorCodes, Schema
from graphql_schema.limits import ParseCache, document_limits
from graphql_schema.mutations import Mutation
from graphql_schema.queries import Query
from graphql_schema.subscriptions import Subscription

schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        # First, so that it wraps the others and sees every error, parse errors included.
        ErrorCodes,
        lambda: MaxTokensLimiter(max_token_count=2000),
        # Clients send the same few operations again and again: parse and validate each once.
        ParseCache,
        document_limits,
        lambda: ValidationCache(maxsize=256),
    ],
)
