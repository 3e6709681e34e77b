"""Event-loop lag while one client sends the costliest GraphQL documents the limits allow.

Run: ``.venv/bin/python bench/event_loop.py`` (seconds; ``--rounds``, ``--concurrency``).

In one process and one event loop, as in an ASGI server: ``--concurrency`` operations at a time
(one websocket's in-flight operations; the consumer allows 50) run ``Schema.stream`` — the call
strawberry's ``graphql-transport-ws`` handler makes — on the bundled schema, each a new document
of 500 ``__typename`` fields (inside the token and cost limits; graphql-core's
OverlappingFieldsCanBeMerged compares them pair by pair, about 0.1 s of CPU each), so no cache
helps. Meanwhile a probe sleeps 1 ms again and again and records how late it wakes: the time the
loop was held, which is what every other connection, HTTP request and callback of the process
waits. Measured twice in the same run: as shipped (parse and validation in the app's one worker
thread) and the baseline, the same extensions with everything on the loop. Results go to the
``event_loop`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from bench._report import percentile, write_section


async def measure(rounds: int, concurrency: int) -> tuple[list[float], float, int]:
    """(probe lags in seconds, wall seconds, operations answered without errors)."""
    from graphql_schema.schema import schema

    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            started = loop.time()
            await asyncio.sleep(0.001)
            lags.append(max(0.0, loop.time() - started - 0.001))

    answered = 0
    semaphore = asyncio.Semaphore(concurrency)
    tag = uuid.uuid4().hex[:8]

    async def operation(i: int) -> None:
        nonlocal answered
        query = f"query Costly{tag}{i} {{{' __typename' * 500} }}"
        async with semaphore:
            results = await schema.stream(query, context_value={"request": None})
            async for result in results:
                answered += not result.errors

    # Warm: the schema's first operation builds what later ones reuse.
    async for _ in await schema.stream("{ __typename }", context_value={"request": None}):
        pass
    probing = asyncio.create_task(probe())
    started = time.perf_counter()
    await asyncio.gather(*(operation(i) for i in range(rounds)))
    wall = time.perf_counter() - started
    done.set()
    await probing
    return lags, wall, answered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from asyncimg.graphql import limits

    rows = []
    for name, on_loop in (("as shipped (worker thread)", False), ("baseline: on the loop", True)):
        original = limits.on_event_loop
        if on_loop:
            limits.on_event_loop = lambda: False  # type: ignore[assignment]
        try:
            lags, wall, answered = asyncio.run(measure(args.rounds, args.concurrency))
        finally:
            limits.on_event_loop = original  # type: ignore[assignment]
        if answered != args.rounds:
            raise SystemExit(f"{name}: {answered}/{args.rounds} operations answered without errors")
        rows.append((name, lags, wall))
        print(
            f"{name}: loop lag p50 {percentile(lags, 50) * 1000:.1f} ms, "
            f"p99 {percentile(lags, 99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms "
            f"({len(lags)} samples); {args.rounds} operations in {wall:.2f} s"
        )
    shipped, baseline = rows[0][1], rows[1][1]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = (
        "## Event-loop lag under costly GraphQL documents (`bench/event_loop.py`)\n\n"
        f"{args.rounds} operations, {args.concurrency} at a time, each a new 500-field document "
        "(inside the limits; ~0.1 s of CPU to validate), run by `Schema.stream` as the websocket "
        "handler runs them; a probe records how late a 1 ms sleep wakes. Load average during the "
        f"run: {load}.\n\n"
        "| | lag p50 | lag p99 | lag max | samples | wall |\n|---|---|---|---|---|---|\n"
        + "".join(
            f"| {name} | {percentile(lags, 50) * 1000:.1f} ms"
            f" | {percentile(lags, 99) * 1000:.1f} ms | {max(lags) * 1000:.1f} ms"
            f" | {len(lags)} | {wall:.2f} s |\n"
            for name, lags, wall in rows
        )
        + f"\nWorst lag, baseline / shipped: {max(baseline) / max(shipped):.1f}x. On the loop, "
        "the operations hold it from the first to the last (one sample). Shipped, the loop waits "
        "for the GIL behind one CPU-bound thread: about the interpreter's switch interval (5 ms) "
        "at a time. The rarer long waits (p99, max) are not attributed yet: the other processes "
        "of a loaded machine, the collector, or the GIL's hand-over; see the load average.\n"
    )
    if not args.no_write:
        write_section("event_loop", body)


if __name__ == "__main__":
    main()
