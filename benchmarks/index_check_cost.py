"""What the plugin's missing-index check adds per test: on generated suites and on the corpus.

Usage: python benchmarks/index_check_cost.py [--quick] [--tests 300] [--rounds 3] [--no-corpus]

A throwaway embedded server holds ``items`` (20,000 rows, analysed, an index on
``category``).  Two generated suites of ``--tests`` tests run through a module-level
engine, each test sending three SELECTs:

- ``indexed``: a primary-key read, an indexed filter and a count; every plan is fine, so
  the check's cost is planning them (plain EXPLAIN on an idle connection of the engine's
  pool);
- ``unindexed``: the same with the filter on an unindexed column, so every test has a
  finding; the advisor builds and measures the candidate once per statement shape and
  session (in a rolled-back transaction), later tests reuse the proof.

Each suite runs with ``--dalperf-index-check off`` and ``warn``, alternating, as whole
pytest processes, each with a ``--basetemp`` of its own; then the labelled corpus
(``tests/corpus``, one pytest session over every scenario, as ``benchmarks/accuracy.py``
runs it) the same way.  The added cost per test is the difference of the medians over the
number of tests, in CPU time (user + system of the pytest process, from
``getrusage(RUSAGE_CHILDREN)``: what a loaded machine moves least) and in wall time.  With
the check off the check's module is not even imported (``tests/test_plugin_index_check.py``
asserts it), so "off" is the plugin's ordinary cost.

``--quick``: 100 tests, 2 runs of each side, the corpus once each.  The last lines are one
summary line per suite: ``index check on, indexed suite: +1.2 ms CPU per test``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from dalperf.db.embedded import OWNED_MARKER, running_server
from dalperf.db.urls import parse, sqlalchemy_url

DATABASE = "index_check_cost"
ROWS = 20_000
PER_FILE = 10

APP = """
import os

from sqlalchemy import create_engine

engine = create_engine(os.environ["SUITE_URL"])
"""

TEST = """
import pytest
from sqlalchemy import text

from app import engine


@pytest.mark.parametrize("n", range({per_file}))
def test_read(n):
    with engine.connect() as connection:
        connection.execute(text("SELECT name FROM items WHERE id = :id"), {{"id": n + 1}}).one()
        connection.execute(text("SELECT id FROM items WHERE {column} = :v"), {{"v": n}}).all()
        connection.execute(text("SELECT count(*) FROM items")).scalar()
"""
COLUMNS = {"indexed": "category", "unindexed": "shelf"}


def prepare(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {DATABASE}")
        admin.execute(f"COMMENT ON DATABASE {DATABASE} IS '{OWNED_MARKER}'")
    url = server_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE items (id integer PRIMARY KEY, category integer, "
            "shelf integer, name text)"
        )
        conn.execute(
            f"INSERT INTO items SELECT g, g % 500, g % 400, 'item ' || g "
            f"FROM generate_series(1, {ROWS}) g"
        )
        conn.execute("CREATE INDEX items_category ON items (category)")
        conn.execute("ANALYZE items")
    return sqlalchemy_url(parse(url))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suites(
    url: str, tests: int, rounds: int
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """``(wall s, CPU s)`` of every run, by (suite, mode)."""
    walls: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="dalperf-index-check-") as folder:
        for suite, column in COLUMNS.items():
            root = Path(folder) / suite
            root.mkdir()
            (root / "app.py").write_text(APP)
            (root / "conftest.py").write_text("")
            for number in range(tests // PER_FILE):
                (root / f"test_{number:03}.py").write_text(
                    TEST.format(per_file=PER_FILE, column=column)
                )
            env = {**os.environ, "SUITE_URL": url}
            for round_no in range(rounds):
                order = ("off", "warn") if round_no % 2 == 0 else ("warn", "off")
                for mode in order:
                    args = [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        "-W",
                        "ignore",
                        "--dalperf-index-check",
                        mode,
                        f"--basetemp={folder}/tmp-{suite}-{round_no}-{mode}",
                        str(root),
                    ]
                    cpu, start = _children_cpu(), time.perf_counter()
                    done = subprocess.run(
                        args, cwd=root, env=env, capture_output=True, text=True, check=False
                    )
                    walls.setdefault((suite, mode), []).append(
                        (time.perf_counter() - start, _children_cpu() - cpu)
                    )
                    if done.returncode != 0 or f"{tests} passed" not in done.stdout:
                        raise SystemExit(
                            f"the {suite} suite failed ({mode}):\n{done.stdout[-2000:]}"
                        )
                    if mode == "warn":
                        print(
                            f"  {suite}: "
                            + next(
                                line
                                for line in done.stdout.splitlines()
                                if line.startswith("dalperf: index check:")
                            )
                        )
    return walls


def run_corpus(server_url: str, rounds: int) -> tuple[dict[str, list[tuple[float, float]]], int]:
    """``(wall s, CPU s)`` of corpus sessions with the check off and on, and the tests run."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from accuracy import judge  # benchmarks/accuracy.py, beside this: the corpus's judge

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE index_check_corpus")
        admin.execute(f"COMMENT ON DATABASE index_check_corpus IS '{OWNED_MARKER}'")
    url = server_url.rsplit("/", 1)[0] + "/index_check_corpus"
    default = judge.configurations()[0]
    runs: dict[str, list[tuple[float, float]]] = {}
    tests = 0
    for round_no in range(rounds):
        for mode in ("off", "warn") if round_no % 2 == 0 else ("warn", "off"):
            cpu = _children_cpu()
            ran = judge.run(url, default, extra=("--dalperf-index-check", mode, "-W", "ignore"))
            runs.setdefault(mode, []).append((ran.seconds, _children_cpu() - cpu))
            tests = len(ran.results)
    return runs, tests


def _added(off: list[tuple[float, float]], on: list[tuple[float, float]], tests: int) -> str:
    cpu = (statistics.median(c for _, c in on) - statistics.median(c for _, c in off)) / tests
    wall = (statistics.median(w for w, _ in on) - statistics.median(w for w, _ in off)) / tests
    return f"{cpu * 1000:+.1f} ms CPU per test ({wall * 1000:+.1f} ms wall)"


def _runs(runs: list[tuple[float, float]]) -> str:
    return ", ".join(f"{w:.2f}/{c:.2f}" for w, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 tests, 2 runs each")
    parser.add_argument("--tests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-corpus", action="store_true", help="the generated suites only")
    args = parser.parse_args()
    if args.quick:
        args.tests, args.rounds = min(args.tests, 100), min(args.rounds, 2)
    tests = args.tests // PER_FILE * PER_FILE
    with running_server(None) as server:
        url = prepare(server.url("postgres"))
        walls = run_suites(url, tests, args.rounds)
        corpus, corpus_tests = (
            ({}, 0) if args.no_corpus else run_corpus(server.url("postgres"), args.rounds)
        )
    print(
        f"{tests}-test generated suites, {args.rounds} runs each, off and warn alternating "
        "(runs: wall/CPU s):"
    )
    summary = []
    for suite in COLUMNS:
        off, on = walls[(suite, "off")], walls[(suite, "warn")]
        print(f"  {suite:<9} off runs {_runs(off)}; warn runs {_runs(on)}")
        summary.append(f"index check on, {suite} suite: {_added(off, on, tests)}")
    if corpus:
        print(f"the corpus ({corpus_tests} tests), {args.rounds} sessions each:")
        print(f"  off runs {_runs(corpus['off'])}; warn runs {_runs(corpus['warn'])}")
        summary.append(
            f"index check on, the corpus: {_added(corpus['off'], corpus['warn'], corpus_tests)}"
        )
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
