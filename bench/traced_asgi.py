"""The bundled project's ASGI application under a probe, for ``bench/subscriptions.py
--tracemalloc FILE`` or ``--profile FILE``: SIGUSR1 starts measuring; the second and later ones
write what happened since the first to ``$BENCH_TRACEMALLOC_OUT``.

- ``tracemalloc`` (the default): the allocations that grew, grouped by file and line;
- ``BENCH_PROBE=profile``: CPU time by function over every thread (yappi, from
  bench/requirements.txt), the event loop's and the ORM's worker threads alike.
"""

from __future__ import annotations

import io
import os
import signal
import tracemalloc
from pathlib import Path
from typing import Any

PROFILE = os.environ.get("BENCH_PROBE") == "profile"
if not PROFILE:
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1")))

from config.asgi import application  # noqa: E402

_first: list[tracemalloc.Snapshot | None] = []


def _growth() -> str:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    if not _first:
        _first.append(snapshot)
        return ""
    first = _first[0]
    assert first is not None
    stats = snapshot.compare_to(first, "lineno")
    return "\n".join(f"{stat.size_diff} {stat.count_diff} {stat.traceback}" for stat in stats[:40])


def _profile() -> str:
    import yappi

    if not _first:
        _first.append(None)
        yappi.set_clock_type("cpu")
        yappi.start()
        return ""
    yappi.stop()
    stats = yappi.get_func_stats()
    total = sum(s.tsub for s in stats) or 1.0
    out = io.StringIO()
    out.write(f"CPU {total:.2f} s in all threads; by inclusive time (ttot), then own time:\n")
    for stat in sorted(stats, key=lambda s: s.ttot, reverse=True)[:45]:
        where = f"{Path(stat.module).name}:{stat.lineno} {stat.name}"
        out.write(f"{stat.ttot / total:6.1%} {stat.tsub / total:6.1%} {stat.ncall:>8} {where}\n")
    return out.getvalue()


def _snapshot(_signum: int, _frame: Any) -> None:
    out = Path(os.environ["BENCH_TRACEMALLOC_OUT"])
    report = _profile() if PROFILE else _growth()
    if len(_first) == 1 and not report:
        out.with_suffix(".baseline").write_text("taken\n")
        return
    out.write_text(report + "\n")


signal.signal(signal.SIGUSR1, _snapshot)

__all__ = ["application"]
