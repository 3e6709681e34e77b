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

Over the websocket every operation shares the event loop with every other connection, HTTP
request and callback of the process: there, parsing and the checks above run in a thread
(``OffLoopParseCache``, ``OffLoopDocumentLimits``), so a client sending the costliest documents
the limits allow, one after another, holds the loop for no more than the interpreter's switch
interval at a time. The synchronous HTTP view already runs in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
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


def _document_error(document: DocumentNode, max_depth: int, max_cost: int) -> GraphQLError | None:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measure = _Measure(fragments)
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


class _Cache:
    """At most ``size`` entries, the least recently used dropped first; shared by threads. Unlike
    ``lru_cache`` it can be asked whether it holds an answer, so that the event loop answers
    documents seen before itself and sends only new ones to the thread."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            value = self.entries.get(key, _MISSING)
            if value is not _MISSING:
                self.entries.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> Any:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value


_MISSING = object()
#: (schema, document, rules, max depth, max cost) -> the document's limit or validation errors
_document_errors = _Cache(256)
#: (query, max tokens) -> parsed document
_documents = _Cache(256)


def _document_errors_key(context: Any, document: DocumentNode) -> tuple[Any, ...]:
    return (
        context.schema._schema,
        document,
        tuple(context.validation_rules),
        app_settings.GRAPHQL_MAX_DEPTH,
        app_settings.GRAPHQL_MAX_COST,
    )


def _measure_and_validate(key: tuple[Any, ...]) -> list[GraphQLError]:
    schema, document, rules, max_depth, max_cost = key
    error = _document_error(document, max_depth, max_cost)
    errors = [error] if error is not None else validate(schema, document, rules)
    return _document_errors.put(key, errors)


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
        self._check()
        yield

    def _pending(self) -> bool:
        """Whether the operation has a document no extension has answered for yet."""
        context = self.execution_context
        return context.pre_execution_errors is None and context.graphql_document is not None

    def _check(self) -> None:
        if not self._pending():
            return
        if (errors := self._cheap_errors()) is not None:
            self.execution_context.pre_execution_errors = errors
            return
        self._measure()

    def _measure(self) -> None:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # _pending
        context.pre_execution_errors = _measure_and_validate(
            _document_errors_key(context, document)
        )

    def _cheap_errors(self) -> list[GraphQLError] | None:
        """The operation's errors when finding them takes no walk of the document (the variables,
        the transport, a document seen before); None when it must be measured and validated."""
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # _pending
        limit = app_settings.GRAPHQL_MAX_LIST_LENGTH
        if context.variables and _longest_list(context.variables, [10 * limit + 1000]) > limit:
            return [
                _client_error(
                    f"A list in the variables is longer than {limit} items.", INPUT_TOO_LARGE
                )
            ]
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
        errors = _document_errors.get(_document_errors_key(context, document))
        return None if errors is _MISSING else errors


class ParseCache(SchemaExtension):
    """Parse each distinct document once (a mutation's parse cost 0.7 ms of CPU, every time).

    Unlike strawberry's ``ParserCache``, a document that does not parse is left to strawberry:
    it parses it again and reports the error the usual way, with its ``extensions.code``
    (``ParserCache`` raises from inside the extension, where the error skips that). The token
    limit (``MaxTokensLimiter``, listed before) is part of the cache key, so it still applies.
    """

    def on_parse(self) -> Iterator[None]:
        if not self._parse_cached():
            self._parse()
        yield

    def _key(self) -> tuple[str, int | None] | None:
        """The cache key of the operation's document; None when it is not ours to parse."""
        context = self.execution_context
        options: Any = context.parse_options
        if context.query and context.graphql_document is None and set(options) <= {"max_tokens"}:
            return context.query, options.get("max_tokens")
        return None

    def _parse_cached(self) -> bool:
        """Whether nothing is left to parse: no document of ours, or one parsed before."""
        key = self._key()
        if key is None:
            return True
        document = _documents.get(key)
        if document is _MISSING:
            return False
        self.execution_context.graphql_document = document
        return True

    def _parse(self) -> None:
        key = self._key()
        if key is None:
            return
        # Not cached if it fails: strawberry raises it again where errors are handled (that
        # second parse stops at the same error, within the token limit).
        with suppress(GraphQLError):
            self.execution_context.graphql_document = _documents.put(
                key, parse(key[0], max_tokens=key[1])
            )


class OffLoopParseCache(ParseCache):
    """:class:`ParseCache` with the parse in a thread: for operations run on an event loop."""

    async def on_parse(self) -> AsyncIterator[None]:  # type: ignore[override]
        if not self._parse_cached():
            await _off_loop(self._parse)
        yield


class OffLoopDocumentLimits(DocumentLimits):
    """:class:`DocumentLimits` with the checks and validation in a thread: for operations run on
    an event loop."""

    async def on_validate(self) -> AsyncIterator[None]:  # type: ignore[override]
        if self._pending():
            errors = self._cheap_errors()
            if errors is None:
                await _off_loop(self._measure)
            else:
                self.execution_context.pre_execution_errors = errors
        yield


#: One thread per process: with CPU-bound work in several threads, the event loop's thread waits
#: its turn for the GIL behind all of them; behind one, it gets it back within a switch interval.
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asyncimg-graphql")


async def _off_loop(function: Callable[[], None]) -> None:
    context = contextvars.copy_context()
    await asyncio.get_running_loop().run_in_executor(_EXECUTOR, context.run, function)


def on_event_loop() -> bool:
    """Whether the operation about to run runs on an event loop (``Schema.execute`` and
    ``Schema.stream``: the websocket) rather than in a thread (``execute_sync``: the HTTP view).
    strawberry reads an extension's hooks from its class, so the choice is made when it builds
    the operation's extensions."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def parse_cache() -> ParseCache:
    return OffLoopParseCache() if on_event_loop() else ParseCache()


def document_limits() -> DocumentLimits:
    return OffLoopDocumentLimits() if on_event_loop() else DocumentLimits()
