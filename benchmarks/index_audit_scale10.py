"""What migration 0006 buys at scale 10: `dalperf run --indexes both`, then the plans side by side.

Usage: python benchmarks/index_audit_scale10.py [--scale 10] [--database-url URL] [--out FILE]
Without --database-url it starts a throwaway embedded server and seeds it (not timed).  Then
it runs the `dalperf run --indexes both` command as a user runs it, in a subprocess (timed),
and prints, for every operation and variant, the scans of each statement shape with the
performance indexes and without them, the EXPLAIN time and the shared buffers, and then the
audit's summary: which of 0006's indexes were used, overlaps, missing-index hints.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from dalperf.db import urls
from dalperf.db.embedded import running_server
from dalperf.db.targets import Source, Target
from dalperf.report.plan_views import PlanView, human_bytes, operation_plans
from dalperf.results.model import read_results
from dalperf.seed.loader import seed_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument(
        "--database-url",
        help="an already seeded database (it is migrated "
        "down and back up); default: a throwaway embedded server",
    )
    parser.add_argument("--out", type=Path, help="keep the results JSON here")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = args.database_url
        if url is None:
            status = stack.enter_context(running_server(None))
            url = status.url()
            target = Target(url=urls.parse(url), source=Source.EMBEDDED, writable=True)
            seeded = seed_database(target, scale=args.scale, seed=0)
            print(
                f"seeded scale {args.scale:g}: {seeded.total_rows:,} rows in "
                f"{seeded.seconds:.1f} s (not timed)"
            )
        out = args.out or Path(stack.enter_context(tempfile.TemporaryDirectory())) / "r.json"
        cmd = [
            sys.executable,
            "-m",
            "dalperf",
            "run",
            "--indexes",
            "both",
            "--disposable",
            "--iterations",
            str(args.iterations),
            "--no-complexity",
            "--database-url",
            url,
            "--out",
            str(out),
        ]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env={**os.environ, "DATABASE_URL": ""})
        elapsed = time.perf_counter() - start
        print(
            f"dalperf run --indexes both --iterations {args.iterations} --no-complexity: "
            f"{elapsed:.1f} s wall\n"
        )
        show(out)


def show(path: Path) -> None:
    results = read_results(path)
    for operation, section in operation_plans(results).items():
        print(operation)
        for variant in section.variants:
            for statement in variant.statements:
                print(f"  {variant.variant:<10} {' '.join(statement.sql.split())[:70]}")
                print(f"    with 0006:    {describe(statement.with_indexes)}")
                print(f"    without 0006: {describe(statement.without_indexes)}")
    audit = results.index_audit
    if audit is None:
        return
    used = [i for i in audit["indexes"] if i["in_migration"] and i["used"]]
    unused = [i for i in audit["indexes"] if i["in_migration"] and not i["used"]]
    print(
        f"\n0006 indexes used ({len(used)}): "
        + ", ".join(f"{i['name']} [{human_bytes(i['size_bytes'])}]" for i in used)
    )
    print(
        f"0006 indexes unused ({len(unused)}, "
        f"{human_bytes(sum(i['size_bytes'] for i in unused))}): "
        + ", ".join(i["name"] for i in unused)
    )
    for overlap in audit["overlaps"]:
        print(f"overlap ({overlap['kind']}): {overlap['index']} / {overlap['other']}")
    for hint in audit["missing_index_hints"]:
        print(f"missing index: {hint['suggestion']} ({', '.join(hint['operations'])})")
    print(f"foreign keys without an index: {len(audit['unindexed_foreign_keys'])}")


def describe(view: PlanView | None) -> str:
    if view is None:
        return "not measured"
    if not view.explainable:
        return f"not explainable: {view.reason}"
    return (
        f"{'; '.join(view.scans) or 'no scan'}  ({view.total_ms:.2f} ms, "
        f"{view.buffers_hit + view.buffers_read:,} buffers)"
    )


if __name__ == "__main__":
    main()
