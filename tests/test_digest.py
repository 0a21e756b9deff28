"""``dalperf digest``: the Markdown a pull request shows, from the plugin's or compare's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dalperf.gate.digest import digest


def _pair(operation: str, *, passed: bool, head_queries: int = 1) -> dict[str, Any]:
    side = {"wall_ms": {"p50": 2.0}, "queries": 1, "round_trips": 1, "error": None}
    regressions = [] if passed else [{"message": f"queries rose 1 → {head_queries}"}]
    return {
        "operation": operation,
        "variant": "optimized",
        "base": side,
        "head": {**side, "queries": head_queries},
        "passed": passed,
        "ratio": {"value": 1.02, "low": 0.97, "high": 1.08},
        "regressions": regressions,
        "mismatch": None,
    }


def test_compare_digest_lists_failures_first() -> None:
    record = {
        "kind": "dalperf-compare",
        "schema_version": 1,
        "passed": False,
        "base": {"ref": "origin/main", "commit": "0123456789abcdef"},
        "head": {"commit": None, "changes": []},
        "pairs": [_pair("a.fast", passed=True), _pair("b.slow", passed=False, head_queries=21)],
    }
    text = digest(record)
    assert text.startswith("### dalperf compare: failed")
    rows = [
        line for line in text.splitlines() if line.startswith("| a.") or line.startswith("| b.")
    ]
    assert rows[0].startswith("| b.slow") and "1 → 21" in rows[0]
    assert "queries rose 1 → 21" in rows[0] and rows[1].endswith("| ok |")
    assert "1.02× [0.97, 1.08]" in rows[1]
    assert "`origin/main` (0123456789)" in text


def test_suite_digest_escapes_table_cells() -> None:
    finding = {
        "kind": "repeated-statement",
        "label": "SELECT a|b",
        "status": "new",
        "message": "ran 5 times | in one Session",
        "file": "app/q.py",
        "line": 12,
        "fix": "select(A).where(A.id.in_(ids))",
    }
    record = {
        "version": 1,
        "rtt_ms": 1.0,
        "tests": [
            {
                "test": "tests/test_q.py::test_it",
                "queries": 6,
                "findings": [finding],
                "outcome": "failed",
                "network_round_trips": 6,
            }
        ],
        "stale_baseline": [],
    }
    text = digest(record)
    row = next(line for line in text.splitlines() if "test_it`" in line and "ran 5" in line)
    assert "ran 5 times \\| in one Session" in row and "`app/q.py:12`" in row
    assert row.count(" | ") == 3  # four cells: the pipe in the message is escaped


def _dalperf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        ["dalperf", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_writes_the_file_and_refuses_other_json(tmp_path: Path) -> None:
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"version": 1, "rtt_ms": 1.0, "tests": [], "stale_baseline": []}))
    done = _dalperf("digest", str(suite), "--out", "digest.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "digest.md").read_text().startswith("### dalperf: passed")
    other = tmp_path / "results.json"
    other.write_text(json.dumps({"schema_version": 3, "operations": []}))
    refused = _dalperf("digest", str(other), cwd=tmp_path)
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "results.json" in refused.stderr and "dalperf report writes report.md" in refused.stderr
    missing = _dalperf("digest", "nope.json", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
