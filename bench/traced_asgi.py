"""The bundled project's ASGI application under ``tracemalloc``, for ``bench/subscriptions.py
--tracemalloc``: SIGUSR1 takes a snapshot; the second and later ones write the allocations that
grew since the first, grouped by file and line, to ``$BENCH_TRACEMALLOC_OUT``."""

from __future__ import annotations

import os
import signal
import tracemalloc
from pathlib import Path
from typing import Any

tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1")))

from config.asgi import application  # noqa: E402

_first: list[tracemalloc.Snapshot] = []


def _snapshot(_signum: int, _frame: Any) -> None:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    out = Path(os.environ["BENCH_TRACEMALLOC_OUT"])
    if not _first:
        _first.append(snapshot)
        out.with_suffix(".baseline").write_text("taken\n")
        return
    stats = snapshot.compare_to(_first[0], "lineno")
    lines = [f"{stat.size_diff} {stat.count_diff} {stat.traceback}" for stat in stats[:40]]
    out.write_text("\n".join(lines) + "\n")


signal.signal(signal.SIGUSR1, _snapshot)

__all__ = ["application"]
