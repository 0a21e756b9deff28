"""EXPLAIN of captured statements: real plans from the real server, replayed and rolled back."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dalperf.capture.records import Statement
from dalperf.measure import runner
from dalperf.measure.engines import Engines
from dalperf.measure.loader import load_module, load_modules
from dalperf.measure.registry import REGISTRY
from dalperf.plans.explain import Explainer, classify
from dalperf.plans.findings import PlanThresholds, findings, seq_scans
from tests.conftest import table_checksums, target_for


def statement(sql: str, parameters: object = None, *, at: int = 0) -> Statement:
    """A statement record as a capture makes it (only the SQL, parameters and order matter)."""
    return Statement(sql, parameters, at, at + 1, 1, 0, False, None, None)


@pytest.fixture
def explainer(seeded_db: str) -> Iterator[Explainer]:
    with Explainer.open(target_for(seeded_db), PlanThresholds(seq_scan_rows=1000)) as opened:
        yield opened


@pytest.mark.parametrize(
    ("sql", "explainable", "writes"),
    [
        ("SELECT * FROM renders WHERE id = %(id)s", True, False),
        ("UPDATE renders SET status = %(s)s WHERE id = %(id)s", True, True),
        ("INSERT INTO users (email) VALUES (%(e)s)", True, True),
        ("DELETE FROM renders WHERE id = $1", True, True),
        (
            "WITH gone AS (DELETE FROM renders WHERE id = 1 RETURNING id) SELECT count(*) FROM gone",
            True,
            True,
        ),
        ("WITH recent AS (SELECT id FROM renders) SELECT count(*) FROM recent", True, False),
        ("VACUUM renders", False, False),
        ("SET work_mem = '64MB'", False, False),
        ("CREATE INDEX ON renders (prompt)", False, False),
        ("SELECT 1; SELECT 2", False, False),
        ("SELEC nothing", False, False),
    ],
)
def test_classify(sql: str, explainable: bool, writes: bool) -> None:
    kind = classify(sql)
    assert (kind.explainable, kind.writes) == (explainable, writes)
    assert (kind.reason is None) is explainable


def test_utility_statement_reason_names_it() -> None:
    assert "VacuumStmt is a utility statement" in (classify("VACUUM renders").reason or "")
    assert "2 statements" in (classify("SELECT 1; SELECT 2").reason or "")


def test_replay_explains_each_shape_once_and_keeps_state_between_writes(
    engines: Engines, loop: asyncio.Runner, explainer: Explainer, seeded_db: str
) -> None:
    """delete_chain naive: the chain's DELETE is only possible after the 50 UPDATEs detached its
    renders (the foreign key), so an explainable DELETE shows the replay kept their effect."""
    load_modules(["dalperf.scenarios"])
    operation = REGISTRY.get("render_chains.delete_chain")
    params = loop.run(operation.draw_params(engines))
    call = loop.run(runner.measure_call(operation, operation.variant("naive"), engines, params))
    before = table_checksums(seeded_db)

    plans = explainer.explain(call.capture.statements)

    assert table_checksums(seeded_db) == before  # rolled back
    assert [p["sql"].split()[0] for p in plans] == ["SELECT", "UPDATE", "DELETE"]
    assert all(p["explainable"] for p in plans), plans
    select, update, delete = plans
    assert update["writes"] and delete["writes"] and not select["writes"]
    assert select["findings"]["indexes"] == [
        {"index": "idx_renders_chain_id", "relation": "renders", "node": "Index Scan"}
    ]
    assert select["plan"]["Plans"][0]["Actual Rows"] == 50  # the chain's renders, real values
    assert select["total_ms"] > 0 and select["buffers"]["shared_hit"] > 0
    assert select["relations"]["renders"] > 1000
    # the SELECT's plan scanned the chain index; the DELETE's plan only shows the chain's
    # primary key, but its foreign-key check on renders.chain_id scanned the chain index too
    assert select["index_scans"] == {"public.idx_renders_chain_id": 1}
    assert update["index_scans"] == {"public.renders_pkey": 1}
    assert delete["index_scans"]["public.idx_renders_chain_id"] == 1
    assert "idx_renders_chain_id" not in str(delete["plan"])
    [check] = delete["triggers"]
    assert (check["name"], check["relation"], check["calls"]) == (
        "renders_chain_id_fkey",
        "render_chains",
        1,
    )


def test_findings_on_real_plans(explainer: Explainer, seeded_db: str) -> None:
    with psycopg.connect(seeded_db, autocommit=True) as conn:
        conn.execute("VACUUM renders")  # all-visible pages: the state autovacuum may leave
        # VACUUM's row count is an estimate once other tests' rolled-back writes left dead
        # rows; ANALYZE of a table this small reads every row: the exact count again
        conn.execute("ANALYZE renders")
    explainer.conn.execute("SET work_mem = '64kB'")
    # The id % 2 statements also read a column outside the primary key: selecting the id
    # alone, the planner prefers an Index Only Scan of renders_pkey to the Seq Scan as soon
    # as (auto)vacuum has marked the pages all-visible, which the rolled-back writes of
    # other tests on this shared database make happen at random moments.
    plans = explainer.explain(
        [
            statement(
                "SELECT id FROM renders WHERE prompt = %(prompt)s", {"prompt": "no such"}, at=1
            ),
            statement("SELECT * FROM renders ORDER BY prompt, id", at=2),
            statement("SELECT id, prompt FROM renders WHERE id %% 2 = %(zero)s", {"zero": 0}, at=3),
            statement("SELECT id, prompt FROM renders WHERE id %% 2 = 0 LIMIT 5", {}, at=4),
        ]
    )
    by_filter, disk_sort, misestimated, limited = (p["findings"] for p in plans)
    [scan] = by_filter["seq_scans"]
    assert scan["relation"] == "renders" and "prompt" in scan["filter"]
    assert scan["rows_kept"] == 0 and scan["rows_read"] == scan["table_rows"] > 1000
    [sort] = disk_sort["disk_sorts"]
    assert sort["sort_key"] == ["prompt", "id"] and sort["space_kb"] > 0
    # the planner guesses 0.5% for "expression = constant"; half the rows match
    assert [m["relation"] for m in misestimated["misestimates"]] == ["renders"]
    assert misestimated["misestimates"][0]["factor"] >= 10
    # below a Limit a scan stops early: fewer rows than estimated is no misestimate
    assert limited["misestimates"] == []
    assert [s["relation"] for s in seq_scans(plans)] == ["renders"] * 4


def test_seq_scans_below_the_threshold_or_without_filter_are_no_finding() -> None:
    plan = {
        "Node Type": "Seq Scan",
        "Relation Name": "renders",
        "Plan Rows": 5,
        "Actual Rows": 5,
        "Actual Loops": 1,
        "Filter": "(status = 'failed')",
    }
    assert findings(plan, {"renders": 900.0}, PlanThresholds(seq_scan_rows=1000))["seq_scans"] == []
    assert findings(plan, {"renders": 1001.0}, PlanThresholds(seq_scan_rows=1000))["seq_scans"]
    unfiltered = {k: v for k, v in plan.items() if k != "Filter"}
    assert findings(unfiltered, {"renders": 1e6})["seq_scans"] == []


def test_a_failing_or_utility_statement_is_not_explainable_and_the_replay_goes_on(
    explainer: Explainer,
) -> None:
    plans = explainer.explain(
        [
            statement("SET LOCAL work_mem = '8MB'", at=1),
            statement("SELECT * FROM no_such_table", at=2),
            statement("SELECT count(*) FROM users", at=3),
        ]
    )
    utility, failing, fine = plans
    assert utility["explainable"] is False and "utility statement" in utility["reason"]
    assert failing["explainable"] is False
    assert failing["reason"].startswith('UndefinedTable: relation "no_such_table"')
    assert fine["explainable"] is True and fine["plan"]["Node Type"] == "Aggregate"


SCENARIO = textwrap.dedent("""
    from sqlalchemy import text
    from dalperf.measure.scenario import register

    async def pick(db, rng, size):
        return None

    async def naive(db, params):
        async with db.sessions() as session:
            await session.execute(text("CREATE TEMP TABLE IF NOT EXISTS scratch (x int)"))
            await session.execute(text("SHOW work_mem"))
            return (await session.execute(text("SELECT count(*) FROM scratch"))).scalar_one()

    async def optimized(db, params):
        async with db.sessions() as session:
            return (await session.execute(text("SELECT 0::bigint"))).scalar_one()

    register("explain_probe.utility", variants={"naive": naive, "optimized": optimized},
             params=pick)
