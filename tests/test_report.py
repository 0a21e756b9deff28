"""The HTML report and its Markdown digest, rendered from a real run of the case study.

The figures must be the results' own (summary rows, totals, the geometric mean and its
interval), the page must be self-contained and escaped, optional sections must appear
only with their data, and ``dalperf report`` must read nothing but the results file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from statistics import median

import pytest

from dalperf.cli import main
from dalperf.gate.check import evaluate, with_budgets
from dalperf.measure import runner
from dalperf.measure.loader import load_modules
from dalperf.measure.registry import REGISTRY
from dalperf.project.budgets import BudgetSet
from dalperf.report import Rendered, render
from dalperf.report.tables import Cell, SummaryRow, overall_impact, summary_rows
from dalperf.results.model import Results, read_results
from dalperf.results.stats import Summary, median_ratio
from tests.conftest import SEEDED_SCALE, SEEDED_SEED, target_for

XSS = "<script>alert(1)</script>"
EXTERNAL = re.compile(
    r"""(?:src|href|action|srcset)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.IGNORECASE,
)


def measure_case_study(url: str) -> Results:
    """Every case-study operation, a short real run, budgets recorded as `dalperf run` does."""
    load_modules(["dalperf.scenarios"])
    operations = [op for op in REGISTRY if op.module.startswith("dalperf.scenarios.")]
    config = runner.RunConfig(iterations=4, warmup=1, param_sets=1)
    results = asyncio.run(
        runner.run(
            target_for(url),
            operations,
            config,
            environment={"scale": SEEDED_SCALE, "seed": SEEDED_SEED},
        )
    )
    return with_budgets(results, BudgetSet())


def render_html(results: Results, budgets: BudgetSet | None = None) -> str:
    budgets = budgets or BudgetSet()
    return render(results, verdict=evaluate(results, budgets=budgets), budgets=budgets).html


@pytest.fixture(scope="module")
def results(seeded_db: str) -> Results:
    return measure_case_study(seeded_db)


@pytest.fixture(scope="module")
def rendered(results: Results) -> Rendered:
    budgets = BudgetSet()
    return render(results, verdict=evaluate(results, budgets=budgets), budgets=budgets)


@pytest.fixture(scope="module")
def html(rendered: Rendered) -> str:
    return rendered.html


def operation_names(results: Results) -> list[str]:
    return list(dict.fromkeys(m.operation for m in results.operations))


def test_summary_rows_are_the_measured_figures(results: Results) -> None:
    rows = {r.operation: r for r in summary_rows(results)}
    assert list(rows) == operation_names(results)
    chain = rows["render_chains.delete_chain"]
    naive = results.measurement("render_chains.delete_chain", "naive")
    ours = results.measurement("render_chains.delete_chain", "optimized")
    assert (chain.before, chain.ours) == ("naive", "optimized")
    assert chain.cells["naive"].queries == naive.queries == 52  # type: ignore[union-attr]
    assert chain.cells["optimized"].p95 == ours.wall_ms.p95  # type: ignore[union-attr]
    assert chain.queries_fewer_pct == pytest.approx(100 * (52 - ours.queries) / 52)
    assert chain.speedup.value == pytest.approx(
        median(naive.wall_ms.samples) / median(ours.wall_ms.samples)
    )
    assert chain.cells["naive"].claim["wall_ms"] == 2500  # type: ignore[union-attr,index]
    assert chain.claimed_faster_pct == pytest.approx(94.0)  # 2500 ms -> 150 ms, as claimed
    assert rows["renders.get_by_ids"].cells["summary"] is None  # it has no summary variant
    assert rows["renders.get_by_ids"].claimed_faster_pct is None


def test_overall_impact_totals_and_geometric_mean(results: Results) -> None:
    rows = summary_rows(results)
    impact = overall_impact(rows)
    before = sum(results.measurement(r.operation, r.before).queries for r in rows)
    after = sum(results.measurement(r.operation, r.ours).queries for r in rows)
    assert (impact.queries_before, impact.queries_after) == (before, after)
    assert impact.fewer_pct == pytest.approx(100 * (before - after) / before)
    logs = [math.log(r.speedup.value) for r in rows]
    assert impact.speedup.value == pytest.approx(math.exp(sum(logs) / len(logs)))
    assert impact.speedup.low < impact.speedup.value < impact.speedup.high


def _row(name: str, before: tuple[float, ...], ours: tuple[float, ...]) -> SummaryRow:
    cell = Cell(queries=2, round_trips=2, p50=1.0, p95=1.0, claim=None)
    return SummaryRow(
        operation=name,
        size="",
        before="a",
        ours="b",
        cells={"a": cell, "b": cell},
        queries_fewer_pct=0.0,
        faster_pct=0.0,
        speedup=median_ratio(before, ours),
        claimed_faster_pct=None,
        samples=(before, ours),
    )


SKEWED = (10.0, 11.0, 12.0, 13.0, 14.0, 60.0, 61.0, 62.0)  # a slow mode: a skewed interval
STEADY_MS = (1.9, 2.0, 2.0, 2.1, 2.0, 1.95, 2.05, 2.0)


