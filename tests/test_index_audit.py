"""The index audit and ``--indexes both``: migration 0006 on and off, on the real server.

Scale 0.2 (20,000 renders, 6,000 gallery items, seeded in about 2 s) is the smallest scale
at which the planner uses the 0006 indexes for every variant of gallery.list_public and
render_chains.delete_chain; scale 10 gives the same picture (benchmarks/index_audit_scale10.py).
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import BrowserContext

from dalperf.cli import main
from dalperf.db.embedded import ServerStatus
from dalperf.db.migrations import default_folder
from dalperf.errors import MigrationError, UsageError
from dalperf.gate.check import BudgetSet, evaluate
from dalperf.measure import runner
from dalperf.measure.config import IndexMode
from dalperf.measure.loader import load_modules
from dalperf.measure.registry import REGISTRY
from dalperf.plans import index_audit
from dalperf.plans.findings import PlanThresholds
from dalperf.plans.index_audit import Catalog, Index, filter_columns, overlaps
from dalperf.results.model import Results, read_results
from dalperf.seed.loader import seed_database
from tests.conftest import create_database, drop_database, target_for
from tests.test_report import render_html
from tests.test_report_browser import Watched, browser  # noqa: F401  (the browser fixture)

SCALE = 0.2
SEQ_SCAN_ROWS = 1000
OPERATIONS = ("gallery.list_public", "render_chains.delete_chain")
CONFIG = runner.RunConfig(
    iterations=1,
    warmup=0,
    param_sets=1,
    complexity=False,
    explain=PlanThresholds(seq_scan_rows=SEQ_SCAN_ROWS),
)
MIGRATION = index_audit.performance_migration()


def scratch_database(server: ServerStatus, scale: float) -> str:
    name = f"audit_{os.getpid()}_{str(scale).replace('.', '_')}"
    url = create_database(server, name)
    seed_database(target_for(url), scale=scale, seed=0)
    return url


@pytest.fixture(scope="module")
def audit_db(pg_server: ServerStatus) -> Iterator[str]:
    """A database of this module's own (it is migrated down and up), seeded at SCALE."""
    url = scratch_database(pg_server, SCALE)
    try:
        yield url
    finally:
        drop_database(pg_server, url.rsplit("/", 1)[1])


def measure_states(url: str, mode: IndexMode, names: tuple[str, ...] = OPERATIONS) -> Results:
    load_modules(["dalperf.scenarios"])
    operations = [REGISTRY.get(name) for name in names]
    target = target_for(url)
    results = index_audit.measure_index_states(
        target,
        mode.states,
        lambda state: asyncio.run(runner.run(target, operations, replace(CONFIG, indexes=state))),
        migration=MIGRATION,
    )
    return index_audit.audit(results, target, migration=MIGRATION, seq_scan_rows=SEQ_SCAN_ROWS)


def index_names_in(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}


def plan_nodes(plan: dict) -> list[tuple[str, str | None, str | None]]:
    found = [(plan["Node Type"], plan.get("Relation Name"), plan.get("Index Name"))]
    for child in plan.get("Plans", ()):
        found += plan_nodes(child)
    return found


def scans_of(
    results: Results, operation: str, variant: str, indexes: bool, relation: str
) -> set[tuple[str, str | None]]:
    """(node type, index) of every scan of ``relation`` in the measurement's plans."""
    m = results.measurement(operation, variant, indexes=indexes)
    assert m.plans and all(p["explainable"] for p in m.plans), m.plans
    return {
        (node, index)
        for p in m.plans
        for node, rel, index in plan_nodes(p["plan"])
        if rel == relation
    }


@pytest.fixture(scope="module")
def both(audit_db: str) -> Results:
    return measure_states(audit_db, IndexMode.BOTH)


