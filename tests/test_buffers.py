"""Buffers per call and plan shapes: deterministic on the same data, gated by budget and baseline.

The case study is seeded once into a template database; each test measures on exact copies
of it (``CREATE DATABASE ... TEMPLATE``), the same data down to the page.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dalperf.cli import main
from dalperf.db.embedded import OWNED_MARKER, ServerStatus
from dalperf.errors import UsageError
from dalperf.gate.baseline import BuffersCheck, compare, parse_checks
from dalperf.gate.check import evaluate, markdown_summary, measurement_violations
from dalperf.measure import runner
from dalperf.measure.loader import load_modules
from dalperf.measure.registry import REGISTRY
from dalperf.plans.shape import buffers_of, plan_shape
from dalperf.project.budgets import BudgetSet
from dalperf.report import render
from dalperf.results.model import Results, read_results
from dalperf.seed.loader import seed_database
from tests.conftest import SEEDED_SCALE, SEEDED_SEED, create_database, drop_database, target_for
from tests.test_check import make_measurement, make_results
from tests.test_report import render_html

OPERATIONS = (
    "renders.get_by_ids",
    "render_chains.delete_chain",
    "projects.list_with_render_counts",
    "gallery.list_public",
)
KEYSET_INDEX = "idx_gallery_items_public_keyset"  # gallery.list_public [optimized] scans it


@pytest.fixture(scope="module")
def template(pg_server: ServerStatus) -> Iterator[str]:
    """The name of a seeded database that is only ever copied, never connected to."""
    name = f"buffers_tpl_{os.getpid()}"
    seed_database(
        target_for(create_database(pg_server, name)), scale=SEEDED_SCALE, seed=SEEDED_SEED
    )
    try:
        yield name
    finally:
        drop_database(pg_server, name)


def copy_of(server: ServerStatus, template: str, name: str) -> str:
    """An exact copy of ``template`` (owned by dalperf); its URL."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{OWNED_MARKER}'")
    return server.url(name)


def measure(url: str, *, iterations: int) -> Results:
    load_modules(["dalperf.scenarios"])
    config = runner.RunConfig(iterations=iterations, warmup=1, param_sets=2, complexity=False)
    return asyncio.run(
        runner.run(target_for(url), [REGISTRY.get(name) for name in OPERATIONS], config)
    )


@pytest.fixture(scope="module")
def runs(pg_server: ServerStatus, template: str) -> Iterator[tuple[Results, Results, Results]]:
    """The operations measured on three copies: 5, 5 and 2 iterations."""
    names = [f"buffers_{os.getpid()}_{i}" for i in range(3)]
    try:
        yield tuple(
            measure(copy_of(pg_server, template, name), iterations=iterations)
            for name, iterations in zip(names, (5, 5, 2), strict=True)
        )
    finally:
        for name in names:
            drop_database(pg_server, name)


def test_buffers_are_identical_across_runs_on_the_same_data_wall_time_is_not(
    runs: tuple[Results, Results, Results],
) -> None:
    first, second, shorter = runs
    assert first.failures == ()
    for a, b, c in zip(first.operations, second.operations, shorter.operations, strict=True):
        assert a.key == b.key == c.key
        assert a.buffers is not None and a.buffers > 0 and a.rows_read is not None, a.key
        # the same data: the same work, however many timed rounds ran before or after
        assert (a.buffers, a.rows_read) == (b.buffers, b.rows_read) == (c.buffers, c.rows_read)
        assert [p.get("shape") for p in a.plans] == [p.get("shape") for p in b.plans]
        assert a.wall_ms.samples != b.wall_ms.samples, a.key  # wall time is not deterministic
    walls = {m.key: m.wall_ms.p50 for m in first.operations}
    assert any(walls[m.key] != m.wall_ms.p50 for m in second.operations)


def test_every_execution_of_a_statement_is_counted_not_one_per_shape(
    runs: tuple[Results, Results, Results],
) -> None:
    naive = runs[0].measurement("renders.get_by_ids", "naive")
    optimized = runs[0].measurement("renders.get_by_ids", "optimized")
    repeated = max(naive.plans, key=lambda p: p["work"]["executions"])
    assert repeated["work"]["executions"] == 20  # the N+1: twenty single-row reads
    assert repeated["work"]["rows_read"] == 20
    for m in (naive, optimized, runs[0].measurement("render_chains.delete_chain", "naive")):
        assert m.buffers == sum(buffers_of(p["work"]) for p in m.plans if p["explainable"])
    assert naive.buffers > optimized.buffers  # twenty index descents against one


