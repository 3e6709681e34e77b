"""Limits that bound what one GraphQL operation may cost, checked before any resolver runs, and
before graphql-core's own validation (some of whose rules expand fragments, and cost time
exponential in a hostile document).

- bytes: ``ASYNC_IMAGE_UPLOAD_GRAPHQL_MAX_BYTES`` per HTTP body and per websocket message
  (``views.py``, ``consumers.py``), so that nothing large is ever parsed or coerced;
- tokens (strawberry's ``MaxTokensLimiter``, while parsing);
- lists in variables: none longer than ``ASYNC_IMAGE_UPLOAD_GRAPHQL_MAX_LIST_LENGTH`` reaches
  graphql-core's coercion, which would otherwise convert every element before the resolver's
  own limit (10 files) applies;
- depth, aliases and cost of the document, each fragment measured once: every field costs 1,
  times the page size of the connections above it (``first``, or the largest page when
  ``first`` is a variable);
- subscriptions only over the websocket.

Then validation proper, cached per document (parsed documents are cached too: ``ParseCache``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, parse
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import NoSchemaIntrospectionCustomRule, validate
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from asyncimg.conf import app_settings

MAX_ALIASES = 30
#: page size assumed for a connection field without a literal ``first`` (variables are unknown
#: while validating): the largest page ``uploads`` serves
UNKNOWN_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
INTROSPECTION = frozenset({"__schema", "__type"})
INPUT_TOO_LARGE = "INPUT_TOO_LARGE"


class _Measure:
    """Depth and cost of selection sets, each fragment measured once (a document that spreads
    fragments into each other many times cannot make the measurement itself expensive)."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, tuple[int, int, int]] = {}
        self.active: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> tuple[int, int, int]:
        """``(depth, cost, aliases)`` of ``node``, fragments expanded."""
        depth = cost = aliases = 0
        for selection in node.selections if node else ():
            if isinstance(selection, FieldNode) and selection.name.value in INTROSPECTION:
                # Reads the schema, not data: nested as the standard introspection query is, and
                # allowed only with introspection on (NoSchemaIntrospectionCustomRule).
                continue
            if isinstance(selection, FieldNode):
                inner_depth, inner_cost, inner_aliases = self.selection_set(selection.selection_set)
                depth = max(depth, 1 + inner_depth)
                cost += 1 + _page_size(selection) * inner_cost
                aliases += inner_aliases + (selection.alias is not None)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
            else:
                continue
            depth, cost, aliases = max(depth, inner[0]), cost + inner[1], aliases + inner[2]
        return depth, cost, aliases

    def fragment(self, name: str) -> tuple[int, int, int]:
        # Undefined fragments and cycles are graphql-core's to report (NoUndefinedFragments,
        # NoFragmentCycles): they measure nothing here.
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return 0, 0, 0
        self.active.add(name)
        self.memo[name] = self.selection_set(definition.selection_set)
        self.active.discard(name)
        return self.memo[name]


def _page_size(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            return int(value.value) if isinstance(value, IntValueNode) else UNKNOWN_PAGE_SIZE
    return DEFAULT_PAGE_SIZE if field.name.value == "uploads" else 1


def _longest_list(value: Any, budget: list[int]) -> int:
    """The longest list inside ``value`` (JSON from the client); visits at most ``budget[0]``
    values, then reports the remainder as one long list: bounded work on any input."""
    longest = 0
    stack = [value]
    while stack:
        budget[0] -= 1
        if budget[0] < 0:
            return 1 << 30
        item = stack.pop()
        if isinstance(item, list):
            longest = max(longest, len(item))
            stack.extend(item[: app_settings.GRAPHQL_MAX_LIST_LENGTH + 1])
        elif isinstance(item, dict):
            stack.extend(item.values())
    return longest


def _client_error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _document_error(document: DocumentNode) -> GraphQLError | None:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measure = _Measure(fragments)
    max_depth, max_cost = app_settings.GRAPHQL_MAX_DEPTH, app_settings.GRAPHQL_MAX_COST
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        name = definition.name.value if definition.name else "anonymous"
        depth, cost, aliases = measure.selection_set(definition.selection_set)
        if depth > max_depth:
            return _client_error(
                f"'{name}' exceeds maximum operation depth of {max_depth}.", QUERY_TOO_COMPLEX
            )
        if aliases > MAX_ALIASES:
            return _client_error(
                f"'{name}' has {aliases} aliases; at most {MAX_ALIASES} are allowed.",
                QUERY_TOO_COMPLEX,
            )
        if cost > max_cost:
            return _client_error(
                f"'{name}' would cost {cost}; the limit is {max_cost}. Ask for smaller pages "
                "(first), fewer aliases or fewer fields.",
                QUERY_TOO_COMPLEX,
            )
    return None


@lru_cache(maxsize=256)
def _validate(schema: Any, document: DocumentNode, rules: tuple[Any, ...]) -> list[GraphQLError]:
    return validate(schema, document, rules)


class DocumentLimits(SchemaExtension):
    """The limits above, then cached validation (in place of strawberry's ``ValidationCache``).
    An error found here is the operation's validation result: nothing else runs."""

    def on_operation(self) -> Iterator[None]:
        if not app_settings.GRAPHQL_INTROSPECTION:
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                NoSchemaIntrospectionCustomRule,
            )
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.pre_execution_errors is None and document is not None:
            context.pre_execution_errors = self._errors(document)
        yield

    def _errors(self, document: DocumentNode) -> list[GraphQLError]:
        context = self.execution_context
        limit = app_settings.GRAPHQL_MAX_LIST_LENGTH
        if context.variables and _longest_list(context.variables, [10 * limit + 1000]) > limit:
            return [
                _client_error(
                    f"A list in the variables is longer than {limit} items.", INPUT_TOO_LARGE
                )
            ]
        error = _document_error(document)
        if error is not None:
            return [error]
        if context.operation_type == OperationType.SUBSCRIPTION and not isinstance(
            context.context, dict
        ):
            # strawberry's websocket handlers pass a dict context; Django's view its own object.
            return [
                _client_error(
                    "Subscriptions are served over the websocket at /graphql/ "
                    "(graphql-transport-ws).",
                    "BAD_REQUEST",
                )
            ]
        return _validate(context.schema._schema, document, tuple(context.validation_rules))


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