def test_with_0006_index_scans_without_it_sequential_scans(both: Results) -> None:
    for variant in ("naive", "optimized"):
        assert scans_of(both, "gallery.list_public", variant, True, "gallery_items") == {
            ("Index Only Scan", "idx_gallery_items_public_keyset")
        }
        assert scans_of(both, "gallery.list_public", variant, False, "gallery_items") == {
            ("Seq Scan", None)
        }
    for variant in ("naive", "summary", "optimized"):
        with_index = scans_of(both, "render_chains.delete_chain", variant, True, "renders")
        assert ("Index Scan", "idx_renders_chain_id") in with_index
        assert ("Seq Scan", None) not in with_index
        assert ("Seq Scan", None) in scans_of(
            both, "render_chains.delete_chain", variant, False, "renders"
        )
    assert both.failures == ()


def test_audit_marks_the_indexes_each_operation_used(both: Results) -> None:
    audit = both.index_audit
    assert audit is not None
    assert audit["migration"]["version"] == "0006" and len(audit["migration"]["indexes"]) == 20
    entries = {i["name"]: i for i in audit["indexes"]}
    keyset = entries["idx_gallery_items_public_keyset"]
    assert keyset["in_migration"] and keyset["used"] and keyset["size_bytes"] > 0
    assert keyset["used_in_plans"] == [
        "gallery.list_public [naive]",
        "gallery.list_public [optimized]",
    ]
    chain = entries["idx_renders_chain_id"]
    assert chain["used"] and "render_chains.delete_chain [optimized]" in chain["scanned_by"]
    assert chain["scans"] >= 6  # 3 variants: the plan, and the foreign-key check of the DELETE
    # nothing measured here reads renders by status or gallery items by likes
    assert {"idx_renders_status", "idx_gallery_items_likes"} <= set(audit["unused"])
    assert "renders_pkey" not in audit["unused"]  # constraint indexes are never "unused"
    assert audit["seq_scans"] == [] and audit["missing_index_hints"] == []
    assert audit["unindexed_foreign_keys"] == []
    assert {
        "kind": "prefix",
        "table": "renders",
        "index": "idx_renders_chain_id",
        "other": "idx_renders_chain_position",
        "columns": ["chain_id"],
        "other_columns": ["chain_id", "chain_position"],
    } in audit["overlaps"]


def test_indexes_are_back_and_the_results_file_keeps_plans(
    both: Results, audit_db: str, tmp_path: Path
) -> None:
    assert set(index_audit.index_names(MIGRATION)) <= index_names_in(audit_db)
    both.save(tmp_path / "r.json")
    again = read_results(tmp_path / "r.json")
    assert again.index_audit == both.index_audit
    m = again.measurement("gallery.list_public", "naive", indexes=False)
    assert m.plans == both.measurement("gallery.list_public", "naive", indexes=False).plans


def test_indexes_are_restored_when_measuring_fails(audit_db: str) -> None:
    def broken(state: bool) -> Results:
        assert index_audit.index_names(MIGRATION)[0] not in index_names_in(audit_db)
        with psycopg.connect(audit_db) as conn:  # without 0006 every foreign key lacks an index
            catalog = Catalog.read(conn)
        unindexed = index_audit.unindexed_foreign_keys(catalog)
        assert {"table": "renders", "columns": ["chain_id"]}.items() <= next(
            fk for fk in unindexed if fk["columns"] == ["chain_id"]
        ).items()
        raise RuntimeError("the database broke mid-run")

    with pytest.raises(RuntimeError, match="mid-run"):
        index_audit.measure_index_states(
            target_for(audit_db), (False,), broken, migration=MIGRATION
        )
    assert set(index_audit.index_names(MIGRATION)) <= index_names_in(audit_db)


