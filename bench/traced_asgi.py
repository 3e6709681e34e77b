"""The bundled project's ASGI application under a probe, for ``bench/subscriptions.py
--tracemalloc FILE`` or ``--profile FILE``: SIGUSR1 starts measuring; the second and later ones
write what happened since the first to ``$BENCH_TRACEMALLOC_OUT``.

- ``tracemalloc`` (the default): the allocations that grew, grouped by file and line;
- ``BENCH_PROBE=profile``: CPU time by function over every thread (yappi, from
  bench/requirements.txt), the event loop's and the ORM's worker threads alike.
"""

from __future__ import annotations

import os
import signal
import tracemalloc
from pathlib import Path
from typing import Any

PROFILE = os.environ.get("BENCH_PROBE") == "profile"
if not PROFILE:
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1")))

from config.asgi import application  # noqa: E402

_baseline: list[tracemalloc.Snapshot] = []
_started: list[bool] = []


def _start() -> None:
    if PROFILE:
        import yappi

        yappi.set_clock_type("cpu")
        yappi.start()
    else:
        _baseline.append(_take())


def _report() -> str:
    if not PROFILE:
        stats = _take().compare_to(_baseline[0], "lineno")
        return "\n".join(f"{s.size_diff} {s.count_diff} {s.traceback}" for s in stats[:40])
    import yappi

    yappi.stop()
    stats = yappi.get_func_stats()
    total = sum(s.tsub for s in stats) or 1.0
    lines = [f"CPU {total:.2f} s in all threads; by inclusive time (ttot), then own time:"]
    for stat in sorted(stats, key=lambda s: s.ttot, reverse=True)[:45]:
        where = f"{Path(stat.module).name}:{stat.lineno} {stat.name}"
        lines.append(f"{stat.ttot / total:6.1%} {stat.tsub / total:6.1%} {stat.ncall:>8} {where}")
    return "\n".join(lines)


def _take() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )


def _snapshot(_signum: int, _frame: Any) -> None:
    """The first signal starts measuring (and says so in the ``.baseline`` file); every later
    one writes what was measured since."""
    out = Path(os.environ["BENCH_TRACEMALLOC_OUT"])
    if not _started:
        _started.append(True)
        _start()
        out.with_suffix(".baseline").write_text("taken\n")
        return
    out.write_text(_report() + "\n")


signal.signal(signal.SIGUSR1, _snapshot)

__all__ = ["application"]
