"""The gate: ``evaluate`` on results JSON, ``dalperf check`` exit codes, JUnit XML, the step
summary, and the acceptance test: a scenario module that adds a query in a loop fails the
gate, the baseline comparison and the pytest marker, while the unmodified module passes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from dalperf.cli import main
from dalperf.gate.check import Violation, evaluate, with_budgets
from dalperf.project.budgets import Budget, BudgetSet
from dalperf.results.model import Complexity, Failure, Measurement, Results, read_results
from dalperf.results.stats import Summary

STEADY = (1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.02)


def make_measurement(
    operation: str = "renders.get_by_ids",
    variant: str = "optimized",
    *,
    queries: int = 1,
    round_trips: int = 1,
    rows: int = 20,
    wall: tuple[float, ...] = STEADY,
    n_plus_one: tuple[dict[str, Any], ...] = (),
    budget: dict[str, Any] | None = None,
    error: str | None = None,
    complexity: str | None = None,
    size: int | None = 20,
    buffers: int | None = 100,
    plans: tuple[dict[str, Any], ...] = (),
) -> Measurement:
    """A measurement as ``dalperf run`` writes it; the budget defaults to the code default."""
    if budget is None:
        budget = asdict(Budget()) if variant == "optimized" else {}
    return Measurement(
        operation=operation,
        variant=variant,
        indexes=True,
        rtt_ms=0.0,
        size=size,
        queries=queries,
        round_trips=round_trips,
        network_round_trips=3 * round_trips,
        rows_fetched=rows,
        rows_returned=rows,
        queries_per_call=(queries,) * len(wall),
        round_trips_per_call=(round_trips,) * len(wall),
        db_ms=Summary.of(wall),
        wall_ms=Summary.of(wall),
        fingerprints=(),
        n_plus_one=n_plus_one,
        hidden_round_trips=(),
        equivalent=None if variant == "naive" else True,
        error=error,
        complexity=None
        if complexity is None
        else Complexity(
            verdict=complexity, slope=0.0, intercept=1.0, sizes=(5, 20), queries=(1, 1)
        ),
        budget=budget,
        buffers=buffers,
        plans=plans,
    )


def make_results(
    *measurements: Measurement, failures: tuple[Failure, ...] = (), **environment: Any
) -> Results:
    env = {"server_version": "18.1", "scale": 1.0, "seed": 0, **environment}
    return Results(environment=env, operations=measurements, failures=failures)


N_PLUS_ONE = (
    {
        "fingerprint": "ab",
        "sql": "SELECT * FROM renders WHERE id = $1",
        "count": 20,
        "call_site": "app/renders.py:12 in get_by_ids",
    },
)


def test_optimized_variants_are_gated_naive_ones_only_measured() -> None:
    results = make_results(
        make_measurement(variant="naive", queries=20, round_trips=20, n_plus_one=N_PLUS_ONE),
        make_measurement(
            variant="optimized", queries=5, round_trips=1, wall=(150.0, 180.0, 210.0, 250.0)
        ),
    )
    verdict = evaluate(results)
    assert not verdict.passed
    assert [(v.variant, v.limit, v.allowed, v.measured) for v in verdict.violations] == [
        ("optimized", "max_queries", 4, 5),
        ("optimized", "p95_ms", 200.0, 244.0),
    ]
    assert verdict.checked == (("renders.get_by_ids", "naive"), ("renders.get_by_ids", "optimized"))
    assert evaluate(make_results(make_measurement(variant="naive", queries=20))).passed


def test_budgets_from_toml_override_the_stored_code_default() -> None:
    results = make_results(
        make_measurement(variant="naive", queries=20, n_plus_one=N_PLUS_ONE),
        make_measurement(queries=2),
    )
    budgets = BudgetSet.parse(
        {"renders.get_by_ids": {"optimized": {"max_queries": 1}, "naive": {"no_n_plus_one": True}}},
        source="budgets.toml",
    )
    verdict = evaluate(results, budgets=budgets)
    assert {(v.variant, v.limit) for v in verdict.violations} == {
        ("naive", "no_n_plus_one"),
        ("optimized", "max_queries"),
    }
    naive = next(v for v in verdict.violations if v.variant == "naive")
    assert "at app/renders.py:12 in get_by_ids" in naive.message


def test_failures_fail_the_gate_and_a_variant_that_raised_has_no_budget_breach() -> None:
    broken = make_measurement(queries=0, wall=(), error="RuntimeError: boom")
    failure = Failure(
        operation="renders.get_by_ids",
        variant="optimized",
        kind="error",
        message="RuntimeError: boom",
    )
    verdict = evaluate(make_results(broken, failures=(failure,)))
    assert not verdict.passed and verdict.violations == () and verdict.failures == (failure,)
    assert [f.kind for f in verdict.findings()] == ["error"]


def test_findings_name_the_index_state_and_rtt_they_were_measured_at() -> None:
    slow_remote = dataclasses.replace(make_measurement(queries=6), indexes=False, rtt_ms=50.0)
    finding = evaluate(make_results(make_measurement(), slow_remote)).findings()
    assert [f.detail for f in finding] == ["[indexes off, RTT 50 ms] 6 queries, budget 4"]


def test_verdict_to_dict_is_json() -> None:
    verdict = evaluate(
        make_results(make_measurement(queries=9, complexity="O(n)", budget={"complexity": "O(1)"}))
    )
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["passed"] is False
    assert data["violations"][0] | {"message": ""} == asdict(
        Violation("renders.get_by_ids", "optimized", "complexity", "O(1)", "O(n)", "")
    )


def test_with_budgets_records_effective_budget_and_violations(tmp_path: Path) -> None:
    budgets = BudgetSet.parse(
        {"renders.get_by_ids": {"optimized": {"max_round_trips": 1}}}, source="pyproject.toml"
    )
    recorded = with_budgets(make_results(make_measurement(queries=5, round_trips=2)), budgets)
    path = tmp_path / "results.json"
    recorded.save(path)
    m = read_results(path).operations[0]
    assert m.budget == {
        "max_queries": 4,
        "max_round_trips": 1,
        "p95_ms": 200.0,
        "no_n_plus_one": True,
    }
    assert [(v["limit"], v["allowed"], v["measured"]) for v in m.violations] == [
        ("max_queries", 4, 5),
        ("max_round_trips", 1, 2),
    ]


# --------------------------------------------------------------------------------------
# dalperf check
# --------------------------------------------------------------------------------------


def saved(tmp_path: Path, results: Results, name: str = "results.json") -> Path:
    path = tmp_path / name
    results.save(path)
    return path


def test_check_exit_codes_table_junit_and_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    good = saved(
        tmp_path,
        make_results(
            make_measurement(variant="naive", queries=20),
            make_measurement(),
            make_measurement("render_chains.delete_chain", "optimized", queries=2),
        ),
    )
    assert main(["check", str(good), "--junit", str(tmp_path / "ok.xml")]) == 0
    assert "passed: 3 operation x variant pairs within budget" in capsys.readouterr().out
    assert "dalperf check passed" in summary.read_text()

    bad = saved(
        tmp_path,
        make_results(
            make_measurement(variant="naive", queries=20),
            make_measurement(queries=7, n_plus_one=N_PLUS_ONE),
            make_measurement("render_chains.delete_chain", "optimized", queries=2),
            failures=(
                Failure(
                    operation="render_chains.delete_chain",
                    variant="optimized",
                    kind="mismatch",
                    message="results differ\nat [0]",
                ),
            ),
        ),
        "bad.json",
    )
    junit = tmp_path / "out" / "check.xml"
    assert main(["check", str(bad), "--junit", str(junit)]) == 1
    out, err = capsys.readouterr()
    assert "renders.get_by_ids" in out and "max_queries" in out and "no_n_plus_one" in out
    assert "mismatch" in out and "results differ" in out
    assert "2 budget violation(s), 0 regression(s), 1 failure(s)" in err

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert list(cases) == [
        ("renders.get_by_ids", "naive"),
        ("renders.get_by_ids", "optimized"),
        ("render_chains.delete_chain", "optimized"),
    ]
    assert list(cases[("renders.get_by_ids", "naive")]) == []
    assert [
        (f.get("type"), f.get("message")) for f in cases[("renders.get_by_ids", "optimized")]
    ] == [
        ("budget", "max_queries: 7 queries, budget 4"),
        (
            "budget",
            (
                "no_n_plus_one: N+1: 20x SELECT * FROM renders WHERE id = $1 "
                "at app/renders.py:12 in get_by_ids"
            ),
        ),
    ]
    assert [f.get("type") for f in cases[("render_chains.delete_chain", "optimized")]] == [
        "mismatch"
    ]

    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## dalperf check failed" in text
    assert "| budget | renders.get_by_ids | optimized | max_queries | 4 | 7 |" in text


def test_pyproject_and_budgets_file_apply_and_bad_ones_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    results = saved(tmp_path, make_results(make_measurement(queries=2)))
    assert main(["check", str(results)]) == 0
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dalperf.budgets."renders.get_by_ids".optimized]\nmax_queries = 1\n'
    )
    assert main(["check", str(results)]) == 1
    loose = tmp_path / "loose.toml"
    loose.write_text('["renders.get_by_ids".optimized]\nmax_queries = 2\n')
    assert main(["check", str(results), "--budgets", str(loose)]) == 0  # the file wins
    capsys.readouterr()

    typo = tmp_path / "typo.toml"
    typo.write_text('["renders.get_by_id".optimized]\nmax_queries = 2\n')
    assert main(["check", str(results), "--budgets", str(typo)]) == 2
    err = capsys.readouterr().err
    assert "did you mean renders.get_by_ids" in err and len(err.strip().splitlines()) == 1
    assert main(["check", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_results_with_an_unknown_budget_key_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    results = saved(tmp_path, make_results(make_measurement(budget={"allow_n_plus_one": True})))
    assert main(["check", str(results)]) == 2
    assert "unknown key 'allow_n_plus_one'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# Acceptance: a regressed scenario module fails the gate, the baseline and the marker
# --------------------------------------------------------------------------------------

SCENARIO = '''
"""Users' emails by id: the optimized variant {what}."""
from sqlalchemy import text

