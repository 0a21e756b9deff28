"""Noise of the latency gate: the same code measured against itself, two ways, on this machine.

Usage: python benchmarks/noise.py [--repetitions 20] [--iterations 30] [--scale 0.05]
                                  [--operation renders.get_by_ids] [--variant optimized]

Starts a throwaway embedded server and seeds it, then repeats ``--repetitions`` times:

- *separate runs*: the operation measured in one run (``dalperf run``'s runner, fresh
  engines), then again in a second run, and the second judged against the first as
  ``dalperf check --baseline`` judges it (median:10% and p95:10%, one-sided Mann-Whitney);
- *interleaved*: the operation against itself as ``dalperf compare`` measures base and head
  (one process, one database, A B / B A round by round), judged by the same rule.

Nothing changed between the two sides, so every regression found is a false alarm.  Prints,
for each way, the spread of the second/first (head/base) ratio of medians and the
false-alarm rate of the 10% gate, and the load average before and after (the machine may be
shared).  No EXPLAIN, no complexity sweep: latency only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics

from dalperf.db import urls
from dalperf.db.embedded import running_server
from dalperf.db.targets import Source, Target
from dalperf.gate.baseline import DEFAULT_CHECKS, latency_regressions
from dalperf.measure import runner
from dalperf.measure.compare import CompareConfig, measure_interleaved
from dalperf.measure.config import RunConfig
from dalperf.measure.loader import load_modules
from dalperf.measure.operations import Operation
from dalperf.measure.registry import REGISTRY
from dalperf.results.stats import median_ratio
from dalperf.seed.loader import seed_database


def separate(
    target: Target, operation: Operation, variant: str, iterations: int
) -> tuple[float, bool]:
    """Two runs one after the other: second/first median ratio, and whether the gate fired."""
    config = RunConfig(iterations=iterations, complexity=False, explain=None)
    first, second = (
        asyncio.run(runner.run(target, [operation], config)).measurement(operation.name, variant)
        for _ in range(2)
    )
    alarms = latency_regressions(
        second.wall_ms,
        first.wall_ms,
        DEFAULT_CHECKS,
        {"operation": operation.name, "variant": variant},
    )
    return median_ratio(second.wall_ms.samples, first.wall_ms.samples).value, bool(alarms)


def interleaved(
    target: Target, operation: Operation, variant: str, iterations: int
) -> tuple[float, bool]:
    """The operation against itself, interleaved: head/base median ratio, gate fired."""
    config = CompareConfig(iterations=iterations)
    pairs, _, _ = asyncio.run(measure_interleaved(target.url, [operation], [operation], config))
    [pair] = [p for p in pairs if p.variant == variant]
    latency = [r for r in pair.regressions if r.metric not in ("queries", "round_trips")]
    assert pair.ratio is not None
    return pair.ratio.value, bool(latency)


def describe(label: str, outcomes: list[tuple[float, bool]]) -> str:
    ratios = sorted(r for r, _ in outcomes)
    alarms = sum(fired for _, fired in outcomes)
    return (
        f"{label:<14} ratio of medians min {ratios[0]:.3f}  median "
        f"{statistics.median(ratios):.3f}  max {ratios[-1]:.3f}  (spread "
        f"{(ratios[-1] - ratios[0]) * 100:.1f} points); false alarms of the 10% gate "
        f"{alarms}/{len(outcomes)} ({alarms / len(outcomes):.0%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--operation", default="renders.get_by_ids")
    parser.add_argument("--variant", default="optimized")
    args = parser.parse_args()
    load_modules(["dalperf.scenarios"])
    operation = REGISTRY.get(args.operation)
    operation.variant(args.variant)  # refuse an unknown variant before starting anything
    load_before = os.getloadavg()
    with running_server(None) as status:
        target = Target(url=urls.parse(status.url()), source=Source.EMBEDDED, writable=True)
        seed_database(target, scale=args.scale, seed=0)
        outcomes: dict[str, list[tuple[float, bool]]] = {"separate runs": [], "interleaved": []}
        for _ in range(args.repetitions):  # the two ways alternate, so both see the same load
            outcomes["separate runs"].append(
                separate(target, operation, args.variant, args.iterations)
            )
            outcomes["interleaved"].append(
                interleaved(target, operation, args.variant, args.iterations)
            )
    load_after = os.getloadavg()
    print(
        f"{args.operation} [{args.variant}], scale {args.scale}, {args.iterations} "
        f"iterations per side, {args.repetitions} repetitions, {os.cpu_count()} cores"
    )
    for label, found in outcomes.items():
        print(describe(label, found))
    print(
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after: "
        "other processes share this machine when it is above 0"
    )


if __name__ == "__main__":
    main()
