"""Embedded PostgreSQL start-up time: cold (initdb + start) and warm (start of an existing cluster).

Usage: python benchmarks/server_start.py [--rounds 5]
Target (issue 2): a start under 3 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from dalperf.db.embedded import EmbeddedServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(rounds):
        root = Path(tempfile.mkdtemp(prefix="dalperf-bench-"))
        server = EmbeddedServer(root / "pgdata")
        try:
            t0 = time.perf_counter()
            server.start()
            cold.append(time.perf_counter() - t0)
            server.stop()
            t0 = time.perf_counter()
            server.start()
            warm.append(time.perf_counter() - t0)
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)
    for label, samples in (("cold (initdb + start)", cold), ("warm (start)", warm)):
        print(
            f"{label:22} median {statistics.median(samples):.3f} s  "
            f"max {max(samples):.3f} s  over {rounds} rounds"
        )


if __name__ == "__main__":
    main()
