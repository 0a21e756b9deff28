"""Seeding throughput, measured side by side with ``pgbench -i`` on the same throwaway server.

Usage: python benchmarks/seed_bench.py [--scale 10] [--seed 0]

``dalperf seed`` is timed from generation to the end of VACUUM/ANALYZE, with the indexes of
every migration built; ``pgbench -i -s N`` (N = the scale rounded, at least 1) is timed as a
whole (create, client-side COPY, vacuum, primary keys) and credited with its 100,000 x N
pgbench_accounts rows.  Target (issue 2): >= 250,000 rows/s at scale 10 on a 2-core machine.

It also prints the CPU time the seeding took, the server's (every PostgreSQL process of
the throwaway server, Linux only) and this process's: divided by the number of cores, that
is the shortest the same work could take however well it were spread over them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

import psycopg

from dalperf.db import urls
from dalperf.db.embedded import OWNED_MARKER, SUPERUSER, ServerStatus, bin_path, running_server
from dalperf.db.targets import Source, Target
from dalperf.seed.loader import ANALYZE_STEP, GENERATE_STEP, INDEX_STEP, seed_database

PGBENCH_ROWS_PER_SCALE = 100_000  # pgbench_accounts rows per pgbench scale unit


def create_database(server: ServerStatus, name: str) -> str:
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{OWNED_MARKER}'")
    return server.url(name)


def bench_seed(server: ServerStatus, scale: float, seed: int) -> float:
    url = create_database(server, "seed_bench")
    finished: dict[str, float] = {}
    started = time.perf_counter()

    def note(step: str, done: int, total: int) -> None:
        if done == total:
            finished[step] = time.perf_counter() - started

    server_cpu, client_cpu = server_cpu_seconds(server.pid), time.process_time()
    report = seed_database(
        Target(url=urls.parse(url), source=Source.URL, writable=True),
        scale=scale,
        seed=seed,
        progress=note,
    )
    time.sleep(0.5)  # let the backends that served the seeding exit and be counted
    server_cpu = server_cpu_seconds(server.pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    generated = finished[GENERATE_STEP]
    copied = max(
        t for step, t in finished.items() if step not in (GENERATE_STEP, INDEX_STEP, ANALYZE_STEP)
    )
    print(
        f"dalperf seed --scale {scale:g}: {report.total_rows:,} rows in {report.seconds:.2f} s "
        f"= {report.rows_per_second:,.0f} rows/s"
    )
    print(
        f"  generate {generated:.2f} s, COPY {copied - generated:.2f} s, "
        f"indexes {finished[INDEX_STEP] - copied:.2f} s, "
        f"VACUUM/ANALYZE {finished[ANALYZE_STEP] - finished[INDEX_STEP]:.2f} s; "
        + ", ".join(f"{name} {count:,}" for name, count in report.row_counts.items())
    )
    cores = os.cpu_count() or 1
    floor = (server_cpu + client_cpu) / cores
    print(
        f"  CPU: server {server_cpu:.2f} s, dalperf {client_cpu:.2f} s; on {cores} cores no "
        f"schedule of this work beats {floor:.2f} s = {report.total_rows / floor:,.0f} rows/s"
    )
    return report.rows_per_second


def server_cpu_seconds(postmaster: int) -> float:
    """CPU seconds of the postmaster, its live children, and its children that exited."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = _stat(postmaster)
    total = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if (
            entry.name.isdigit()
            and (child := _stat(int(entry.name)))
            and int(child[1]) == postmaster
        ):
            total += int(child[11]) + int(child[12])
    return total / ticks


def _stat(pid: int) -> list[str]:
    """``/proc/PID/stat`` after the command name, split (empty when the process is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def bench_pgbench(server: ServerStatus, scale: int) -> float:
    create_database(server, "pgbench_bench")
    command = [
        str(bin_path("pgbench")),
        "-i",
        "-q",
        "-s",
        str(scale),
        "-h",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-U",
        SUPERUSER,
        "pgbench_bench",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    rows = PGBENCH_ROWS_PER_SCALE * scale
    print(
        f"pgbench -i -s {scale}: {rows:,} pgbench_accounts rows in {seconds:.2f} s "
        f"= {rows / seconds:,.0f} rows/s"
    )
    return rows / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with running_server(None) as server:
        seeded = bench_seed(server, args.scale, args.seed)
        pgbench = bench_pgbench(server, max(1, round(args.scale)))
    print(f"ratio dalperf seed / pgbench -i: {seeded / pgbench:.2f}")


if __name__ == "__main__":
    main()
