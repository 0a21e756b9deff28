"""``dalperf run`` writes the same results JSON as before, timings aside.

The command of ``benchmarks/run_regression.py`` (settings from flags, a ``[tool.dalperf]``
file and the defaults; an RTT sweep through the latency proxy) runs on a database of
its own, seeded as the session's is (the session's database is read by tests that leave dead
rows behind, which move plans and sizes); its JSON, with every timing masked, must equal the recording in
``tests/data/run_results.json``.  Record anew only on purpose:
``python benchmarks/run_regression.py --update``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from dalperf.seed.loader import seed_database
from tests.conftest import SEEDED_SCALE, SEEDED_SEED, target_for

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "run_regression.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("dalperf_run_regression", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


regression = _load()


def test_the_session_data_is_what_the_recording_was_made_on() -> None:
    assert (regression.SCALE, regression.SEED) == (SEEDED_SCALE, SEEDED_SEED)


def test_run_results_equal_the_recording_apart_from_timings(fresh_db: str, tmp_path: Path) -> None:
    seed_database(target_for(fresh_db), scale=SEEDED_SCALE, seed=SEEDED_SEED)
    results = regression.run_masked(fresh_db, tmp_path)
    recorded = json.loads(regression.RECORDED.read_text(encoding="utf-8"))
    lines = regression.differences(recorded, results)
    assert not lines, "\n".join(lines[:40])
    # the masking leaves the deterministic figures in: a run that measured less differs
    assert results["environment"]["iterations"] == 2
    assert results["environment"]["proxy"]["rtt_ms"] == [0.0, 1.0]
    assert {m["rtt_ms"] for m in results["operations"]} == {0.0, 1.0}


def test_a_changed_figure_is_a_difference() -> None:
    recorded = json.loads(regression.RECORDED.read_text(encoding="utf-8"))
    changed = json.loads(json.dumps(recorded))
    changed["operations"][0]["queries"] += 1
    changed["environment"]["warmup"] = 3
    lines = regression.differences(recorded, changed)
    assert len(lines) == 2
    assert any(line.startswith("$.environment.warmup: 1 -> 3") for line in lines)