def test_overall_interval_with_one_operation_is_that_operations_interval() -> None:
    [row] = rows = [_row("x.a", SKEWED, STEADY_MS)]
    impact = overall_impact(rows)
    assert (impact.speedup.low, impact.speedup.high) == (row.speedup.low, row.speedup.high)
    assert impact.speedup.value == pytest.approx(row.speedup.value)
    # skewed: a symmetric interval on the log scale would not be the operation's
    assert math.log(row.speedup.high / row.speedup.value) != pytest.approx(
        math.log(row.speedup.value / row.speedup.low), rel=0.1
    )


def test_overall_interval_of_two_operations_is_a_bootstrap_of_the_geometric_mean() -> None:
    fast = tuple(v / 4 for v in STEADY_MS)
    rows = [_row("x.a", SKEWED, STEADY_MS), _row("x.b", STEADY_MS, fast), _row("x.c", (), ())]
    impact = overall_impact(rows)
    a, b = rows[0].speedup, rows[1].speedup
    assert impact.speedup.value == pytest.approx(math.sqrt(a.value * b.value))
    ulps = 1 + 1e-12  # the bounds can be met exactly: exp(mean(log)) vs sqrt, to rounding
    assert math.sqrt(a.low * b.low) <= impact.speedup.low * ulps
    assert impact.speedup.low < impact.speedup.value < impact.speedup.high
    assert impact.speedup.high <= math.sqrt(a.high * b.high) * ulps
    assert impact.excluded == ("x.c",)
    assert (impact.queries_before, impact.queries_after) == (6, 6)


def test_html_has_every_section_in_order(results: Results, html: str) -> None:
    names = operation_names(results)
    positions = [
        html.index(f'id="{section}"') for section in ("verdict", "environment", "summary", "impact")
    ]
    positions += [html.index(f'<section id="op-{re.sub(r"[^a-z0-9]+", "-", n)}"') for n in names]
    assert positions == sorted(positions)
    for name in names:
        assert f'<tr class="summary-row" data-operation="{name}">' in html
    assert html.count('<svg class="chart"') == len(names) + 1  # one per operation + speed-ups
    assert "PostgreSQL" in html and f"<dd>{SEEDED_SCALE:g}</dd>" in html
    assert "claimed 2500" in html  # the summary's figures, through the results' catalog
    naive_by_ids = results.measurement("renders.get_by_ids", "naive")
    assert naive_by_ids.n_plus_one[0]["call_site"] in html  # N+1 with its call site
    assert "O(n), slope 1" in html  # complexity verdict


def test_html_is_self_contained_and_small(html: str) -> None:
    assert EXTERNAL.search(html) is None
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "<!DOCTYPE svg" not in html  # matplotlib's DTD reference is dropped
    assert len(html.encode()) < 2_000_000


def test_rendering_is_deterministic(results: Results, html: str) -> None:
    assert render_html(results) == html


def test_verdict_banner_follows_the_gate(results: Results) -> None:
    chain_only = dataclasses.replace(
        results,
        failures=(),
        operations=tuple(
            m for m in results.operations if m.operation == "render_chains.delete_chain"
        ),
    )
    assert 'class="card verdict pass"' in render_html(chain_only)
    strict = BudgetSet.parse(
        {"render_chains.delete_chain": {"optimized": {"max_queries": 0}}}, source="test"
    )
    failed = render(chain_only, verdict=evaluate(chain_only, budgets=strict), budgets=strict)
    assert 'class="card verdict fail"' in failed.html
    assert "budget 0" in failed.html and "queries ≤ 0" in failed.html
    assert failed.markdown.startswith("## dalperf audit: failed")


def test_optional_sections_appear_only_with_their_data(results: Results, html: str) -> None:
    assert 'id="index-impact"' not in html and 'id="rtt-sweep"' not in html
    chain = [m for m in results.operations if m.operation == "render_chains.delete_chain"]
    slower = [
        dataclasses.replace(
            m, indexes=False, wall_ms=Summary.of([2 * s for s in m.wall_ms.samples])
        )
        for m in chain
    ]
    remote = [
        dataclasses.replace(
            m,
            rtt_ms=10.0,
            wall_ms=Summary.of([s + 10.0 * m.network_round_trips for s in m.wall_ms.samples]),
        )
        for m in chain
    ]
    extended = dataclasses.replace(results, operations=(*results.operations, *slower, *remote))
    page = render_html(extended)
    section = page[page.index('id="index-impact"') : page.index('id="rtt-sweep"')]
    assert section.count("<tr>") == 1 + len(chain) and section.count("<td>2.00× [") == len(chain)
    assert "RTT 10 ms" in page
    assert page.count('<svg class="chart"') == html.count('<svg class="chart"') + 1
    assert summary_rows(extended) == summary_rows(results)  # the summary stays primary