def test_a_dropped_index_gives_a_sequential_scan_and_a_missing_index_hint(
    pg_server: ServerStatus, tmp_path: Path
) -> None:
    url = scratch_database(pg_server, 0.05)  # 5,000 renders, above the 1,000-row threshold
    try:
        before = measure_states(url, IndexMode.ON, ("render_chains.delete_chain",))
        assert before.index_audit["seq_scans"] == []
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP INDEX idx_renders_chain_id, idx_renders_chain_position")
            conn.execute("ANALYZE renders")
        after = measure_states(url, IndexMode.ON, ("render_chains.delete_chain",))
    finally:
        drop_database(pg_server, url.rsplit("/", 1)[1])
    audit = after.index_audit
    assert {(s["operation"], s["variant"], s["relation"]) for s in audit["seq_scans"]} == {
        ("render_chains.delete_chain", variant, "renders")
        for variant in ("naive", "summary", "optimized")
    }
    [hint] = audit["missing_index_hints"]
    assert hint["table"] == "renders" and hint["columns"] == ["chain_id"]
    assert hint["suggestion"] == "CREATE INDEX ON renders (chain_id)"
    assert len(hint["operations"]) == 3 and hint["existing"] == []
    assert {
        "constraint": "renders_chain_id_fkey",
        "table": "renders",
        "columns": ["chain_id"],
        "references": "render_chains",
    } in audit["unindexed_foreign_keys"]

    # the gate: a budget of no sequential scan over 1,000 rows passed before, fails now
    budgets = BudgetSet.parse(
        {"render_chains.delete_chain": {"optimized": {"no_seq_scan_over_rows": SEQ_SCAN_ROWS}}},
        source="test",
    )
    assert evaluate(before, budgets=budgets).violations == ()
    [violation] = evaluate(after, budgets=budgets).violations
    assert violation.limit == "no_seq_scan_over_rows"
    assert violation.message.startswith("Seq Scan on renders (5,")
    results_file, budgets_file = tmp_path / "after.json", tmp_path / "budgets.toml"
    after.save(results_file)
    budgets_file.write_text(
        f'["render_chains.delete_chain".optimized]\nno_seq_scan_over_rows = {SEQ_SCAN_ROWS}\n'
    )
    assert main(["check", str(results_file), "--budgets", str(budgets_file)]) == 1


def test_without_indexes_the_seq_scan_budget_is_not_checked(both: Results) -> None:
    budgets = BudgetSet.parse(
        {"render_chains.delete_chain": {"optimized": {"no_seq_scan_over_rows": SEQ_SCAN_ROWS}}},
        source="test",
    )
    assert evaluate(both, budgets=budgets).violations == ()


@pytest.mark.parametrize(
    ("expression", "columns"),
    [
        ("(chain_id = '3059'::bigint)", ("chain_id",)),
        ("((status)::text = ANY ('{pending,processing}'::text[]))", ("status",)),
        ("((created_at > now()) AND (user_id = 7))", ("user_id", "created_at")),
        (
            "(is_public AND (ROW(created_at, id) < ROW('2024-12-27'::timestamptz, 5)))",
            ("is_public", "created_at", "id"),
        ),
        ("this is not sql (", ()),
    ],
)
def test_filter_columns(expression: str, columns: tuple[str, ...]) -> None:
    assert filter_columns(expression) == columns


def _index(name: str, *columns: str, unique: bool = False, predicate: str | None = None) -> Index:
    return Index(
        schema="public",
        name=name,
        table="t",
        method="btree",
        unique=unique,
        predicate=predicate,
        definition="",
        size_bytes=0,
        columns=columns,
        constraint=unique,
    )


def test_overlaps() -> None:
    found = overlaps(
        [
            _index("a", "x"),
            _index("a_again", "x"),
            _index("ab", "x", "y"),
            _index("ac", "x", "z"),
            _index("u", "y", unique=True),
            _index("uv", "y", "v"),
            _index("partial", "x", predicate="flag"),
            _index("other", "q"),
        ]
    )
    kinds = {(f["index"], f["other"]): f["kind"] for f in found}
    assert kinds[("a", "a_again")] == "duplicate"
    assert kinds[("a", "ab")] == "prefix"
    assert kinds[("ab", "ac")] == "leading column"
    assert kinds[("u", "uv")] == "leading column"  # a unique index is never redundant
    assert not any("partial" in pair or "other" in pair for pair in kinds)