from dalperf.measure.scenario import Db, register

REGRESSED = {regressed}


async def pick(db: Db, rng, size):
    async with db.sessions() as s:
        ids = (await s.execute(text("SELECT id FROM users ORDER BY id LIMIT 40"))).scalars().all()
    return sorted(rng.sample(list(ids), 10))


async def naive(db: Db, ids):
    """One query per id."""
    async with db.sessions() as s:
        return [tuple((await s.execute(text("SELECT id, email FROM users WHERE id = :id"),
                                       {{"id": i}})).one()) for i in ids]


async def optimized(db: Db, ids):
    """One query for all ids."""
    async with db.sessions() as s:
        rows = (await s.execute(text("SELECT id, email FROM users WHERE id = ANY(:ids) "
                                     "ORDER BY id"), {{"ids": ids}})).all()
        if REGRESSED:
            for i in ids:  # the regression: a query in a loop
                await s.execute(text("SELECT email FROM users WHERE id = :id"), {{"id": i}})
    return [tuple(r) for r in rows]


register("acceptance.user_emails", variants={{"naive": naive, "optimized": optimized}},
         params=pick)
'''


def scenario_module(folder: Path, *, regressed: bool) -> Path:
    path = folder / ("regressed_ops.py" if regressed else "unmodified_ops.py")
    path.write_text(
        SCENARIO.format(
            regressed=regressed, what="adds a query in a loop" if regressed else "is as designed"
        )
    )
    return path


def dalperf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command line in its own process (each run has its own operation registry)."""
    return subprocess.run(
        [sys.executable, "-m", "dalperf", *args],
        check=False,
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


MARKED_TEST = """
import asyncio

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from dalperf.db import urls
from dalperf.measure.scenario import REGISTRY, Db, load_module, open_engines

URL = {url!r}
load_module({module!r})
OPERATION = REGISTRY.get("acceptance.user_emails")


@pytest.fixture(scope="session")
def dalperf_engine():
    return create_async_engine(urls.sqlalchemy_url(urls.parse(URL)), poolclass=NullPool)


@pytest.fixture
def ids():
    async def draw():
        async with open_engines(urls.parse(URL)) as engines:
            return await OPERATION.draw_params(engines)
    return asyncio.run(draw())


@pytest.mark.query_budget(max_queries=4, no_n_plus_one=True)
def test_user_emails_keeps_its_budget(dalperf_engine, ids):
    db = Db(sessions=async_sessionmaker(dalperf_engine))
    assert len(asyncio.run(OPERATION.variant("optimized").fn(db, ids))) == 10
"""


def test_acceptance_regressed_module_fails_check_baseline_and_marker(
    tmp_path: Path, seeded_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    unmodified = scenario_module(tmp_path, regressed=False)
    regressed = scenario_module(tmp_path, regressed=True)
    for module in (unmodified, regressed):
        run = dalperf(
            "run",
            "--scenarios",
            str(module),
            "--iterations",
            "5",
            "--warmup",
            "1",
            "--database-url",
            seeded_db,
            "--out",
            str(tmp_path / f"{module.stem}.json"),
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stderr
    good, bad = str(tmp_path / "unmodified_ops.json"), str(tmp_path / "regressed_ops.json")
    assert read_results(Path(bad)).measurement("acceptance.user_emails", "optimized").violations

    # 1. the budget gate (check reads JSON only: it runs in this process)
    assert main(["check", good]) == 0
    assert main(["check", bad]) == 1
    out = capsys.readouterr().out
    assert "acceptance.user_emails" in out and "11 queries, budget 4" in out
    assert "N+1: 10x SELECT email FROM users WHERE id = $1" in out

    # 2. the baseline comparison
    baseline = str(tmp_path / "baseline.json")
    assert main(["baseline", "save", good, "--to", baseline]) == 0
    assert main(["check", good, "--baseline", baseline]) == 0
    capsys.readouterr()
    loose = str(_loose_budgets(tmp_path))
    assert main(["check", bad, "--baseline", baseline, "--budgets", loose]) == 1
    out, err = capsys.readouterr()
    assert "queries rose from 1 to 11" in out
    assert "0 budget violation(s)" in err  # the baseline caught it, not a budget

    # 3. the pytest marker, in the users' own test suite (its own pytest process: each
    # module registers the same operation)
    for module, outcome in ((unmodified, "1 passed"), (regressed, "1 failed")):
        suite = tmp_path / f"suite_{module.stem}"
        suite.mkdir()
        (suite / "test_marked.py").write_text(MARKED_TEST.format(url=seeded_db, module=str(module)))
        inner = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
            cwd=suite,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert outcome in inner.stdout.splitlines()[-1], inner.stdout
    pytest.LineMatcher(inner.stdout.splitlines()).fnmatch_lines(
        [
            (
                "*query_budget exceeded: 11 queries, budget 4; "
                "N+1: 10x SELECT email FROM users WHERE id = $1*"
            ),
            "*captured 11 statement(s), 11 round trip(s) deep, in 2 shape(s):*",
            "*10x  SELECT email FROM users WHERE id = $1",
            f"*at {regressed}:*in optimized",
            "*1x  SELECT id, email FROM users WHERE id = ANY($1) ORDER BY id",
        ]
    )


def _loose_budgets(folder: Path) -> Path:
    """Budgets the regressed module keeps, so that only the baseline can catch it."""
    path = folder / "loose.toml"
    path.write_text(
        '["acceptance.user_emails".optimized]\nmax_queries = 20\nno_n_plus_one = false\n'
    )
    return path
