"""The index advisor on the whole case study at scale 1 with migration 0006 removed.

Usage: python benchmarks/advisor_bench.py [--scale 1] [--write-repeats 3]
Starts a throwaway embedded server, seeds it and migrates 0006 down (not timed), then times
what `dalperf run --advise` adds to a run: ``advise_operations`` for every registered
operation (capture one call per variant, explain, build and measure every candidate, price
the kept ones on the mutating operations).  Prints the wall time, the candidates built, the
proposals, and, to show where the time goes, the same advice without the write pricing.
Target: under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from dalperf.db import urls
from dalperf.db.embedded import running_server
from dalperf.db.targets import Source, Target
from dalperf.measure.loader import load_modules
from dalperf.measure.registry import REGISTRY
from dalperf.measure.workload import advise_operations, capture_calls
from dalperf.plans import index_audit
from dalperf.plans.advisor import AdvisorConfig, advise
from dalperf.seed.loader import seed_database

TARGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--write-repeats", type=int, default=AdvisorConfig().write_repeats)
    args = parser.parse_args()
    config = AdvisorConfig(write_repeats=args.write_repeats)
    load_modules(["dalperf.scenarios"])
    operations = list(REGISTRY)
    with running_server(None) as status:
        target = Target(url=urls.parse(status.url()), source=Source.EMBEDDED, writable=True)
        seeded = seed_database(target, scale=args.scale, seed=0)
        print(
            f"seeded scale {args.scale:g}: {seeded.total_rows:,} rows (not timed); "
            f"{os.cpu_count()} cores"
        )
        with index_audit.indexes_removed(target, index_audit.performance_migration()):
            start = time.perf_counter()
            advice = advise_operations(target, operations, config)
            elapsed = time.perf_counter() - start
            start = time.perf_counter()
            calls, _ = asyncio.run(capture_calls(target.url, operations))
            unpriced = advise(calls, target, config)
            proof_only = time.perf_counter() - start
    print(
        f"advisor, {len(operations)} operations: {elapsed:.1f} s wall "
        f"({'within' if elapsed < TARGET_S else 'OVER'} the {TARGET_S:.0f} s target), "
        f"{advice['candidates_built']} candidates built, {len(advice['statements'])} "
        f"statement shapes asked for an index, {len(advice['proposals'])} proposals"
    )
    print(
        f"  of which the write pricing ({config.write_repeats} calls per index state and "
        f"writer variant): {elapsed - proof_only:.1f} s; without it {proof_only:.1f} s "
        f"({unpriced['candidates_built']} candidates)"
    )
    for proposal in advice["proposals"]:
        costs = [c["cost_ms"] for c in proposal["write_cost"] if c["cost_ms"] is not None]
        cost = f"write cost {min(costs):+.2f}..{max(costs):+.2f} ms/call" if costs else "no writer"
        print(f"  {proposal['create']}  ({proposal['size_bytes']:,} B, {cost})")


if __name__ == "__main__":
    main()
