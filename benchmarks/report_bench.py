"""Report rendering time and HTML size for the results of a default run.

Usage: python benchmarks/report_bench.py [--results FILE] [--rounds 5]
       python benchmarks/report_bench.py --samples 100000

With ``--samples N``, the results are made up instead (two operations of two variants,
each with N wall-time samples) and the peak memory (max RSS) of ``dalperf report`` on
them is measured: it must stay bounded as samples grow (issue 14: 3.3 GB for 100,000
samples before the charts summarised them and the bootstrap worked in blocks).

Without ``--results``, a default audit (scale 1, every operation, default iterations) runs
first on a throwaway embedded server to make the results file.  Measured: the whole
``dalperf report`` command in a fresh process (imports included, what a user waits for),
and the rendering alone in this process (templates, tables and charts), median over rounds.
Targets (issue 6): rendering under 5 s, HTML under 2 MB.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dalperf.cli import main as dalperf
from dalperf.gate.check import evaluate
from dalperf.project.budgets import BudgetSet
from dalperf.report import render
from dalperf.results.model import Measurement, Results, read_results
from dalperf.results.stats import Summary


def default_results(folder: Path) -> Path:
    """Results of ``dalperf audit`` with default settings on an ephemeral server."""
    code = dalperf(["audit", "--ephemeral", "--out-dir", str(folder)])
    if code not in (0, 1):
        raise SystemExit(f"dalperf audit failed with exit code {code}")
    return folder / "results.json"


def synthetic_results(samples: int) -> Results:
    """Two operations x two variants, each with ``samples`` made-up wall times."""
    rng = random.Random(0)
    measurements = []
    for operation in ("bench.one", "bench.two"):
        for variant, scale in (("naive", 10.0), ("optimized", 1.0)):
            wall = Summary.of([scale * rng.lognormvariate(0, 0.3) for _ in range(samples)])
            measurements.append(
                Measurement(
                    operation=operation,
                    variant=variant,
                    indexes=True,
                    rtt_ms=0.0,
                    size=None,
                    queries=1,
                    round_trips=1,
                    network_round_trips=1,
                    rows_fetched=1,
                    rows_returned=1,
                    queries_per_call=(1,),
                    round_trips_per_call=(1,),
                    db_ms=wall,
                    wall_ms=wall,
                    fingerprints=(),
                    n_plus_one=(),
                    hidden_round_trips=(),
                    equivalent=None if variant == "naive" else True,
                )
            )
    return Results(environment={"scale": 1.0, "seed": 0}, operations=tuple(measurements))


def peak_memory(samples: int) -> None:
    """Max RSS of one ``dalperf report`` on results with ``samples`` samples per variant."""
    with tempfile.TemporaryDirectory(prefix="dalperf-report-bench-") as tmp:
        path = Path(tmp) / "results.json"
        synthetic_results(samples).save(path)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "dalperf", "report", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - t0
        html = (Path(tmp) / "report.html").stat().st_size
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"`dalperf report`, 4 variants x {samples:,} samples: peak RSS {peak_mb:,.0f} MB, "
        f"{seconds:.1f} s, HTML {html / 1e6:.2f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=None)
    args = parser.parse_args()
    if args.samples is not None:
        peak_memory(args.samples)
        return
    with tempfile.TemporaryDirectory(prefix="dalperf-report-bench-") as tmp:
        folder = Path(tmp)
        path = args.results or default_results(folder / "audit")
        command: list[float] = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dalperf",
                    "report",
                    str(path),
                    "--html",
                    str(folder / "report.html"),
                    "--markdown",
                    str(folder / "report.md"),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            command.append(time.perf_counter() - t0)
        results = read_results(path)
        budgets = BudgetSet()
        verdict = evaluate(results, budgets=budgets)
        rendering: list[float] = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            rendered = render(results, verdict=verdict, budgets=budgets)
            rendering.append(time.perf_counter() - t0)
        size = len(rendered.html.encode())
    print(
        f"results: {len(results.operations)} measurements, "
        f"{sum(len(m.wall_ms.samples) for m in results.operations)} samples"
    )
    print(
        f"`dalperf report` (fresh process)  median {statistics.median(command):.2f} s  "
        f"max {max(command):.2f} s  over {args.rounds} rounds  (target < 5 s)"
    )
    print(
        f"render alone (warm)               median {statistics.median(rendering):.2f} s  "
        f"max {max(rendering):.2f} s"
    )
    print(
        f"HTML size {size / 1e6:.3f} MB (target < 2 MB); Markdown "
        f"{len(rendered.markdown.encode()) / 1e3:.1f} kB"
    )


if __name__ == "__main__":
    main()
