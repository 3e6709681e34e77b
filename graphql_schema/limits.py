"""Limits on GraphQL documents (depth, aliases), built so that validation can be cached.

strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` create a new validation-rule class per
instance, and ``ValidationCache`` is keyed by the rule classes: with a new instance per request the
cache would never hit. The rule classes are therefore built once per configured limit.
"""

from __future__ import annotations

from functools import lru_cache

from graphql.validation import ASTValidationRule
from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, QueryDepthLimiter

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
