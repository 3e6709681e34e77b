"""Every GraphQL error carries a stable ``extensions.code``; unexpected ones are masked, and only
they are logged as errors."""

from __future__ import annotations

import logging
import re

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from asyncimg.conf import app_settings
from asyncimg.errors import AsyncImgError

logger = logging.getLogger("asyncimg.graphql")

INTERNAL = "INTERNAL_SERVER_ERROR"
_SUGGESTION = re.compile(r" Did you mean .*\?$")


class ErrorCodes(MaskErrors):
    """Adds ``extensions.code`` to every error and hides the details of unexpected ones.

    - our errors (``AsyncImgError``): their own code and message;
    - errors of the GraphQL document itself (syntax, unknown field, wrong argument type, depth):
      ``GRAPHQL_VALIDATION_FAILED`` with graphql-core's message, which names what is wrong;
    - anything else is a bug: shown as ``INTERNAL_SERVER_ERROR`` (:class:`Schema` logs it).
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
        if is_client_error(error):
            extensions = dict(error.extensions or {})
            extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
            error.extensions = extensions
            if not app_settings.GRAPHQL_INTROSPECTION:
                # graphql-core's "Did you mean ...?" would list the schema's names one by one.
                error.message = _SUGGESTION.sub("", error.message)
            return error
        masked = self.anonymise_error(error)
        masked.extensions = {"code": INTERNAL}
        return masked


def is_client_error(error: GraphQLError) -> bool:
    """The client's doing (bad input, unknown id, invalid document), not a bug of ours."""
    original = error.original_error
    return original is None or isinstance(original, AsyncImgError | GraphQLError)


class ClientErrorLogFilter(logging.Filter):
    """Keeps client errors out of strawberry's error log.

    strawberry logs every error of every operation with a traceback (``strawberry.execution``), so
    a client sending a wrong content type filled the server's log with stack traces. Installed on
    that logger by the app (``AsyncImgConfig.ready``): client errors (:func:`is_client_error`)
    become one DEBUG line on ``asyncimg.graphql``; bugs stay on strawberry's logger, with their
    traceback, once each.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if isinstance(error, GraphQLError) and is_client_error(error):
            logger.debug("GraphQL client error: %s", error.message)
            return False
        return True