def test_the_performance_migration(tmp_path: Path) -> None:
    assert (MIGRATION.version, MIGRATION.name) == ("0006", "add_performance_indexes")
    names = index_audit.index_names(MIGRATION)
    assert len(names) == 20 and "idx_gallery_items_public_keyset" in names
    assert index_audit.performance_migration(default_folder(), "0006") == MIGRATION
    with pytest.raises(MigrationError, match="unknown migration version '0042'"):
        index_audit.performance_migration(None, "0042")
    (tmp_path / "0001_only_up.sql").write_text("CREATE TABLE t (id int);\n")
    assert index_audit.performance_migration(tmp_path) is None
    with pytest.raises(MigrationError, match="has no down file"):
        index_audit.performance_migration(tmp_path, "0001")
    with pytest.raises(UsageError, match="needs a migration with a down file"):
        index_audit.measure_index_states(
            target_for("postgresql://u@localhost/x"), (False,), lambda state: None, migration=None
        )  # type: ignore


MODULE = textwrap.dedent("""
    from sqlalchemy import text
    from dalperf.measure.scenario import register

    async def pick(db, rng, size):
        return None

    async def one(db, params):
        async with db.sessions() as session:
            return (await session.execute(text("SELECT 1"))).scalar_one()

    register("audit_probe.select_one", variants={"naive": one, "optimized": one}, params=pick)
""")


def test_cli_indexes_off_refuses_a_database_dalperf_does_not_own(
    pg_server: ServerStatus, tmp_path: Path, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"foreign_{os.getpid()}"
    url = create_database(pg_server, name, owned=False)
    module = tmp_path / "audit_probe.py"
    module.write_text(MODULE)
    try:
        code = main(
            [
                "run",
                "--database-url",
                url,
                "--scenarios",
                str(module),
                "--indexes",
                "off",
                "--iterations",
                "1",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
    finally:
        drop_database(pg_server, name)
    assert code == 2
    assert "refusing to write into" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_report_shows_plans_with_and_without_indexes_and_the_audit(
    both: Results, browser: BrowserContext, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    report.write_text(render_html(both))
    watched = Watched(browser)
    watched.open(report)
    page = watched.page
    assert watched.errors == []

    gallery = page.locator('section.plans[data-operation="gallery.list_public"]')
    compare = gallery.locator("table.plan-compare").first
    assert compare.locator("thead th").all_inner_texts()[1:5:3] == [
        "with indexes",
        "without indexes",
    ]
    scans = compare.locator("tbody td.scans").all_inner_texts()
    assert scans[0] == "Index Only Scan on gallery_items using idx_gallery_items_public_keyset"
    assert scans[1].startswith("Seq Scan on gallery_items")
    tree = gallery.locator("details.plan-tree").first
    tree.locator("summary").click()
    nodes = tree.locator("tr.plan-node td:first-child")
    assert nodes.all_inner_texts()[:2] == ["Limit", "→ Index Only Scan"]
    indent = [
        float(nodes.nth(i).evaluate("td => getComputedStyle(td).paddingLeft")[:-2])
        for i in range(2)
    ]
    assert indent[1] > indent[0]  # the child is drawn inside its parent

    audit = page.locator("#index-audit")
    assert audit.is_visible() and page.locator('nav a[href="#index-audit"]').count() == 1
    keyset = audit.locator('tr[data-index="idx_gallery_items_public_keyset"]').inner_text()
    assert "gallery.list_public [naive], gallery.list_public [optimized]" in keyset
    assert "unused" in audit.locator('tr[data-index="idx_renders_status"]').inner_text()
    assert "idx_renders_chain_id (chain_id) and idx_renders_chain_position" in audit.inner_text()
