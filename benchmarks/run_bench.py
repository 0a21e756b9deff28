"""Wall time of `dalperf run` over every operation and variant (issue 4's target: < 60 s).

Usage: python benchmarks/run_bench.py [--scale 1] [--iterations 30]
Starts a throwaway embedded server and seeds it (not timed), then times the `dalperf run`
command as a user runs it, in a subprocess.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dalperf.db import urls
from dalperf.db.embedded import running_server
from dalperf.db.targets import Source, Target
from dalperf.seed.loader import seed_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    with running_server(None) as status, tempfile.TemporaryDirectory() as tmp:
        target = Target(url=urls.parse(status.url()), source=Source.EMBEDDED, writable=True)
        seeded = seed_database(target, scale=args.scale, seed=0)
        print(
            f"seeded scale {args.scale}: {seeded.total_rows:,} rows in {seeded.seconds:.1f} s (not timed)"
        )
        out = Path(tmp) / "results.json"
        cmd = [
            sys.executable,
            "-m",
            "dalperf",
            "run",
            "--iterations",
            str(args.iterations),
            "--database-url",
            status.url(),
            "--out",
            str(out),
        ]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env={**os.environ, "DATABASE_URL": ""})
        elapsed = time.perf_counter() - start
    print(
        f"dalperf run --iterations {args.iterations} (all operations, all variants, "
        f"scale {args.scale}): {elapsed:.1f} s wall"
    )


if __name__ == "__main__":
    main()
