"""Every GraphQL error carries a stable ``extensions.code``; unexpected ones are masked."""

from __future__ import annotations

import logging

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from asyncimg.errors import AsyncImgError

logger = logging.getLogger("asyncimg.graphql")

INTERNAL = "INTERNAL_SERVER_ERROR"


class ErrorCodes(MaskErrors):
    """Adds ``extensions.code`` to every error and hides the details of unexpected ones.

    - our errors (``AsyncImgError``): their own code and message;
    - errors of the GraphQL document itself (syntax, unknown field, wrong argument type, depth):
      ``GRAPHQL_VALIDATION_FAILED`` with graphql-core's message, which names what is wrong;
    - anything else is a bug: logged with its traceback, shown as ``INTERNAL_SERVER_ERROR``.
    """

    def __init__(self) -> None:
        super().__init__(error_message="Unexpected error; it has been logged.")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._with_code(error) for error in errors]

    def _with_code(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, AsyncImgError):
            return GraphQLError(
                original.message,
                nodes=error.nodes,
                path=error.path,
                original_error=original,
                extensions={**(error.extensions or {}), "code": original.code},
            )
        if original is None or isinstance(original, GraphQLError):
            extensions = dict(error.extensions or {})
            extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
            error.extensions = extensions
            return error
        logger.error("Unexpected error in GraphQL resolver", exc_info=original)
        masked = self.anonymise_error(error)
        masked.extensions = {"code": INTERNAL}
        return masked
