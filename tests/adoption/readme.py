"""The README's adoption snippets: the marked code blocks of "Use it in your project".

A marked snippet is a fenced code block whose opening fence directly follows a line
``<!-- adoption: ACTION [PATH] -->``:

``install``
    a shell block with the ``pip install`` line; the test points the distribution name at the
    wheel it built (the version under test is not on PyPI), then runs it as ``shell``.
``shell``
    commands run in order by ``bash -euo pipefail`` in the current directory; ``cd`` and
    ``export`` carry over to the next snippet, as in one terminal.
``background``
    one long-running command (a server, the worker), started in its own process group and left
    running until the test ends.
``new PATH`` / ``append PATH`` / ``replace PATH``
    a file relative to the current directory: created (it must not exist), appended to, or
    overwritten (both must exist: the guide cannot replace a file the project does not have).

In ``install``, ``shell`` and ``background`` snippets the test replaces the port ``8000`` with a
free one. Unmarked code blocks are prose: production variants, examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
DISTRIBUTION = "django-async-image-upload"
COMMANDS = ("install", "shell", "background")
FILES = ("new", "append", "replace")
#: The port the guide's commands use, and that the test swaps for a free one.
GUIDE_PORT = "8000"

_MARKER = re.compile(r"<!--\s*adoption:\s*(.*?)\s*-->")
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)\s*$")
#: The guide's requirement of this package, with its extras: ``django-async-image-upload[a,b]``.
REQUIREMENT = re.compile(rf"(?<![\w/.-]){re.escape(DISTRIBUTION)}(?:\[([\w,\s-]*)\])?")


class MarkerError(ValueError):
    """A marker the test cannot apply; the message names the README line."""


@dataclass(frozen=True)
class Snippet:
    action: str
    path: str | None
    language: str
    text: str
    line: int  # of the marker, 1-based

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        return f"README.md:{self.line} ({self.action}{where})"

    def with_port(self, port: int) -> str:
        """The command text with the guide's port replaced by ``port``."""
        return re.sub(rf"\b{GUIDE_PORT}\b", str(port), self.text)


def parse(text: str) -> list[Snippet]:
    """Every marked snippet, in document order. Raises :class:`MarkerError` on a marker without
    its code block, an unknown action, or a file action without a relative path."""
    lines = text.splitlines()
    snippets: list[Snippet] = []
    for number, line in enumerate(lines, start=1):
        marker = _MARKER.fullmatch(line.strip())
        if marker is None:
            continue
        action, _, path = marker.group(1).partition(" ")
        path = path.strip() or None
        if action in COMMANDS and path is not None:
            raise MarkerError(f"README.md:{number}: '{action}' takes no path")
        if action in FILES and (path is None or path.startswith("/") or ".." in path.split("/")):
            raise MarkerError(f"README.md:{number}: '{action}' needs a relative path")
        if action not in COMMANDS + FILES:
            raise MarkerError(f"README.md:{number}: unknown adoption action {action!r}")
        fence = _FENCE.match(lines[number]) if number < len(lines) else None
        if fence is None:
            raise MarkerError(f"README.md:{number}: the marker must directly precede a ``` fence")
        body: list[str] = []
        for inner in lines[number + 1 :]:
            if inner.strip() == fence.group(1):
                break
            body.append(inner)
        else:
            raise MarkerError(f"README.md:{number}: the code block is not closed")
        snippets.append(Snippet(action, path, fence.group(2), "\n".join(body) + "\n", number))
    return snippets


def readme_snippets() -> list[Snippet]:
    return parse(README.read_text(encoding="utf-8"))


def install_extras(snippet: Snippet) -> list[str]:
    """The extras the guide's install line asks for (``[]`` for none)."""
    match = REQUIREMENT.search(snippet.text)
    if match is None:
        raise MarkerError(f"{snippet}: no {DISTRIBUTION} requirement in the install snippet")
    return [e.strip() for e in (match.group(1) or "").split(",") if e.strip()]


def point_at_wheel(snippet: Snippet, wheel: Path) -> str:
    """The install snippet with this package installed from ``wheel``: a PEP 508 direct
    reference keeps the extras, and pip cannot take a same-named release from an index."""
    text, count = REQUIREMENT.subn(lambda m: f"{m.group(0)} @ {wheel.as_uri()}", snippet.text)
    if count != 1:
        raise MarkerError(f"{snippet}: expected one {DISTRIBUTION} requirement, found {count}")
    return text
