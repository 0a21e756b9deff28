"""Budgets: validation, the three sources and their precedence, and the check of each limit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dalperf.errors import UsageError
from dalperf.gate.budgets import Figures, breaches
from dalperf.measure.registry import Registry, register
from dalperf.project.budgets import (
    Budget,
    BudgetSet,
    check_limits,
    default_budget,
    find_pyproject,
    read_budgets,
)


async def _noop(db: object, params: object) -> None:
    return None


async def _params(db: object, rng: object, size: object) -> None:
    return None


def test_code_defaults_gate_optimized_variants_only() -> None:
    registry = Registry()
    op = register(
        "area.op",
        variants={"naive": _noop, "summary": _noop, "optimized": _noop},
        params=_params,
        budgets={"summary": Budget(max_queries=2)},
        registry=registry,
    )
    assert op.budget("naive") is None
    assert op.budget("summary") == Budget(max_queries=2)
    assert op.budget("optimized") == Budget() == default_budget("optimized")
    checklist = Budget()
    assert (checklist.max_queries, checklist.p95_ms, checklist.no_n_plus_one) == (4, 200.0, True)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_queries": -1}, "max_queries must be a whole number >= 0, not -1"),
        ({"max_queries": 2.5}, "whole number"),
        ({"max_round_trips": True}, "whole number"),
        ({"p95_ms": "fast"}, "p95_ms must be a number of milliseconds >= 0, not 'fast'"),
        ({"p95_ms": -0.5}, "p95_ms must be"),
        ({"no_n_plus_one": 1}, "no_n_plus_one must be true or false"),
        ({"complexity": "O(n^2)"}, "complexity must be one of O(1), O(n)"),
        ({"max_querys": 1}, "unknown key 'max_querys'; did you mean max_queries"),
    ],
)
def test_bad_limits_are_refused(limits: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        check_limits(limits, where="here")


def test_budget_validates_its_fields() -> None:
    with pytest.raises(UsageError, match="max_rows_fetched"):
        Budget(max_rows_fetched=-3)
    assert check_limits(
        {"max_queries": 0, "p95_ms": 12, "complexity": "O(1)", "max_round_trips": None}, where="x"
    ) == {"max_queries": 0, "p95_ms": 12, "complexity": "O(1)"}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_precedence_code_defaults_then_pyproject_then_file(tmp_path: Path) -> None:
    pyproject = write(
        tmp_path / "pyproject.toml",
        """
[project]
name = "app"

[tool.dalperf.budgets."renders.get_by_ids".optimized]
max_queries = 2
p95_ms = 50

[tool.dalperf.budgets."renders.get_by_ids".naive]
max_queries = 25
""",
    )
    budgets_file = write(
        tmp_path / "budgets.toml",
        """
["renders.get_by_ids".optimized]
max_queries = 1
complexity = "O(1)"
""",
    )
    code_default = {
        "max_queries": 4,
        "max_round_trips": 1,
        "p95_ms": 200.0,
        "no_n_plus_one": True,
        "complexity": None,
    }
    both = read_budgets(pyproject, budgets_file)
    assert both.limits("renders.get_by_ids", "optimized", code_default) == {
        "max_queries": 1,  # the file beats pyproject beats code
        "max_round_trips": 1,  # code default kept
        "p95_ms": 50,  # pyproject beats code
        "no_n_plus_one": True,
        "complexity": "O(1)",
    }
    assert both.limits("renders.get_by_ids", "naive", {}) == {"max_queries": 25}
    assert (
        read_budgets(pyproject, None).limits("renders.get_by_ids", "optimized", code_default)[
            "max_queries"
        ]
        == 2
    )
    assert read_budgets(None, None).limits("x.y", "optimized", code_default) == code_default


def test_pyproject_without_budgets_and_find_pyproject(tmp_path: Path) -> None:
    pyproject = write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_pyproject(nested) == pyproject.resolve()
    assert len(read_budgets(pyproject, None)) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '["op.x".optimized]\nmax_queries = "four"\n',
            r'\["op.x".optimized\]: max_queries must be',
        ),
        ('["op.x".optimized]\nmax_querie = 4\n', "did you mean max_queries"),
        ('["op.x"]\nmax_queries = 4\n', "must be tables of limits per variant"),
        ('["op.x".optimized\n', "is not valid TOML"),
    ],
)
def test_bad_budget_files_name_the_file_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path / "budgets.toml", text)
    with pytest.raises(UsageError, match=message) as caught:
        read_budgets(None, path)
    assert str(path) in str(caught.value)


def test_missing_budgets_file() -> None:
    with pytest.raises(UsageError, match="does not exist"):
        read_budgets(None, Path("/nonexistent/budgets.toml"))


def test_unknown_operations_and_variants_suggest_close_matches() -> None:
    known = {"renders.get_by_ids": ["naive", "optimized"], "gallery.list_public": ["naive"]}
    with pytest.raises(
        UsageError,
        match="no operation 'renders.get_by_id' in the results; did you mean renders.get_by_ids",
    ):
        BudgetSet.parse({"renders.get_by_id": {"optimized": {}}}, source="f").validate(known)
    with pytest.raises(UsageError, match="has no variant 'optimised'; did you mean optimized"):
        BudgetSet.parse({"renders.get_by_ids": {"optimised": {}}}, source="f").validate(known)
    BudgetSet.parse({"renders.get_by_ids": {"optimized": {"max_queries": 1}}}, source="f").validate(
        known
    )


FIGURES = Figures(
    queries=3,
    round_trips=2,
    rows_fetched=50,
    p95_ms=12.5,
    n_plus_one=(
        {"sql": "SELECT * FROM t WHERE id = $1", "count": 20, "call_site": "app.py:9 in load"},
    ),
    complexity="O(n)",
)


def test_each_limit_is_checked_against_its_figure() -> None:
    tight = {
        "max_queries": 2,
        "max_round_trips": 1,
        "max_rows_fetched": 49,
        "p95_ms": 12.0,
        "no_n_plus_one": True,
        "complexity": "O(1)",
    }
    found = {b.limit: b for b in breaches(tight, FIGURES)}
    assert list(found) == list(tight)
    assert (found["max_queries"].allowed, found["max_queries"].measured) == (2, 3)
    assert found["max_round_trips"].measured == 2
    assert found["max_rows_fetched"].measured == 50
    assert found["p95_ms"].measured == 12.5
    assert found["no_n_plus_one"].measured == 20
    assert "20x SELECT * FROM t WHERE id = $1 at app.py:9 in load" in found["no_n_plus_one"].message
    assert found["complexity"].measured == "O(n)"
    exact = {
        "max_queries": 3,
        "max_round_trips": 2,
        "max_rows_fetched": 50,
        "p95_ms": 12.5,
        "no_n_plus_one": False,
        "complexity": "O(n)",
    }
    assert breaches(exact, FIGURES) == []  # limits are inclusive; False turns the check off


def test_complexity_order_and_unmeasured_figures() -> None:
    constant = Figures(queries=1, round_trips=1, rows_fetched=1, complexity="O(1)")
    assert breaches({"complexity": "O(n)"}, constant) == []
    irregular = Figures(queries=1, round_trips=1, rows_fetched=1, complexity="irregular")
    assert [b.measured for b in breaches({"complexity": "O(n)"}, irregular)] == ["irregular"]
    unmeasured = Figures(queries=1, round_trips=1, rows_fetched=1)
    messages = [b.message for b in breaches({"complexity": "O(1)", "p95_ms": 5}, unmeasured)]
    assert messages == [
        "no timing samples to check p95 against",
        "complexity not measured (needs a size knob, run without --no-complexity)",
    ]
