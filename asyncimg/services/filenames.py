"""File names as clients send them, made safe for object keys and display."""

from __future__ import annotations

import re
import unicodedata

from asyncimg.errors import ValidationError

MAX_FILENAME_INPUT = 1024
MAX_FILENAME_LENGTH = 120
_UNSAFE = re.compile(r"[^\w .+\-()\[\]@,'&!=~]")
_SPACES = re.compile(r"\s+")


def sanitize_filename(raw: str) -> str:
    """The last path component of ``raw`` with control and unsafe characters replaced.

    Letters of any script, digits, spaces and ``+`` survive (the S3 event then URL-encodes them);
    slashes, backslashes, quotes, ``<>``, control and bidi characters do not. Long names are cut
    keeping the extension.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("filename must not be empty.", code="INVALID_FILENAME")
    if len(raw) > MAX_FILENAME_INPUT:
        raise ValidationError(
            f"filename is longer than {MAX_FILENAME_INPUT} characters.", code="INVALID_FILENAME"
        )
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in {"C", "Z"} or ch == " ")
    name = _SPACES.sub(" ", _UNSAFE.sub("_", name)).strip(" .")
    if not name or set(name) <= {"_", "."}:
        name = "image"
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_FILENAME_LENGTH - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME_LENGTH].rstrip(" .")
    return name
