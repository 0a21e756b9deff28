"""The summary's "Performance Impact Summary" measured: its four operations at a simulated RTT.

Usage: python benchmarks/rtt_bench.py [--scale 0.05] [--rtt-ms 50] [--iterations 5] [--out F]

Starts a throwaway embedded server and seeds it (not timed), then runs `dalperf run` as a
user runs it, in a subprocess, on the four operations of the summary's table, through the
latency proxy at each RTT of ``--rtt-ms``.  From the results JSON alone it prints, per
RTT, each variant's network depth and median wall time with its improvement over the
naive variant beside the summary's claimed improvement, then the summary's table redone
at the RTT closest to its figures (:func:`dalperf.network.rtt.reproduce_summary`), and, with more
than one RTT, how well ``t0 + depth x RTT`` predicts the medians (:func:`dalperf.network.rtt.model_fits`).

Target (issue 8): at RTT 50 ms, our (optimized) improvements at least the summary's
70%, 94%, 60% and 50%.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dalperf.db import urls
from dalperf.db.embedded import running_server
from dalperf.db.targets import Source, Target
from dalperf.network.rtt import model_fits, reproduce_summary
from dalperf.results.model import Results, read_results
from dalperf.seed.loader import seed_database

OPERATIONS = (
    "profile_stats.get_user_stats",
    "render_chains.delete_chain",
    "renders.get_with_context",
    "billing.get_user_credits_with_reset",
)


def per_rtt_table(results: Results) -> None:
    for rtt in sorted({m.rtt_ms for m in results.operations}):
        reproduction = reproduce_summary(results, rtt_ms=rtt)
        if reproduction is None:
            continue
        print(f"\nRTT {rtt:g} ms")
        print(
            f"{'operation':<38} {'variant':<10} {'depth':>5} {'p50 ms':>9} "
            f"{'faster':>7} {'claimed':>8}"
        )
        for row in reproduction.rows:
            for variant, ms in row.measured_ms.items():
                faster = row.improvement_pct.get(variant)
                claimed = row.claimed_improvement_pct if variant != row.before else None
                print(
                    f"{row.operation:<38} {variant:<10} {row.network_round_trips[variant]:>5} "
                    f"{ms:>9.1f} {'' if faster is None else f'{faster:.1f}%':>7} "
                    f"{'' if claimed is None else f'{claimed:.0f}%':>8}"
                )


def reproduction_table(results: Results) -> None:
    reproduction = reproduce_summary(results)
    if reproduction is None:
        return
    print(
        f"\nThe summary's table at the closest RTT, {reproduction.rtt_ms:g} ms "
        f"(measured / claimed wall time, geometric mean: {reproduction.ratio:.2f})"
    )
    for row in reproduction.rows:
        claimed = ", ".join(f"{v} {ms:g} ms" for v, ms in row.claimed_ms.items())
        measured = ", ".join(f"{v} {ms:.0f} ms" for v, ms in row.measured_ms.items())
        print(f"  {row.operation}: claimed {claimed}; measured {measured}")


def fit_table(results: Results) -> None:
    fits = model_fits(results)
    if not fits:
        return
    print("\nLatency model t0 + depth x (RTT - RTT0): measured minus predicted median, per RTT")
    for fit in fits:
        errors = "  ".join(
            f"{rtt:g}:{error:+.1f}" for rtt, error in zip(fit.rtts, fit.errors_ms, strict=False)
        )
        worst = max(abs(e) / p for e, p in zip(fit.errors_ms, fit.predicted_ms, strict=False))
        print(
            f"  {fit.operation:<38} {fit.variant:<10} depth {fit.network_round_trips[-1]:>4}  "
            f"{errors} ms  (worst {100 * worst:.1f}%; "
            f"{'within' if fit.within() else 'outside'} 10% or 2 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--rtt-ms", default="50")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="keep the results JSON here (default: a temporary file)",
    )
    args = parser.parse_args()
    with running_server(None) as status, tempfile.TemporaryDirectory() as tmp:
        target = Target(url=urls.parse(status.url()), source=Source.EMBEDDED, writable=True)
        seeded = seed_database(target, scale=args.scale, seed=0)
        print(f"seeded scale {args.scale}: {seeded.total_rows:,} rows (not timed)")
        out = args.out or Path(tmp) / "results.json"
        cmd = [
            sys.executable,
            "-m",
            "dalperf",
            "run",
            "--rtt-ms",
            args.rtt_ms,
            "--iterations",
            str(args.iterations),
            "--warmup",
            "1",
            "--param-sets",
            "1",
            "--no-complexity",
            "--database-url",
            status.url(),
            "--out",
            str(out),
            *(arg for operation in OPERATIONS for arg in ("--only", operation)),
        ]
        print("$ dalperf " + " ".join(cmd[3:]))
        subprocess.run(cmd, check=True, env={**os.environ, "DATABASE_URL": ""})
        results = read_results(out)
    proxy = results.environment["proxy"]
    overhead = proxy["overhead"]
    print(
        f"proxy: overhead at RTT 0 "
        f"{overhead['added_us']:+.1f} us per SELECT 1 round trip "
        f"({overhead['direct_us']:.1f} -> {overhead['proxied_us']:.1f} us)"
    )
    per_rtt_table(results)
    reproduction_table(results)
    fit_table(results)


if __name__ == "__main__":
    main()
