"""What the plugin's missing-index check adds per test, on a generated suite.

Usage: python benchmarks/index_check_cost.py [--tests 100] [--rounds 3]

A throwaway embedded server holds ``items`` (20,000 rows, analysed, an index on
``category``).  Two generated suites of ``--tests`` tests run through a module-level
engine, each test sending three SELECTs:

- ``indexed``: a primary-key read, an indexed filter and a count; every plan is fine, so
  the check's cost is planning them (plain EXPLAIN on a connection of its own);
- ``unindexed``: the same with the filter on an unindexed column, so every test has a
  finding and the advisor builds and measures its candidate (in a rolled-back
  transaction) each time.

Each suite runs with ``--dalperf-index-check off`` and ``warn``, alternating, as whole
pytest processes; the added cost per test is the difference of the median wall times over
the number of tests.  The machine this runs on may be shared: the figures are indicative.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from dalperf.db.embedded import OWNED_MARKER, running_server
from dalperf.db.urls import sqlalchemy_url

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
    return sqlalchemy_url(url)


def run_suites(url: str, tests: int, rounds: int) -> dict[tuple[str, str], list[float]]:
    walls: dict[tuple[str, str], list[float]] = {}
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
                        str(root),
                    ]
                    start = time.perf_counter()
                    done = subprocess.run(
                        args, cwd=root, env=env, capture_output=True, text=True, check=False
                    )
                    walls.setdefault((suite, mode), []).append(time.perf_counter() - start)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tests = args.tests // PER_FILE * PER_FILE
    with running_server(None) as server:
        url = prepare(server.url("postgres"))
        walls = run_suites(url, tests, args.rounds)
    print(f"{tests}-test generated suites, {args.rounds} runs each, off and warn alternating:")
    for suite in COLUMNS:
        off = statistics.median(walls[(suite, "off")])
        on = statistics.median(walls[(suite, "warn")])
        print(
            f"  {suite:<9} off {off:6.2f} s, warn {on:6.2f} s: "
            f"+{(on - off) * 1000 / tests:.1f} ms per test "
            f"(off runs {', '.join(f'{w:.2f}' for w in walls[(suite, 'off')])}; "
            f"warn runs {', '.join(f'{w:.2f}' for w in walls[(suite, 'warn')])})"
        )


if __name__ == "__main__":
    main()
