"""Structured log lines: ``event key=value key=value``, the logfmt a log pipeline parses.

Values with spaces, quotes, ``=`` or control characters are written as JSON strings, so one
record stays one line and a hostile value (a callback's error message) cannot forge fields.
Callers pass ids, states and codes; never signatures, secrets, session keys or tokens.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_.:/@+-]+")

transitions = logging.getLogger("asyncimg.transitions")
callbacks = logging.getLogger("asyncimg.callback")


def logfmt(name: str, /, **fields: Any) -> str:
    parts = [name]
    for key, value in fields.items():
        text = "" if value is None else str(value)
        parts.append(f"{key}={text if not text or _BARE.fullmatch(text) else json.dumps(text)}")
    return " ".join(parts)
