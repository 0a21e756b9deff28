"""How long a run's fresh copy of a project's seeded data takes (``CREATE DATABASE … TEMPLATE``).

Usage: python benchmarks/template_copy.py [--rows 1000000] [--copies 5]

A throwaway embedded server and a project of one table (id, author, title, created) whose
seed hook fills ``--rows`` rows with ``generate_series``; :func:`dalperf.db.project.prepare`
seeds the template once, then makes ``--copies`` more copies (each reusing the template, as
every later ``dalperf audit`` does).  Prints the seeding time, the database size and each
copy's time.  Target (issue 16): a copy in well under a second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg

from dalperf.db import urls
from dalperf.db.embedded import running_server
from dalperf.db.project import WORKING_DB, prepare
from dalperf.db.targets import Source, Target
from dalperf.project.config import parse

TARGET_S = 1.0

MODULE = """
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, text

metadata = MetaData()
books = Table("books", metadata, Column("id", Integer, primary_key=True),
              Column("author", Integer, index=True), Column("title", String(200)),
              Column("created", DateTime))


def seed(engine, scale, seed):
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO books SELECT i, i % 997, 'title ' || i, "
            "timestamp '2020-01-01' + i * interval '1 minute' "
            "FROM generate_series(1, :rows) AS i"), {"rows": int(scale)})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--copies", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dalperf-template-bench-") as folder:
        root = Path(folder)
        (root / "bench_project.py").write_text(textwrap.dedent(MODULE))
        sys.path.insert(0, str(root))
        config = parse(
            {
                "scenarios": "unused",
                "schema": "bench_project:metadata",
                "seed": "bench_project:seed",
            },
            path=root / "pyproject.toml",
        )
        with running_server(None) as status:
            target = Target(url=urls.parse(status.url()), source=Source.EMBEDDED, writable=True)
            started = time.perf_counter()
            first = prepare(target, config, scale=args.rows, seed=0)
            print(
                f"seeded {args.rows:,} rows: {first.seeded} "
                f"({time.perf_counter() - started:.2f} s with the first copy)"
            )
            with psycopg.connect(status.url(WORKING_DB)) as conn:
                size = conn.execute(
                    "SELECT pg_size_pretty(pg_database_size(current_database()))"
                ).fetchone()[0]  # type: ignore[index]
            print(f"database size: {size}")
            times = []
            for _ in range(args.copies):
                started = time.perf_counter()
                again = prepare(target, config, scale=args.rows, seed=0)
                times.append(time.perf_counter() - started)
                print(f"  {again.copied}; prepare in all {times[-1]:.3f} s")
    verdict = "met" if max(times) < TARGET_S else "MISSED"
    print(
        f"copy + reuse check: median {statistics.median(times):.3f} s, max {max(times):.3f} s "
        f"(target < {TARGET_S:g} s: {verdict})"
    )


if __name__ == "__main__":
    main()