def test_shape_leaves_out_costs_and_timings_and_keeps_relations_and_indexes(
    runs: tuple[Results, Results, Results],
) -> None:
    plan = runs[0].measurement("gallery.list_public", "optimized").plans[0]
    lines = "\n".join(plan["shape"]["lines"])
    assert KEYSET_INDEX in lines and "gallery_items" in lines
    assert "Cost" not in lines and "Time" not in lines and "Rows" not in lines
    assert plan_shape(plan["plan"]) == plan["shape"]  # the stored tree gives the same shape


def test_max_buffers_budget(runs: tuple[Results, Results, Results]) -> None:
    m = runs[0].measurement("renders.get_by_ids", "optimized")
    assert m.buffers is not None

    def violations(limit: int) -> list[str]:
        budgets = BudgetSet.parse({m.operation: {m.variant: {"max_buffers": limit}}}, source="test")
        return [v.message for v in measurement_violations(m, budgets) if v.limit == "max_buffers"]

    assert violations(m.buffers) == []
    assert violations(m.buffers - 1) == [
        f"{m.buffers:,} buffers per call, budget {m.buffers - 1:,}"
    ]
    unexplained = make_measurement(buffers=None, budget={"max_buffers": 10})
    assert "run with --explain" in measurement_violations(unexplained, BudgetSet())[0].message
    with pytest.raises(UsageError, match="max_buffers must be a whole number"):
        BudgetSet.parse({m.operation: {m.variant: {"max_buffers": -1}}}, source="test")


def run_cli(url: str, out: Path) -> None:
    code = main(
        [
            "run",
            "--database-url",
            url,
            "--only",
            "gallery.list_public",
            "--iterations",
            "5",
            "--no-complexity",
            "--out",
            str(out),
        ]
    )
    assert code == 0


@pytest.fixture(scope="module")
def dropped_index(
    pg_server: ServerStatus, template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path]]:
    """``(before, after)`` results of gallery.list_public on one copy, before and after its
    keyset index was dropped."""
    folder = tmp_path_factory.mktemp("dropped")
    name = f"buffers_drop_{os.getpid()}"
    url = copy_of(pg_server, template, name)
    try:
        run_cli(url, folder / "before.json")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP INDEX {KEYSET_INDEX}")
        run_cli(url, folder / "after.json")
        yield folder / "before.json", folder / "after.json"
    finally:
        drop_database(pg_server, name)


LOOSE = ["--check", "median:100000%", "--check", "p95:100000%"]


def _without_p95_budget(folder: Path) -> list[str]:
    """``--budgets`` lifting the checklist's p95 budget of 200 ms: a wall-time figure that a
    loaded machine can break by itself, in tests about buffers and plans only."""
    budgets = folder / "budgets.toml"
    budgets.write_text('["gallery.list_public".optimized]\np95_ms = 100000\n')
    return ["--budgets", str(budgets)]


