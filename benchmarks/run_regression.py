"""The results JSON of ``dalperf run`` at a fixed seed, with every timing masked.

Refactoring the command line, its settings or the values they hand down must not change
what a run measures: ``tests/test_run_regression.py`` runs the same small command on a
fresh embedded server, seeded at scale 0.05, seed 0, and compares the masked JSON with
the file recorded before the change, ``tests/data/run_results.json``.  The settings come
from all three places on purpose: iterations, warmup and the RTT sweep from a
``[tool.dalperf]`` file, the seed and jitter from flags, the pool size from the default.

Usage::

    python benchmarks/run_regression.py            # differences from the recording; exit 1
    python benchmarks/run_regression.py --update   # record anew (only on purpose)

Masked (they differ from one run to the next): wall and database times and everything
derived from them, the start time, versions of the host and the server, the URL of the
throwaway database, and the EXPLAIN figures measured in time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "data" / "run_results.json"
SCALE = 0.05
SEED = 0
ONLY = ("renders.get_by_ids", "billing.get_user_credits_with_reset")
CONFIG = """\
[tool.dalperf]
iterations = 2
warmup = 1
rtt_ms = [0, 1]
"""
MASK = "<masked>"
# keys whose values are timings (or follow from them), or describe this host and run
TIMING_KEYS = frozenset(
    {
        "wall_ms",
        "db_ms",
        "elapsed_s",
        "started_at",
        "finished_at",
        "created_at",
        "duration_s",
        "total_ms",
        "lateness_ms",
        "Actual Startup Time",
        "Actual Total Time",
        "Execution Time",
        "Planning Time",
        "execution_ms",
        "planning_ms",
        "actual_total_time",
        "actual_startup_time",
        "execution_time",
        "planning_time",
        "ratios",
        "speedup",
        "overhead",
        "complexity_fit",
    }
)
HOST_KEYS = frozenset({"host", "python", "platform", "server_version", "dalperf_version"})
# what follows the database's physical state rather than dalperf's code: an index's size on
# disk and the planner's cost estimates (from the table's pages and statistics)
PHYSICAL_KEYS = frozenset({"size_bytes", "Startup Cost", "Total Cost"})


def mask(value: Any, keys: frozenset[str]) -> Any:
    """``value`` with every entry under one of ``keys`` replaced by a marker, paths (call
    sites) relative to the checkout, and lists of statements (ranked by time among equals)
    in the order of their fingerprints."""
    if isinstance(value, dict):
        return {k: MASK if k in keys else mask(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        items = [mask(v, keys) for v in value]
        if items and all(isinstance(v, dict) and "fingerprint" in v for v in items):
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    if isinstance(value, str):
        return value.replace(f"{ROOT}/", "")
    return value


def run_masked(database_url: str, folder: Path) -> dict[str, Any]:
    """Run the fixed command against ``database_url``; its results JSON, masked."""
    config = folder / "dalperf.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out = folder / "results.json"
    command = [sys.executable, "-m", "dalperf", "run", "--config", str(config)]
    for name in ONLY:
        command += ["--only", name]
    command += [
        "--seed",
        str(SEED),
        "--jitter-ms",
        "0",
        "--param-sets",
        "1",
        "--no-complexity",
        "--database-url",
        database_url,
        "--out",
        str(out),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DALPERF_")}
    env.pop("DATABASE_URL", None)
    subprocess.run(command, check=True, env=env, cwd=folder, capture_output=True)
    results = json.loads(out.read_text(encoding="utf-8"))
    return mask(results, TIMING_KEYS | HOST_KEYS | PHYSICAL_KEYS)


def measured(database_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return run_masked(database_url, Path(tmp))


def seeded_server_run() -> dict[str, Any]:
    """Start a throwaway embedded server, seed it, run the command, stop it."""
    from dalperf.db import urls
    from dalperf.db.embedded import running_server
    from dalperf.db.targets import Source, Target
    from dalperf.seed.loader import seed_database

    with running_server(None) as status:
        target = Target(url=urls.parse(status.url()), source=Source.EMBEDDED, writable=True)
        seed_database(target, scale=SCALE, seed=SEED)
        return measured(status.url())


def differences(before: Any, after: Any, path: str = "$") -> list[str]:
    """One line per place where ``after`` differs from ``before``."""
    if isinstance(before, dict) and isinstance(after, dict):
        lines = []
        for key in sorted(set(before) | set(after)):
            if key not in after:
                lines.append(f"{path}.{key}: removed")
            elif key not in before:
                lines.append(f"{path}.{key}: added")
            else:
                lines += differences(before[key], after[key], f"{path}.{key}")
        return lines
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for d in differences(b, a, f"{path}[{i}]")
        ]
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]


def main(argv: list[str]) -> int:
    results = seeded_server_run()
    if argv == ["--update"]:
        RECORDED.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"recorded {RECORDED.name}")
        return 0
    lines = differences(json.loads(RECORDED.read_text(encoding="utf-8")), results)
    for line in lines[:50]:
        print(line)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
