"""The "how we compare" table: each product figure over its peer's, from the sections the other
scripts wrote in this run (their ``<!-- NAME-summary ... -->`` lines), at the top of
docs/benchmarks.md and in the README. Run last by ``make bench``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

from bench._report import DOC, machine, write_section  # noqa: E402

README = ROOT / "README.md"


def summary(text: str, name: str) -> dict[str, float]:
    found = re.search(rf"<!-- {name}-summary (.*?) -->", text)
    if not found:
        return {}
    return {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}


def cell(figures: dict[str, float], key: str, goal: str, ok: bool | None = None) -> str:
    if key not in figures:
        return f"not measured in this run | {goal} | —"
    value = figures[key]
    met = "met" if ok else "MISSED"
    # partial=1: the section's run did not complete (a caveat in it says how); said so here.
    mark = " (incomplete run)" if figures.get("partial") else ""
    return f"{value:.2f}x{mark} | {goal} | {met}"


def main() -> None:
    text = DOC.read_text()
    p = summary(text, "presign")
    life = summary(text, "lifecycle")
    push = summary(text, "push")
    subs = summary(text, "subscriptions")
    proc = summary(text, "processing")
    rows = [
        (
            "Server CPU per upload, ours / cheaper peer's flow (s3direct, s3ff)",
            "presign.py",
            cell(p, "upload", "≤ 0.5x", p.get("upload", 9) <= 0.5),
        ),
        (
            "Mutation CPU / empty view touching `request.user`",
            "presign.py",
            cell(p, "view", "≤ 1.5x", p.get("view", 9) <= 1.5),
        ),
        (
            "16-thread throughput, ours / s3direct params (ASGI)",
            "presign.py",
            cell(p, "rate", "≥ 1x", p.get("rate", 0) >= 1),
        ),
        (
            "16-thread p99 / p50, ours (ASGI)",
            "presign.py",
            cell(p, "tail", "≤ 3x", p.get("tail", 9) <= 3),
        ),
        (
            "Survey CPU, 100,000 rows of history / none",
            "presign.py",
            cell(p, "survey", "≤ 1.1x (flat)", p.get("survey", 9) <= 1.1),
        ),
        (
            "Worker-seconds, proxied 5 MiB at 20 Mbit/s (WSGI) / ours",
            "lifecycle.py",
            cell(life, "workers", "≥ 100x", life.get("workers", 0) >= 100),
        ),
        (
            "Push p99, ours / the Strawberry + Channels recipe",
            "push_latency.py",
            cell(push, "p99", "≤ 0.5x", push.get("p99", 9) <= 0.5),
        ),
        (
            "Sustained callback rate, ours / recipe",
            "push_latency.py",
            cell(push, "rate", "≥ 2x", push.get("rate", 0) >= 2),
        ),
        (
            "Memory per subscription, ours / bare uvicorn websocket",
            "subscriptions.py",
            cell(subs, "memory", "≤ 1.3x", subs.get("memory", 9) <= 1.3),
        ),
        (
            "Subscription open rate, ours on one process",
            "subscriptions.py",
            cell(subs, "opens", "≥ 1000/s", subs.get("opens", 0) >= 1000).replace(
                f"{subs.get('opens', 0):.2f}x", f"{subs.get('opens', 0):.0f}/s"
            ),
        ),
        (
            "Processing time, ours / faster of pyvips and sharp",
            "processing.py",
            cell(proc, "time", "≤ 0.67x (1.5x faster)", proc.get("time", 9) <= 1 / 1.5),
        ),
    ]
    table = "\n".join(
        [
            "## How we compare",
            "",
            "Each cell is a ratio of two figures measured side by side in the same run "
            f"(`make bench`, {machine()}); the sections below have the figures, the "
            "method and, for a missed goal, where the time goes.",
            "",
            "| comparison | script | ratio | goal | |",
            "|---|---|---:|---|---|",
            *(f"| {name} | `bench/{script}` | {value} |" for name, script, value in rows),
        ]
    )
    write_section("compare", table)
    doc = DOC.read_text()
    block = re.search(r"<!-- bench:compare -->.*?<!-- /bench:compare -->", doc, re.S)
    assert block is not None
    # The table belongs at the top: move it right after the header paragraph when new.
    if doc.index(block.group(0)) > doc.index("## "):
        doc = doc.replace(block.group(0) + "\n", "").replace(block.group(0), "")
        first = doc.index("\n## ")
        doc = doc[:first] + "\n\n" + block.group(0) + "\n" + doc[first:]
        DOC.write_text(doc)
    readme = README.read_text()
    readme_block = (
        block.group(0)
        .replace("## How we compare", "### How we compare")
        .replace("the sections below", "the sections of [docs/benchmarks.md](docs/benchmarks.md)")
    )
    pattern = re.compile(r"<!-- bench:compare -->.*?<!-- /bench:compare -->", re.S)
    if pattern.search(readme):
        README.write_text(pattern.sub(lambda _m: readme_block, readme))


if __name__ == "__main__":
    main()
