"""The runner and ``dalperf run``: exact figures on the case study, isolation, failures, bad input."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from dalperf.cli import main
from dalperf.errors import UsageError
from dalperf.measure import runner
from dalperf.measure.loader import load_modules
from dalperf.measure.registry import REGISTRY
from dalperf.results.model import SCHEMA_VERSION, Results, read_results
from tests.conftest import table_checksums, target_for


@pytest.fixture(scope="module")
def case_study_results(seeded_db: str) -> Results:
    """Every case-study operation, every variant, a short run."""
    load_modules(["dalperf.scenarios"])
    operations = [op for op in REGISTRY if op.module.startswith("dalperf.scenarios.")]
    config = runner.RunConfig(iterations=2, warmup=1, param_sets=2)
    return asyncio.run(runner.run(target_for(seeded_db), operations, config))


def figures(results: Results, operation: str, variant: str) -> tuple[int, int]:
    m = results.measurement(operation, variant)
    return m.queries, m.round_trips


def test_case_study_acceptance_figures(case_study_results: Results) -> None:
    r = case_study_results
    assert r.failures == ()
    assert figures(r, "render_chains.delete_chain", "naive") == (52, 52)
    queries, depth = figures(r, "render_chains.delete_chain", "optimized")
    assert queries <= 2 and depth <= 2
    assert figures(r, "profile_stats.get_user_stats", "naive")[1] >= 4
    assert figures(r, "profile_stats.get_user_stats", "summary") == (4, 1)
    assert figures(r, "profile_stats.get_user_stats", "optimized")[1] == 1
    assert figures(r, "renders.get_with_context", "naive") == (4, 4)
    assert figures(r, "renders.get_with_context", "summary")[1] == 2
    assert figures(r, "renders.get_with_context", "optimized")[0] == 1
    assert figures(r, "billing.get_user_credits_with_reset", "naive")[0] >= 2
    assert figures(r, "billing.get_user_credits_with_reset", "optimized")[0] == 1
    for op in ("renders.get_by_ids", "renders.update_status_batch"):
        assert figures(r, op, "naive")[0] == 20
        assert figures(r, op, "optimized")[0] == 1
    top_n = r.measurement("renders.top_n_per_project", "optimized")
    assert top_n.queries == 1 and top_n.rows_fetched == top_n.rows_returned > 0
    summary_top_n = r.measurement("renders.top_n_per_project", "summary")
    assert summary_top_n.rows_fetched > summary_top_n.rows_returned  # filtered in Python


def test_every_non_reference_variant_is_checked_equivalent(case_study_results: Results) -> None:
    for m in case_study_results.operations:
        assert m.equivalent is (None if m.variant == "naive" else True), m.key


def test_complexity_verdicts(case_study_results: Results) -> None:
    naive = case_study_results.measurement("render_chains.delete_chain", "naive").complexity
    optimized = case_study_results.measurement("render_chains.delete_chain", "optimized").complexity
    assert naive is not None and naive.verdict == "O(n)" and naive.slope == pytest.approx(1.0)
    assert optimized is not None and optimized.verdict == "O(1)" and optimized.slope == 0


def test_samples_are_kept_and_n_plus_one_reported(case_study_results: Results) -> None:
    naive = case_study_results.measurement("renders.get_by_ids", "naive")
    assert len(naive.wall_ms.samples) == 2 and len(naive.queries_per_call) == 2
    assert naive.n_plus_one and naive.n_plus_one[0]["count"] == 20
    assert "scenarios/renders.py" in naive.n_plus_one[0]["call_site"]
    assert not case_study_results.measurement("renders.get_by_ids", "optimized").n_plus_one


def test_a_full_run_leaves_every_table_unchanged(seeded_db: str) -> None:
    before = table_checksums(seeded_db)
    load_modules(["dalperf.scenarios"])
    mutating = [op for op in REGISTRY if op.module.startswith("dalperf.scenarios.") and op.mutates]
    assert {op.name for op in mutating} == {
        "render_chains.delete_chain",
        "renders.update_status_batch",
    }
    asyncio.run(
        runner.run(target_for(seeded_db), mutating, runner.RunConfig(iterations=2, warmup=1))
    )
    assert table_checksums(seeded_db) == before


def test_results_round_trip_through_json(case_study_results: Results, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    case_study_results.save(path)
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert read_results(path) == case_study_results


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "not valid JSON"),
        ('{"schema_version": 99, "environment": {}, "operations": []}', "schema_version 99"),
        ('{"schema_version": 1}', "malformed"),
        ("[]", "malformed"),
    ],
)
def test_broken_results_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        read_results(path)


def test_fit_complexity() -> None:
    assert runner.fit_complexity((5, 20, 50), (7, 22, 52)).verdict == "O(n)"
    assert runner.fit_complexity((5, 20, 50), (1, 1, 1)).verdict == "O(1)"
    assert runner.fit_complexity((5, 20, 50), (1, 30, 2)).verdict == "irregular"


FLAKY_MODULE = """
from sqlalchemy import text
from dalperf.measure.scenario import register

async def pick(db, rng, size):
    return {"n": 3}

async def reference(db, p):
    async with db.sessions() as s:
        n = (await s.execute(text("SELECT 3"))).scalar_one()
    return list(range(1, n + 1))

async def wrong(db, p):
    return [1, 2, 4]

async def broken(db, p):
    raise RuntimeError("variant exploded")

async def fine(db, p):
    return [1, 2, 3]

register("external.flaky", variants={"naive": reference, "wrong": wrong, "broken": broken,
         "optimized": fine}, params=pick)
"""


def test_failing_variants_are_recorded_and_exit_1(
    tmp_path: Path, seeded_db: str, dalperf_home: Path
) -> None:
    module = tmp_path / "outside" / "flaky_ops.py"
    module.parent.mkdir()
    module.write_text(textwrap.dedent(FLAKY_MODULE))
    out = tmp_path / "results.json"
    code = main(
        [
            "run",
            "--scenarios",
            str(module),
            "--iterations",
            "2",
            "--database-url",
            seeded_db,
            "--out",
            str(out),
        ]
    )
    assert code == 1
    results = read_results(out)
    kinds = {(f.variant, f.kind) for f in results.failures}
    assert kinds == {("wrong", "mismatch"), ("broken", "error")}
    assert "variant exploded" in next(f.message for f in results.failures if f.kind == "error")
    assert "[1, 2, 4]" in next(f.message for f in results.failures if f.kind == "mismatch")
    assert len(results.measurement("external.flaky", "optimized").wall_ms.samples) == 2
    assert results.measurement("external.flaky", "broken").error is not None
    assert [m.operation for m in results.operations] == ["external.flaky"] * 4


def test_unknown_operation_suggests_close_matches(
    seeded_db: str, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--only", "renders.get_by_id", "--database-url", seeded_db]) == 2
    assert "did you mean renders.get_by_ids" in capsys.readouterr().err


def test_scenario_module_that_fails_to_import_exits_2(
    tmp_path: Path, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / "broken_ops.py"
    module.write_text("import no_such_module_anywhere\n")
    assert main(["run", "--scenarios", str(module), "--ephemeral"]) == 2
    assert "no_such_module_anywhere" in capsys.readouterr().err


def test_run_on_a_database_without_data_exits_2(
    fresh_db: str, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--database-url", fresh_db, "--out", str(dalperf_home / "r.json")]) == 2
    assert "dalperf seed" in capsys.readouterr().err