""")


def test_a_run_records_unexplainable_statements_and_does_not_abort(
    tmp_path: Path, fresh_db: str
) -> None:
    module = tmp_path / "explain_probe.py"
    module.write_text(SCENARIO)
    load_module(str(module))
    config = runner.RunConfig(iterations=1, warmup=0, param_sets=1, complexity=False)
    results = asyncio.run(
        runner.run(target_for(fresh_db), [REGISTRY.get("explain_probe.utility")], config)
    )
    assert results.failures == ()
    naive = results.measurement("explain_probe.utility", "naive")
    create, show, select = naive.plans
    assert not create["explainable"] and "CreateStmt is a utility statement" in create["reason"]
    assert not show["explainable"] and "VariableShowStmt" in show["reason"]
    # the temporary table lives in the variant's session, not in the replay's
    assert not select["explainable"] and "scratch" in select["reason"]
    [plan] = results.measurement("explain_probe.utility", "optimized").plans
    assert plan["explainable"] and plan["plan"]["Node Type"] == "Result"


def test_no_explain_means_no_plans(seeded_db: str) -> None:
    load_modules(["dalperf.scenarios"])
    config = runner.RunConfig(iterations=1, warmup=0, param_sets=1, complexity=False, explain=None)
    operation = REGISTRY.get("billing.get_user_credits_with_reset")
    results = asyncio.run(runner.run(target_for(seeded_db), [operation], config))
    assert all(m.plans == () for m in results.operations)


def test_the_planners_own_index_probes_are_not_counted_as_scans(
    engines: Engines, loop: asyncio.Runner, explainer: Explainer
) -> None:
    """Planning the self-joins of get_with_context probes the indexes on parent_render_id,
    reference_render_id and chain_id (their actual min and max); executing it does not."""
    load_modules(["dalperf.scenarios"])
    operation = REGISTRY.get("renders.get_with_context")
    params = loop.run(operation.draw_params(engines))
    call = loop.run(runner.measure_call(operation, operation.variant("optimized"), engines, params))
    [plan] = explainer.explain(call.capture.statements)
    used = {f"public.{u['index']}" for u in plan["findings"]["indexes"]}
    assert plan["index_scans"]["public.renders_pkey"] == 3  # the render, parent and reference
    assert set(plan["index_scans"]) <= used