def test_a_changed_plan_that_raised_buffers_fails_with_both_shapes(
    dropped_index: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before, after = dropped_index
    loose = [*LOOSE, *_without_p95_budget(tmp_path)]
    old = read_results(before).measurement("gallery.list_public", "optimized")
    new = read_results(after).measurement("gallery.list_public", "optimized")
    assert old.buffers is not None and new.buffers is not None and new.buffers > old.buffers * 1.1
    capsys.readouterr()
    assert main(["check", str(after), "--baseline", str(before), *loose]) == 1
    out = capsys.readouterr().out
    assert "plan change: gallery.list_public [optimized]" in out
    assert KEYSET_INDEX in out  # the baseline's shape ...
    assert "Seq Scan" in out or "Sort" in out  # ... beside the new one
    assert f"buffers per call rose from {old.buffers:,} to {new.buffers:,}" in out
    # a tolerance wide enough: the change is reported, the gate passes
    assert (
        main(
            [
                "check",
                str(after),
                "--baseline",
                str(before),
                *loose,
                "--check",
                "buffers:100000%",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "plan change: gallery.list_public [optimized]" in out and "passed" in out
    # the unchanged run against itself: no plan change
    assert (
        main(["check", str(before), "--baseline", str(before), *_without_p95_budget(tmp_path)]) == 0
    )
    assert "plan change" not in capsys.readouterr().out


def strip_work(data: Any) -> Any:
    """A results file as dalperf wrote it before buffers and shapes were recorded."""
    for m in data["operations"]:
        m.pop("buffers", None)
        m.pop("rows_read", None)
        for plan in m["plans"]:
            plan.pop("work", None)
            plan.pop("shape", None)
    return data


def test_a_baseline_without_buffers_skips_the_deterministic_gates_with_a_note(
    dropped_index: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = dropped_index
    older = tmp_path / "older.json"
    older.write_text(json.dumps(strip_work(json.loads(before.read_text()))))
    assert read_results(older).measurement("gallery.list_public", "optimized").buffers is None
    capsys.readouterr()
    assert (
        main(
            ["check", str(after), "--baseline", str(older), *LOOSE, *_without_p95_budget(tmp_path)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "the baseline has no buffers" in out and "gates skipped" in out


def test_latency_is_still_gated_against_a_baseline_without_buffers() -> None:
    old = make_results(make_measurement(buffers=None))
    slow = tuple(v * 2 for v in make_measurement().wall_ms.samples)
    comparison = compare(make_results(make_measurement(wall=slow, buffers=500)), old)
    assert [r.metric for r in comparison.regressions] == ["median:10%", "p95:10%"]
    assert any("no buffers" in note for note in comparison.notes)


def test_buffers_without_a_plan_change_fail_beyond_the_tolerance_only() -> None:
    base = make_results(make_measurement(buffers=100))
    assert compare(make_results(make_measurement(buffers=110)), base).regressions == ()
    risen = compare(make_results(make_measurement(buffers=111)), base).regressions
    assert [(r.metric, r.baseline, r.measured) for r in risen] == [("buffers:10%", 100, 111)]
    assert "no plan changed" in risen[0].message
    assert (
        compare(
            make_results(make_measurement(buffers=111)), base, buffers=BuffersCheck(tolerance=20)
        ).regressions
        == ()
    )


def test_buffers_check_strings(capsys: pytest.CaptureFixture[str]) -> None:
    latency, buffers = parse_checks(["buffers:25%", "p95:5%"])
    assert buffers == BuffersCheck(tolerance=25) and [str(c) for c in latency] == ["p95:5%"]
    assert [str(c) for c in parse_checks(["buffers:5%"])[0]] == ["median:10%", "p95:10%"]
    for bad in ("buffers:10", "buffers:ten%", "buffers:5ms"):
        with pytest.raises(UsageError, match="must look like buffers:10%"):
            parse_checks([bad])


def test_the_report_shows_buffers_beside_queries_and_round_trips(
    runs: tuple[Results, Results, Results],
) -> None:
    results = runs[0]
    html = render_html(results)
    m = results.measurement("renders.get_by_ids", "naive")
    cells = re.findall(r'<td class="buffers">(\d+)<div class="sub">(\d+) rows read</div>', html)
    assert (str(m.buffers), str(m.rows_read)) in cells
    assert len(cells) == len(results.operations)
    budgets = BudgetSet()
    markdown = render(results, verdict=evaluate(results, budgets=budgets), budgets=budgets).markdown
    assert f"{m.queries} q · {m.round_trips} RT · {m.buffers} buf · p50" in markdown


def plan_of(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "fingerprint": "f1",
        "sql": "SELECT * FROM renders WHERE chain_id = $1",
        "explainable": True,
        "plan": node,
        "relations": {"renders": 5000.0},
    }


INDEXED = plan_of(
    {
        "Node Type": "Index Scan",
        "Index Name": "idx_renders_chain_id",
        "Relation Name": "renders",
        "Total Cost": 8.3,
        "Actual Rows": 3,
    }
)
SCANNED = plan_of({"Node Type": "Seq Scan", "Relation Name": "renders", "Total Cost": 99.0})


def test_a_plan_change_within_the_buffers_tolerance_is_reported_and_passes() -> None:
    base = make_results(make_measurement(buffers=100, plans=(INDEXED,)))
    verdict = evaluate(make_results(make_measurement(buffers=105, plans=(SCANNED,))), baseline=base)
    assert verdict.passed
    [change] = verdict.plan_changes
    assert (change.baseline, change.measured, change.failed) == (
        ("Index Scan using idx_renders_chain_id on renders",),
        ("Seq Scan on renders",),
        False,
    )
    summary = markdown_summary(verdict)
    assert "### plan change: renders.get_by_ids [optimized]" in summary
    assert (
        "| `Index Scan using idx_renders_chain_id on renders` | `Seq Scan on renders` |" in summary
    )
    # costs and row counts are no part of a shape: the same plan with other figures
    recosted = plan_of({**INDEXED["plan"], "Total Cost": 12.0, "Actual Rows": 7})
    assert (
        evaluate(
            make_results(make_measurement(plans=(recosted,))),
            baseline=make_results(make_measurement(plans=(INDEXED,))),
        ).plan_changes
        == ()
    )


def test_a_plan_change_that_raised_buffers_fails() -> None:
    verdict = evaluate(
        make_results(make_measurement(buffers=200, plans=(SCANNED,))),
        baseline=make_results(make_measurement(buffers=100, plans=(INDEXED,))),
    )
    assert not verdict.passed and verdict.plan_changes[0].failed
    [regression] = verdict.regressions
    assert regression.metric == "buffers:10%" and "1 plan(s) changed" in regression.message
