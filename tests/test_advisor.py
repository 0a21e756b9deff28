"""The index advisor on the real server: migration 0006 removed from a scale-1 database.

Without 0006, gallery.list_public sorts every public gallery item and render_chains.delete_chain
scans all 100,000 renders for one chain; the advisor must find indexes that serve those plans
again, build each candidate inside a rolled-back transaction, and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import BrowserContext

from dalperf.cli import main
from dalperf.db import urls
from dalperf.db.embedded import OWNED_MARKER, ServerStatus
from dalperf.db.targets import Source, Target
from dalperf.measure import pipeline
from dalperf.measure.config import RunConfig
from dalperf.measure.loader import load_modules
from dalperf.measure.registry import REGISTRY
from dalperf.measure.workload import advise_operations, capture_calls
from dalperf.plans import index_audit
from dalperf.plans.advisor import AdvisorConfig, advise
from dalperf.plans.candidates import candidates
from dalperf.plans.findings import walk
from dalperf.plans.index_audit import Index
from dalperf.project.budgets import BudgetSet
from dalperf.results.model import Results, read_results
from tests.conftest import drop_database, target_for
from tests.test_index_audit import index_names_in, scratch_database
from tests.test_report import render_html
from tests.test_report_browser import Watched, browser  # noqa: F401  (the browser fixture)

SCALE = 1.0
OPERATIONS = (
    "gallery.list_public",
    "render_chains.delete_chain",
    "renders.get_by_ids",
    "renders.get_with_context",
    "renders.update_status_batch",
)
PRIMARY_KEY_SERVED = (
    "renders.get_by_ids",
    "renders.get_with_context",
    "renders.update_status_batch",
)
CONFIG = RunConfig(iterations=1, warmup=0, param_sets=1, complexity=False)
ADVISOR = AdvisorConfig(write_repeats=2)
MIGRATION = index_audit.performance_migration()


def operations(*names: str) -> list[Any]:
    load_modules(["dalperf.scenarios"])
    return [REGISTRY.get(name) for name in names]


@pytest.fixture(scope="module")
def without_0006(pg_server: ServerStatus) -> Iterator[str]:
    """A scale-1 database of this module's own with migration 0006 migrated down."""
    url = scratch_database(pg_server, SCALE)
    try:
        with index_audit.indexes_removed(target_for(url), MIGRATION):
            yield url
    finally:
        drop_database(pg_server, url.rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def indexes_before(without_0006: str) -> set[str]:
    return index_names_in(without_0006)


@pytest.fixture(scope="module")
def results(
    without_0006: str, indexes_before: set[str], tmp_path_factory: pytest.TempPathFactory
) -> Results:
    """The pipeline with the advisor, as `dalperf run --advise` runs it."""
    plan = pipeline.Plan(
        operations=operations(*OPERATIONS), budgets=BudgetSet(), config=CONFIG, advise=ADVISOR
    )
    return pipeline.measure(
        target_for(without_0006), plan, out=tmp_path_factory.mktemp("advice") / "results.json"
    )


def proposal_on(results: Results, table: str, leading: str) -> dict[str, Any]:
    assert results.advice is not None
    found = [
        p
        for p in results.advice["proposals"]
        if p["table"] == table and p["columns"][0].split()[0] == leading
    ]
    assert found, [p["create"] for p in results.advice["proposals"]]
    return found[0]


def scans(plan: dict[str, Any], relation: str) -> set[tuple[str, str | None]]:
    return {
        (n["Node Type"], n.get("Index Name"))
        for n, _, _ in walk(plan["plan"])
        if n.get("Relation Name") == relation
    }


def statement_entries(results: Results, operation: str) -> list[dict[str, Any]]:
    assert results.advice is not None
    return [
        s
        for s in results.advice["statements"]
        if any(w.startswith(operation + " [") for w in s["operations"])
    ]


def test_rediscovers_indexes_that_serve_the_plans_0006_served(results: Results) -> None:
    advice = results.advice
    assert advice is not None and advice["built"] and advice["note"] is None
    chain = proposal_on(results, "renders", "chain_id")
    assert chain["columns"] == ["chain_id"]  # the two-column one did not beat it
    assert chain["create"] == "CREATE INDEX CONCURRENTLY ix_renders_chain_id ON renders (chain_id);"
    assert chain["alembic"] == (
        "op.create_index('ix_renders_chain_id', 'renders', ['chain_id'], "
        "postgresql_concurrently=True)"
    )
    assert {f"render_chains.delete_chain [{v}]" for v in ("naive", "summary", "optimized")} <= set(
        chain["operations"]
    )
    for entry in statement_entries(results, "render_chains.delete_chain"):
        assert entry["proposal"] == "ix_renders_chain_id"
        assert ("Seq Scan", None) in scans(entry["before"], "renders")
        won = next(c for c in entry["candidates"] if c["name"] == "ix_renders_chain_id")
        assert won["status"] == "kept" and won["uses_index"]
        assert ("Seq Scan", None) not in scans(won["after"], "renders")
        assert won["time_gain"] >= 0.5 and won["buffer_gain"] >= 0.5
        assert won["after"]["execution_ms"] <= entry["before"]["execution_ms"] / 2

    gallery = statement_entries(results, "gallery.list_public")
    assert {w for s in gallery for w in s["operations"]} == {
        "gallery.list_public [naive]",
        "gallery.list_public [optimized]",
    }
    for entry in gallery:
        assert ("Seq Scan", None) in scans(entry["before"], "gallery_items")
        won = next(c for c in entry["candidates"] if c["name"] == entry["proposal"])
        assert won["table"] == "gallery_items"
        assert "created_at" in [c.split()[0] for c in won["columns"]]  # either direction
        assert scans(won["after"], "gallery_items") <= {
            ("Index Scan", won["name"]),
            ("Index Only Scan", won["name"]),
        }
        tried = {tuple(c["columns"]) for c in entry["candidates"]}
        assert ("is_public", "created_at DESC") in tried  # the order 0006 indexed, tried too
    by_name = {p["name"]: p for p in advice["proposals"]}
    for proposal in advice["proposals"]:
        keys = [c.split()[0] for c in proposal["columns"]]
        wider = {
            n
            for n, other in by_name.items()
            if other["table"] == proposal["table"]
            and len(other["columns"]) > len(keys)
            and not proposal["include"]
            and [c.split()[0] for c in other["columns"]][: len(keys)] == keys
        }
        assert set(proposal["covered_by"]) == wider


def test_proposes_nothing_for_operations_a_primary_key_serves(results: Results) -> None:
    assert results.advice is not None
    for operation in PRIMARY_KEY_SERVED:
        assert statement_entries(results, operation) == []
        assert not any(
            w.startswith(operation + " [")
            for p in results.advice["proposals"]
            for w in p["operations"]
        )


def test_kept_indexes_are_sized_and_priced_on_the_writes_to_their_table(
    results: Results, without_0006: str
) -> None:
    chain = proposal_on(results, "renders", "chain_id")
    with psycopg.connect(without_0006) as conn:  # the same index, built here and rolled back
        conn.execute("CREATE INDEX ix_renders_chain_id ON renders (chain_id)")
        size = conn.execute("SELECT pg_relation_size('ix_renders_chain_id')").fetchone()[0]
        conn.rollback()
    assert chain["size_bytes"] == size > 10 * 8192
    priced = {(c["operation"], c["variant"]) for c in chain["write_cost"]}
    assert priced == {
        ("render_chains.delete_chain", v) for v in ("naive", "summary", "optimized")
    } | {("renders.update_status_batch", v) for v in ("naive", "optimized")}
    for cost in chain["write_cost"]:
        assert cost["error"] is None and cost["calls"] == ADVISOR.write_repeats
        assert cost["with_index_ms"] > 0 and cost["without_index_ms"] > 0
        assert cost["cost_ms"] == pytest.approx(
            cost["with_index_ms"] - cost["without_index_ms"], abs=0.002
        )
    # detaching a chain's renders finds them by chain_id: the index pays for itself there
    optimized = next(
        c
        for c in chain["write_cost"]
        if c["variant"] == "optimized" and c["operation"] == "render_chains.delete_chain"
    )
    assert optimized["with_index_ms"] < optimized["without_index_ms"]
    gallery = next(p for p in results.advice["proposals"] if p["table"] == "gallery_items")
    assert gallery["write_cost"] == []  # no measured operation writes to gallery_items


def test_nothing_stays_behind(
    results: Results, without_0006: str, indexes_before: set[str]
) -> None:
    assert results.advice is not None and results.advice["candidates_built"] >= 4
    assert index_names_in(without_0006) == indexes_before


def test_an_existing_index_that_starts_with_the_columns_covers_the_candidate(
    results: Results,
) -> None:
    [entry] = [
        s
        for s in statement_entries(results, "render_chains.delete_chain")
        if s["operations"] == ["render_chains.delete_chain [naive]"]
    ]
    tried = {tuple(c["columns"]) for c in entry["candidates"]}
    assert ("chain_id",) in tried
    existing = Index(
        schema="public",
        name="by_chain",
        table="renders",
        method="btree",
        unique=False,
        predicate=None,
        definition="",
        size_bytes=0,
        columns=("chain_id", "chain_position"),
        constraint=False,
    )
    found = candidates(entry["before"], entry["sql"], [existing])
    # (chain_id) and (chain_id, chain_position) are its prefixes; the sort's column is not
    assert [c.columns for c in found] == [("chain_position",)]
    taken = dataclasses.replace(existing, name="ix_renders_chain_id", columns=("status",))
    renamed = candidates(entry["before"], entry["sql"], [taken])
    assert "ix_renders_chain_id_2" in {c.name for c in renamed}


def test_results_file_keeps_the_advice_and_check_gates_on_it(
    results: Results, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    results.save(path)
    assert read_results(path).advice == results.advice
    assert main(["check", str(path), "--fail-on-missing-index"]) == 1
    out = capsys.readouterr().out
    assert "missing index" in out and "CREATE INDEX CONCURRENTLY ix_renders_chain_id" in out

    data = json.loads(path.read_text())
    del data["advice"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(data))
    assert read_results(older).advice is None
    assert main(["check", str(older)]) == main(["check", str(path)])  # the gate as before
    capsys.readouterr()
    assert main(["check", str(older), "--fail-on-missing-index"]) == 2
    assert "dalperf run --advise" in capsys.readouterr().err

    data["advice"] = {**results.advice, "version": 99}
    older.write_text(json.dumps(data))
    assert main(["check", str(older)]) == 2
    assert "advice version 99 is not supported" in capsys.readouterr().err


def test_report_shows_the_proof_the_statements_and_the_write_cost(
    results: Results, browser: BrowserContext, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    report.write_text(render_html(results))
    watched = Watched(browser)
    watched.open(report)
    page = watched.page
    assert watched.errors == []
    section = page.locator("#index-advice")
    assert section.is_visible() and page.locator('nav a[href="#index-advice"]').count() == 1
    chain = section.locator('div.proposal[data-index="ix_renders_chain_id"]')
    assert chain.locator("pre.create").inner_text() == (
        "CREATE INDEX CONCURRENTLY ix_renders_chain_id ON renders (chain_id);"
    )
    assert (
        chain.locator("pre.alembic")
        .inner_text()
        .startswith("op.create_index('ix_renders_chain_id', 'renders', ['chain_id']")
    )
    rows = chain.locator("table.write-cost tbody tr").all_inner_texts()
    assert len(rows) == 5 and any("render_chains.delete_chain [optimized]" in r for r in rows)
    trees = chain.locator("details.plan-tree")
    trees.nth(0).locator("summary").click()
    trees.nth(1).locator("summary").click()
    before = " ".join(trees.nth(0).locator("tr.plan-node").all_inner_texts())
    after = " ".join(trees.nth(1).locator("tr.plan-node").all_inner_texts())
    assert "Seq Scan" in before and "ix_renders_chain_id" not in before
    assert "ix_renders_chain_id" in after and "Seq Scan" not in after
    proof = chain.locator("table.advice-proof tbody tr").first.inner_text()
    assert "sequential scan of renders" in proof


def test_a_database_dalperf_does_not_own_is_explained_but_not_built(
    without_0006: str,
    indexes_before: set[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dalperf_home: Path,
) -> None:
    name = without_0006.rsplit("/", 1)[1]
    admin = without_0006.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'COMMENT ON DATABASE "{name}" IS NULL')
    try:
        code = main(
            [
                "run",
                "--database-url",
                without_0006,
                "--only",
                "gallery.list_public",
                "--iterations",
                "1",
                "--warmup",
                "0",
                "--param-sets",
                "1",
                "--no-complexity",
                "--advise",
                "-o",
                str(tmp_path / "r.json"),
            ]
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{OWNED_MARKER}'")
    assert code == 0
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "explain only" in line]
    assert "not a database dalperf created nor one marked disposable" in line
    advice = read_results(tmp_path / "r.json").advice
    assert advice is not None and not advice["built"] and advice["candidates_built"] == 0
    assert advice["proposals"] == [] and advice["statements"]
    for entry in advice["statements"]:
        assert ("Seq Scan", None) in scans(entry["before"], "gallery_items")
        assert entry["candidates"] and all(
            c["status"] == "not tested" and c["reason"].startswith("explain only")
            for c in entry["candidates"]
        )
    assert index_names_in(without_0006) == indexes_before


def test_a_lock_held_elsewhere_times_the_build_out_and_the_advisor_goes_on(
    without_0006: str, indexes_before: set[str]
) -> None:
    calls, _ = asyncio.run(
        capture_calls(
            urls.parse(without_0006),
            operations("render_chains.delete_chain", "gallery.list_public"),
        )
    )
    with psycopg.connect(without_0006) as holder:
        holder.execute("LOCK TABLE renders IN ROW EXCLUSIVE MODE")  # as an open write would
        advice = advise(calls, target_for(without_0006), AdvisorConfig(lock_timeout_ms=200))
        holder.rollback()
    on_renders = [
        c for s in advice["statements"] for c in s["candidates"] if c["table"] == "renders"
    ]
    assert on_renders and all(
        c["status"] == "not tested" and "lock timeout" in c["reason"] for c in on_renders
    )
    assert [p["table"] for p in advice["proposals"]] and {
        p["table"] for p in advice["proposals"]
    } == {"gallery_items"}  # it went on
    assert index_names_in(without_0006) == indexes_before


def test_a_build_that_fails_is_recorded_as_not_tested(
    without_0006: str, indexes_before: set[str]
) -> None:
    role = f"advisor_not_owner_{os.getpid()}"
    with psycopg.connect(without_0006, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
    try:
        calls, _ = asyncio.run(
            capture_calls(urls.parse(without_0006), operations("gallery.list_public"))
        )
        url = urls.parse(without_0006).set(username=role)
        target = Target(url=url, source=Source.URL, writable=True)  # marked disposable
        advice = advise(calls, target, ADVISOR)
    finally:
        with psycopg.connect(without_0006, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
    tried = [c for s in advice["statements"] for c in s["candidates"]]
    assert tried and advice["candidates_built"] == 0
    assert all(
        c["status"] == "not tested" and "must be owner of table gallery_items" in c["reason"]
        for c in tried
    )
    assert advice["proposals"] == []
    assert index_names_in(without_0006) == indexes_before


def test_redundant_indexes_come_with_size_write_cost_and_drop_line(
    without_0006: str, indexes_before: set[str]
) -> None:
    extra = {
        "dup_likes_a": "gallery_items (likes)",
        "dup_likes_b": "gallery_items (likes)",
        "status_only": "renders (status)",
        "status_created": "renders (status, created_at)",
        "by_output_url": "renders (output_url)",
    }
    with psycopg.connect(without_0006, autocommit=True) as conn:
        for name, on in extra.items():
            conn.execute(f"CREATE INDEX {name} ON {on}")
    try:
        advice = advise_operations(
            target_for(without_0006), operations("renders.update_status_batch"), ADVISOR
        )
        kept = index_names_in(without_0006)
    finally:
        with psycopg.connect(without_0006, autocommit=True) as conn:
            conn.execute(f"DROP INDEX {', '.join(extra)}")
    assert set(extra) <= kept  # measuring without them dropped them only inside a rollback
    found = {r["name"]: r for r in advice["redundant"]}
    assert found["dup_likes_a"]["kind"] == "duplicate" and found["dup_likes_a"]["write_cost"] == []
    assert found["status_only"]["kind"] == "prefix"
    assert found["status_only"]["why"] == "status_created covers it"
    assert found["status_only"]["drop"] == 'DROP INDEX CONCURRENTLY "public"."status_only";'
    assert "status_created" not in found  # unused, but it serves status_only's lookups
    # renders is written by the run and nothing read it by output_url: unused
    assert found["by_output_url"]["kind"] == "unused"
    for name in ("status_only", "by_output_url"):
        entry = found[name]
        assert entry["size_bytes"] > 8192
        assert {(c["operation"], c["variant"]) for c in entry["write_cost"]} == {
            ("renders.update_status_batch", "naive"),
            ("renders.update_status_batch", "optimized"),
        }
        assert all(
            c["error"] is None and c["with_index_ms"] > 0 and c["without_index_ms"] > 0
            for c in entry["write_cost"]
        )
    assert "renders_pkey" not in found  # a constraint's index is never redundant here
    assert index_names_in(without_0006) == indexes_before


def test_audit_with_advise_on_a_fresh_embedded_server(
    dalperf_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "audit",
            "--home",
            str(dalperf_home),
            "--out-dir",
            str(out),
            "--scale",
            "0.05",
            "--iterations",
            "1",
            "--only",
            "render_chains",
            "--advise",
        ]
    )
    captured = capsys.readouterr()
    assert "with plans and the index audit and the index advice" in captured.err
    assert "advisor: " in captured.out and "explain only" not in captured.out
    results = read_results(out / "results.json")
    assert results.advice is not None and results.advice["built"]
    # with 0006 in place, renders (chain_id) is a prefix of renders (chain_id, chain_position)
    prefix = next(r for r in results.advice["redundant"] if r["name"] == "idx_renders_chain_id")
    assert prefix["kind"] == "prefix" and prefix["why"] == "idx_renders_chain_position covers it"
    assert {c["variant"] for c in prefix["write_cost"]} == {"naive", "summary", "optimized"}
    kinds = {r["name"]: r["kind"] for r in results.advice["redundant"]}
    assert kinds["idx_renders_status"] == "unused"  # delete_chain writes renders, none reads it
    assert "idx_renders_chain_position" not in kinds  # it serves chain_id's lookups instead
    assert "idx_renders_parent_render_id" not in kinds  # it backs renders_parent_render_id_fkey
    assert 'id="index-advice"' in (out / "report.html").read_text()
    assert code == main(["check", str(out / "results.json")])
