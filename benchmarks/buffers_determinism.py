"""Buffers per call against wall time: the case study on two copies of the same data, and again.

Usage: python benchmarks/buffers_determinism.py [--scale 0.05] [--iterations 30]

Starts a throwaway embedded server, seeds a template database and makes two exact copies
of it (``CREATE DATABASE ... TEMPLATE``).  Every case-study operation is measured on copy A,
on copy B, then on copy B again, which its first run has left with dead row versions (the
rolled-back writes of the mutating operations), and on C, seeded on its own with the same
scale and seed.  Prints per operation x variant the buffers, rows read and median wall time
of the runs, and how many measurements had equal buffers on A and B, and on A and C.
"""

from __future__ import annotations

import argparse
import asyncio

import psycopg

from dalperf.db import urls
from dalperf.db.embedded import running_server
from dalperf.db.targets import Source, Target
from dalperf.measure import runner
from dalperf.measure.loader import load_modules
from dalperf.measure.registry import REGISTRY
from dalperf.seed.loader import seed_database

TEMPLATE = "buffers_template"
COPIES = ("buffers_a", "buffers_b")
SEEDED_APART = "buffers_c"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    load_modules(["dalperf.scenarios"])
    operations = [op for op in REGISTRY if op.module.startswith("dalperf.scenarios.")]
    config = runner.RunConfig(iterations=args.iterations, complexity=False)
    with running_server(None) as server:
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            for name in (TEMPLATE, SEEDED_APART):
                conn.execute(f"CREATE DATABASE {name}")
        for name in (TEMPLATE, SEEDED_APART):
            seed_database(
                Target(url=urls.parse(server.url(name)), source=Source.URL, writable=True),
                scale=args.scale,
                seed=0,
            )
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            for name in COPIES:
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        runs = [
            asyncio.run(
                runner.run(
                    Target(url=urls.parse(server.url(name)), source=Source.URL, writable=True),
                    operations,
                    config,
                )
            )
            for name in (*COPIES, COPIES[1], SEEDED_APART)
        ]
    same_copy = same_seed = 0
    print(f"scale {args.scale}, {args.iterations} iterations; runs: A, B, B again, C")
    for a, b, again, c in zip(*(r.operations for r in runs), strict=True):
        same_copy += (a.buffers, a.rows_read) == (b.buffers, b.rows_read)
        same_seed += (a.buffers, a.rows_read) == (c.buffers, c.rows_read)
        print(
            f"{a.operation} [{a.variant}]: buffers {a.buffers}, {b.buffers}, {again.buffers}, "
            f"{c.buffers}; rows read {a.rows_read}, {b.rows_read}, {again.rows_read}, "
            f"{c.rows_read}; p50 ms {a.wall_ms.p50:.2f}, {b.wall_ms.p50:.2f}, "
            f"{again.wall_ms.p50:.2f}, {c.wall_ms.p50:.2f}"
        )
    total = len(runs[0].operations)
    print(
        f"equal buffers and rows read: A and B (copies) {same_copy}/{total}; "
        f"A and C (seeded apart) {same_seed}/{total}"
    )


if __name__ == "__main__":
    main()