def _hostile_results(results: Results, tmp_path: Path) -> Path:
    data = json.loads(results.dumps())
    for m in data["operations"]:
        if m["operation"] == "renders.get_by_ids":
            m["operation"] = XSS
            m["fingerprints"][0]["sql"] = f"SELECT '{XSS}' | 1"
    data["catalog"][XSS] = data["catalog"].pop("renders.get_by_ids")
    data["catalog"][XSS]["description"] = XSS
    data["failures"] = [{"operation": XSS, "variant": "naive", "kind": "error", "message": XSS}]
    path = tmp_path / "hostile" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return path


def test_hostile_names_and_sql_render_escaped(results: Results, tmp_path: Path) -> None:
    path = _hostile_results(results, tmp_path)
    assert main(["report", str(path)]) == 0
    html = (path.parent / "report.html").read_text()
    markdown = (path.parent / "report.md").read_text()
    assert XSS not in html and "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'data-operation="{XSS}"'.replace("<", "&lt;").replace(">", "&gt;") in html
    assert "<script" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown


def test_markdown_is_the_verdict_and_one_table_row_per_operation(
    results: Results, rendered: Rendered
) -> None:
    lines = rendered.markdown.splitlines()
    passed = not results.failures and not any(m.violations for m in results.operations)
    assert lines[0] == ("## dalperf audit: passed ✅" if passed else "## dalperf audit: failed ❌")
    header = next(i for i, line in enumerate(lines) if line.startswith("| operation |"))
    columns = lines[header].count(" |")
    rows = lines[header + 2 : header + 2 + len(operation_names(results))]
    for line, name in zip(rows, operation_names(results), strict=True):
        assert line.startswith(f"| {name.replace('_', chr(92) + '_')}")
        assert len(re.findall(r"(?<!\\)\|", line)) == columns + 1
    assert lines[header + 2 + len(rows) + 1].startswith("**Overall:**")


def test_report_command_options_and_bad_input(
    results: Results, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results.json"
    results.save(path)
    assert main(["report", str(path), "--html", str(tmp_path / "only.html")]) == 0
    assert (tmp_path / "only.html").is_file() and not (tmp_path / "report.md").exists()
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["report", str(tmp_path / "bad.json")]) == 2
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('["renders.get_by_idz".optimized]\nmax_queries = 1\n')
    assert main(["report", str(path), "--budgets", str(budgets)]) == 2
    assert "did you mean renders.get_by_ids" in capsys.readouterr().err


def test_report_code_never_reaches_for_a_database() -> None:
    code = (
        "import sys, dalperf.cli.report, dalperf.report; "
        "loaded = [m for m in ('dalperf.db.targets', 'dalperf.db.embedded', 'dalperf.measure.runner', "
        "'dalperf.measure.scenario', 'dalperf.measure.engines', 'dalperf.measure.registry', "
        "'seed') if m in sys.modules]; assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_results_without_a_catalog_still_render(results: Results) -> None:
    html = render_html(dataclasses.replace(results, catalog={}))
    assert html.count('<tr class="summary-row"') == len(operation_names(results))
    summary = html.split('id="summary"')[1].split("</table>")[0]
    assert 'class="claim"' not in summary and "<th>claimed</th>" not in summary


def test_catalog_round_trips_through_the_results_file(results: Results, tmp_path: Path) -> None:
    results.save(tmp_path / "r.json")
    assert read_results(tmp_path / "r.json").catalog == results.catalog
    entry = results.catalog["render_chains.delete_chain"]
    assert entry["mutates"] is True and entry["size"] == {
        "name": "renders in the chain",
        "default": 50,
    }
    assert entry["claims"]["summary"]["queries"] == 2


def test_claims_must_name_known_variants() -> None:
    from dalperf.errors import UsageError
    from dalperf.measure.registry import Registry, register

    def variant(db: object, params: object) -> None:
        return None

    with pytest.raises(UsageError, match="claims for unknown variants"):
        register(
            "x.y",
            variants={"naive": variant, "optimized": variant},
            params=variant,
            claims={"summary": {"wall_ms": 1}},
            registry=Registry(),
        )


def test_bootstrap_of_100000_samples_is_deterministic() -> None:
    """100,000 samples a side: each resample's median is drawn from its order statistics,
    not from a resample in memory; the same seed gives the same interval."""
    before = tuple(float(v % 997) + 1.0 for v in range(100_000))
    ours = tuple(v / 3 for v in before)
    whole = median_ratio(before, ours)
    assert median_ratio(before, ours) == whole
    assert whole.value == pytest.approx(3.0)
    assert whole.low <= whole.value <= whole.high


def test_a_latency_chart_draws_at_most_max_points_dots_per_variant() -> None:
    from dalperf.report.charts import MAX_POINTS, drawn_points, latency_chart

    many = [float(i % 997) for i in range(100_000)]
    dots = drawn_points(many)
    assert len(dots) == MAX_POINTS and (dots[0], dots[-1]) == (min(many), max(many))
    assert drawn_points(many[:10]) == many[:10]  # few samples: every one
    few = latency_chart({"a": many[:MAX_POINTS]}, title="t")
    assert len(latency_chart({"a": many}, title="t")) < 1.5 * len(few)
