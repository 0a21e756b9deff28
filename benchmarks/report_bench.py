"""Report rendering time and HTML size for the results of a default run.

Usage: python benchmarks/report_bench.py [--results FILE] [--rounds 5]

Without ``--results``, a default audit (scale 1, every operation, default iterations) runs
first on a throwaway embedded server to make the results file.  Measured: the whole
``dalperf report`` command in a fresh process (imports included, what a user waits for),
and the rendering alone in this process (templates, tables and charts), median over rounds.
Targets (issue 6): rendering under 5 s, HTML under 2 MB.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dalperf.cli import main as dalperf
from dalperf.gate.budgets import BudgetSet
from dalperf.gate.check import evaluate
from dalperf.report import render
from dalperf.results import read_results


def default_results(folder: Path) -> Path:
    """Results of ``dalperf audit`` with default settings on an ephemeral server."""
    code = dalperf(["audit", "--ephemeral", "--out-dir", str(folder)])
    if code not in (0, 1):
        raise SystemExit(f"dalperf audit failed with exit code {code}")
    return folder / "results.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dalperf-report-bench-") as tmp:
        folder = Path(tmp)
        path = args.results or default_results(folder / "audit")
        command: list[float] = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "dalperf", "report", str(path),
                            "--html", str(folder / "report.html"),
                            "--markdown", str(folder / "report.md")],
                           check=True, stdout=subprocess.DEVNULL)
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
    print(f"results: {len(results.operations)} measurements, "
          f"{sum(len(m.wall_ms.samples) for m in results.operations)} samples")
    print(f"`dalperf report` (fresh process)  median {statistics.median(command):.2f} s  "
          f"max {max(command):.2f} s  over {args.rounds} rounds  (target < 5 s)")
    print(f"render alone (warm)               median {statistics.median(rendering):.2f} s  "
          f"max {max(rendering):.2f} s")
    print(f"HTML size {size / 1e6:.3f} MB (target < 2 MB); Markdown "
          f"{len(rendered.markdown.encode()) / 1e3:.1f} kB")


if __name__ == "__main__":
    main()
