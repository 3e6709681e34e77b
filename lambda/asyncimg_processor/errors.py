"""The one error type users of the processing core can hit, with stable codes."""

from __future__ import annotations

from typing import Final

EMPTY_FILE: Final = "EMPTY_FILE"
UNSUPPORTED_TYPE: Final = "UNSUPPORTED_TYPE"
FILE_TOO_LARGE: Final = "FILE_TOO_LARGE"
TOO_MANY_PIXELS: Final = "TOO_MANY_PIXELS"
CORRUPT_IMAGE: Final = "CORRUPT_IMAGE"
CONTENT_TYPE_MISMATCH: Final = "CONTENT_TYPE_MISMATCH"

CODES: Final = frozenset(
    {
        EMPTY_FILE,
        UNSUPPORTED_TYPE,
        FILE_TOO_LARGE,
        TOO_MANY_PIXELS,
        CORRUPT_IMAGE,
        CONTENT_TYPE_MISMATCH,
    }
)

#: The message of a code whose cause is the decoder's business, not the uploader's: what Pillow
#: says about a damaged file goes to the log, never to the client.
FIXED_MESSAGES: Final = {
    CORRUPT_IMAGE: "The file could not be decoded as an image. Save it again from an image "
    "editor, or upload another file.",
    TOO_MANY_PIXELS: "The image has too many pixels to be processed. Upload a smaller image.",
}


class ProcessingError(Exception):
    """The upload itself is unusable; retrying will not help.

    ``code`` is one of :data:`CODES` and travels to the client in the ``failed`` callback, so it
    must stay stable; ``message`` is a sentence for a person.
    """

    def __init__(self, code: str, message: str | None = None) -> None:
        if code not in CODES:
            raise ValueError(f"unknown processing error code {code!r}")
        if message is None:
            message = FIXED_MESSAGES[code]
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
