"""The one error type users of the processing core can hit, with stable codes."""

from __future__ import annotations

from typing import Final

EMPTY_FILE: Final = "EMPTY_FILE"
UNSUPPORTED_TYPE: Final = "UNSUPPORTED_TYPE"
FILE_TOO_LARGE: Final = "FILE_TOO_LARGE"
TOO_MANY_PIXELS: Final = "TOO_MANY_PIXELS"
CORRUPT_IMAGE: Final = "CORRUPT_IMAGE"

CODES: Final = frozenset(
    {EMPTY_FILE, UNSUPPORTED_TYPE, FILE_TOO_LARGE, TOO_MANY_PIXELS, CORRUPT_IMAGE}
)


class ProcessingError(Exception):
    """The upload itself is unusable; retrying will not help.

    ``code`` is one of :data:`CODES` and travels to the client in the ``failed`` callback, so it
    must stay stable; ``message`` is a sentence for a person.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown processing error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
