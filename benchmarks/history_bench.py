"""The history store at size: 2,000 commits × 24 variants, on a SQLite file and on PostgreSQL.

Usage: python benchmarks/history_bench.py [--commits 2000] [--variants 24] [--samples 20]
       [--no-postgres]

Generates the store (not timed): one result per commit on ``main``, each of ``--variants``
operation × variant series with ``--samples`` wall times, a few query-count changes and two
latency shifts, added through :meth:`Store.add` (one transaction each).  Then times, for
each store, what the commands do (in this process, the store opened each time) and the
commands themselves (``python -m dalperf history ...``, interpreter start included):

- ``history add`` of one more results file (24 variants, with plans): target ≤ 0.2 s;
- ``history check`` of a head results file against the last 20 results: target ≤ 1 s;
- ``history report --out trends.html``: target ≤ 5 s and ≤ 3 MB of HTML.

The PostgreSQL store is a database on a throwaway embedded server.  Figures on a machine
shared with other work are indicative.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dalperf.history import commits, gate, ingest
from dalperf.history.ingest import Comparability, Figures, Ingested
from dalperf.history.model import Commit
from dalperf.history.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.history_files import audit_results, measurement, noisy, write

TARGETS = {"add": 0.2, "check": 1.0, "report": 5.0}
MAX_HTML_BYTES = 3 * 1024 * 1024
T0 = datetime(2025, 1, 1, tzinfo=UTC)
OPERATIONS = (
    "profile_stats.get_user_stats",
    "render_chains.delete_chain",
    "renders.get_with_context",
    "billing.get_user_credits_with_reset",
    "renders.get_by_ids",
    "renders.update_status_batch",
    "projects.list_with_render_counts",
    "renders.top_n_per_project",
)
VARIANTS = ("naive", "summary", "optimized")


def names(count: int) -> list[str]:
    every = [f"{op}/{variant}" for op in OPERATIONS for variant in VARIANTS]
    extra = [f"extra.op_{i}/optimized" for i in range(max(0, count - len(every)))]
    return (every + extra)[:count]


def generate(store: Store, *, commits_n: int, keys: list[str], samples: int) -> None:
    """One result per commit: counts that change at a few commits, latency with two shifts."""
    rng = random.Random(0)
    comparability = Comparability(scale="1.0", seed="0", schema=None, results_version=1)
    for number in range(commits_n):
        figures = []
        for index, name in enumerate(keys):
            queries = 1 + (index % 5) + (20 if index == 2 and number >= commits_n // 3 else 0)
            centre = (1.0 + index * 0.3) * (1.5 if index < 2 and number >= commits_n // 2 else 1.0)
            wall = sorted(noisy(rng, centre, samples))
            figures.append(
                Figures(
                    name=name,
                    queries=queries,
                    round_trips=queries,
                    network_round_trips=queries + 2,
                    buffers=40 * queries,
                    rows_fetched=20,
                    p50_ms=wall[len(wall) // 2],
                    p95_ms=wall[-1],
                    plan_shapes=("Index Scan using renders_pkey on renders",),
                    samples_ms=tuple(wall),
                )
            )
        store.add(
            Ingested(
                kind=ingest.AUDIT,
                digest=f"bench-{number}",
                source=f"r{number}.json",
                environment={"scale": 1.0, "seed": 0},
                comparability=comparability,
                figures=tuple(figures),
            ),
            Commit(
                sha=f"{number:040x}",
                subject=f"commit {number}",
                time=T0 + timedelta(hours=number),
                branch="main",
            ),
        )


def results_file(folder: Path, name: str, keys: list[str], samples: int, seed: int) -> Path:
    rng = random.Random(seed)
    rows = [
        measurement(
            key,
            queries=1 + (i % 5) + (20 if i == 2 else 0),
            wall=noisy(rng, (1.0 + i * 0.3) * (1.5 if i < 2 else 1.0), samples),
        )
        for i, key in enumerate(keys)
    ]
    return write(folder / name, audit_results(rows, started_at=f"bench {seed}"))


def timed(work: Callable[[], object], repeats: int = 2) -> tuple[float, float]:
    """The best of ``repeats`` runs (the first pays the imports): wall and CPU seconds."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def command(*args: str) -> tuple[float, float]:
    """``python -m dalperf history ARGS`` once: wall and CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "dalperf", "history", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"dalperf history {args[0]} failed: {done.stderr.strip()}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench(label: str, url: str, folder: Path, args: argparse.Namespace) -> None:
    keys = names(args.variants)
    start = time.perf_counter()
    with Store.open(url) as store:
        generate(store, commits_n=args.commits, keys=keys, samples=args.samples)
    built = time.perf_counter() - start
    print(
        f"\n{label}: {args.commits} commits × {len(keys)} variants × {args.samples} "
        f"samples generated in {built:.0f} s (not timed below)"
    )
    head = results_file(folder, "head.json", keys, args.samples, seed=1)
    new = [results_file(folder, f"new{i}.json", keys, args.samples, seed=10 + i) for i in range(3)]

    def add(path: Path, number: int) -> None:
        read = ingest.read(path)
        commit = commits.resolve(
            sha=f"{10**6 + number:040x}",
            branch="main",
            time=(T0 + timedelta(days=400 + number)).isoformat(),
            subject="new",
        )
        with Store.open(url) as store:
            assert store.add(read, commit).added

    def check() -> None:
        with Store.open(url) as store:
            gate.check(store, ingest.read(head), head_sha="f" * 40)

    html = folder / f"trends-{label}.html"

    def report() -> None:
        from dalperf.history.render import write_report

        with Store.open(url) as store:
            write_report(store.points(), html, fmt="html")

    numbers = iter(range(2))

    def add_next() -> None:
        number = next(numbers)
        add(new[number], number)

    figures = {"add": timed(add_next), "check": timed(check, 3), "report": timed(report)}
    processes = {
        "add": command(
            "add",
            str(new[2]),
            "--history",
            url,
            "--commit",
            f"{2 * 10**6:040x}",
            "--branch",
            "main",
            "--time",
            "2026-12-01T00:00:00Z",
        ),
        "check": command("check", str(head), "--history", url, "--commit", "f" * 40),
        "report": command("report", "--out", str(html), "--history", url),
    }
    size = html.stat().st_size
    for name, (wall, cpu) in figures.items():
        verdict = "within" if wall <= TARGETS[name] else "OVER"
        command_wall, command_cpu = processes[name]
        print(
            f"  history {name:<7} in process {wall:6.3f} s wall, {cpu:6.3f} s CPU "
            f"({verdict} the {TARGETS[name]:g} s target); as a command {command_wall:6.3f} s "
            f"wall, {command_cpu:6.3f} s CPU"
        )
    print(
        f"  report HTML {size / 1e6:.2f} MB "
        f"({'within' if size <= MAX_HTML_BYTES else 'OVER'} the 3 MB target)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--variants", type=int, default=24)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="dalperf-history-bench-") as name:
        folder = Path(name)
        bench("sqlite", str(folder / "history.sqlite"), folder, args)
        if not args.no_postgres:
            import psycopg

            from dalperf.db.embedded import running_server

            with running_server(None) as status:
                with psycopg.connect(status.url("postgres"), autocommit=True) as conn:
                    conn.execute("CREATE DATABASE history_bench")
                bench("postgresql", status.url("history_bench"), folder, args)


if __name__ == "__main__":
    main()
