"""Limits on GraphQL documents (depth, aliases, tokens), built so that parsing and validation can
be cached.

strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` create a new validation-rule class per
instance, and ``ValidationCache`` is keyed by the rule classes: with a new instance per request the
cache would never hit. The rule classes are therefore built once per configured limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, parse
from graphql.language import DocumentNode
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from asyncimg.conf import app_settings

MAX_ALIASES = 30


@lru_cache(maxsize=8)
def _rules(max_depth: int) -> tuple[type[ASTValidationRule], ...]:
    return (
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    )


def document_limits() -> AddValidationRules:
    """A fresh extension per operation, sharing the rule classes of the configured depth."""
    return AddValidationRules(list(_rules(app_settings.GRAPHQL_MAX_DEPTH)))


@lru_cache(maxsize=256)
def _parse(query: str, max_tokens: int | None) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


class ParseCache(SchemaExtension):
    """Parse each distinct document once (a mutation's parse cost 0.7 ms of CPU, every time).

    Unlike strawberry's ``ParserCache``, a document that does not parse is left to strawberry:
    it parses it again and reports the error the usual way, with its ``extensions.code``
    (``ParserCache`` raises from inside the extension, where the error skips that). The token
    limit (``MaxTokensLimiter``, listed before) is part of the cache key, so it still applies.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        options: Any = context.parse_options
        if context.query and context.graphql_document is None and set(options) <= {"max_tokens"}:
            # Not cached if it fails: strawberry raises it again where errors are handled.
            with suppress(GraphQLError):
                context.graphql_document = _parse(context.query, options.get("max_tokens"))
        yield
