"""The plugin's missing-index check, in real pytest sessions (``pytester``) on real PostgreSQL.

The inner suite's table has 20,000 rows (``generate_series``, then ``ANALYZE``), so the
planner scans it sequentially when no index serves a query; the advisor then proves the
index by building it in a transaction that is rolled back.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dalperf.db import urls
from dalperf.db.embedded import ServerStatus
from tests.conftest import create_database, drop_database

pytest_plugins = ["pytester"]

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
ROWS = 20_000

CONFTEST = """
import os

import pytest
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["SHOP_URL"])


@pytest.fixture(scope="session", autouse=True)
def items():
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS items"))
        connection.execute(text(
            "CREATE TABLE items (id integer PRIMARY KEY, category integer NOT NULL, "
            "price integer NOT NULL, name text NOT NULL)"))
        connection.execute(text(
            "INSERT INTO items SELECT i, i % 500, (i * 7919) % 100000, 'item ' || i "
            "FROM generate_series(1, ROWS) AS i"))
        if os.environ.get("SHOP_INDEXED"):
            connection.execute(text("CREATE INDEX items_category ON items (category)"))
            connection.execute(text("CREATE INDEX items_price ON items (price)"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE items"))
""".replace("ROWS", str(ROWS))

TESTS = """
import pytest
from sqlalchemy import text

from conftest import engine


def test_by_category():
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, name FROM items WHERE category = :category"), {"category": 7})
        assert len(rows.all()) == 40


def test_by_id():
    with engine.connect() as connection:
        connection.execute(text("SELECT name FROM items WHERE id = :id"), {"id": 7}).one()


def test_cheapest():
    with engine.connect() as connection:
        connection.execute(text("SELECT id FROM items ORDER BY price LIMIT 5")).all()


@pytest.mark.dalperf_allow("missing-index:*")
def test_allowed():
    with engine.connect() as connection:
        connection.execute(text("SELECT id FROM items WHERE category = :c"), {"c": 9}).all()
"""


@pytest.fixture
def shop(
    pytester: pytest.Pytester, fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester folder whose conftest fills ``items`` in a database dalperf owns."""
    monkeypatch.setenv("SHOP_URL", urls.sqlalchemy_url(urls.parse(fresh_db)))
    monkeypatch.delenv("SHOP_INDEXED", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_shop=TESTS)
    pytester.syspathinsert()
    return pytester


@pytest.fixture
def foreign_db(pg_server: ServerStatus) -> Iterator[str]:
    """A database dalperf did not create (no ownership comment); its URL."""
    name = f"foreign_{os.getpid()}"
    url = create_database(pg_server, name, owned=False)
    try:
        yield url
    finally:
        drop_database(pg_server, name)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def failure(result: pytest.RunResult, test: str) -> str:
    text = result.stdout.str()
    match = re.search(
        rf"_{{3,}} {re.escape(test)} _{{3,}}\n(.*?)(?=\n_{{3,}} |\n=+ )", text, re.DOTALL
    )
    assert match, f"no failure section for {test}:\n{text}"
    return match.group(1)


def site_line(pytester: pytest.Pytester, text: str) -> int:
    """The line of test_shop.py holding ``text``, as written to disk."""
    lines = (pytester.path / "test_shop.py").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def indexes(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'items' ORDER BY 1"
            )
        ]


def missing(report: dict, test: str) -> list[dict]:
    record = next(t for t in report["tests"] if t["test"] == f"test_shop.py::{test}")
    return [f for f in record["findings"] if f["kind"] == "missing-index"]


def test_unindexed_filter_and_top_n_sort_fail_with_a_proved_index(
    shop: pytest.Pytester, fresh_db: str
) -> None:
    import jsonschema

    result = run(
        shop,
        "--dalperf-index-check",
        "fail",
        "--dalperf-json",
        "out.json",
        "--dalperf-sarif",
        "out.sarif",
        "--dalperf-html",
        "out.html",
    )
    result.assert_outcomes(passed=2, failed=2)
    by_category = failure(result, "test_by_category")
    assert "dalperf: 1 missing-index finding" in by_category
    assert (
        f"a sequential scan of items ({ROWS:,} rows) whose filter keeps an estimated" in by_category
    )
    assert re.search(
        r"plan: Seq Scan on items  Filter: \(category = '?7'?(::\w+)?\)  "
        r"\(estimated \d+ of 20,000 rows kept\)",
        by_category,
    ), by_category
    assert "fix: CREATE INDEX CONCURRENTLY ix_items_category ON items (category);" in by_category
    assert (
        "alembic: op.create_index('ix_items_category', 'items', ['category'], "
        "postgresql_concurrently=True)"
    ) in by_category
    line = site_line(shop, "rows = connection.execute(")
    assert f"at test_shop.py:{line} in test_by_category" in by_category
    assert "sql: SELECT id, name FROM items WHERE category = %(category)s" in by_category
    cheapest = failure(result, "test_cheapest")
    assert "a top-N sort of all 20,000 rows of items" in cheapest
    assert "ON items (price);" in cheapest

    report = json.loads((shop.path / "out.json").read_text())
    [found] = missing(report, "test_by_category")
    assert found["status"] == "new" and found["proved"] is True
    assert found["label"] == "items (category)"
    assert found["after_buffers"] * 2 <= found["before_buffers"]  # the advisor's proof
    assert found["file"] == "test_shop.py" and found["line"] == line
    record = next(t for t in report["tests"] if t["test"] == "test_shop.py::test_by_category")
    assert record["queries"] == 1  # the check's EXPLAINs are not the test's statements
    assert missing(report, "test_by_id") == []
    assert [f["status"] for f in missing(report, "test_allowed")] == ["allowed"]
    assert indexes(fresh_db) == ["items_pkey"]  # every candidate was rolled back

    sarif = json.loads((shop.path / "out.sarif").read_text())
    jsonschema.validate(sarif, json.loads(SCHEMA.read_text()))
    rules = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert rules == {"dalperf/missing-index"}
    assert "dalperf: index check: " in result.stdout.str()  # its cost, in the summary
    html = (shop.path / "out.html").read_text()
    assert "CREATE INDEX CONCURRENTLY ix_items_category ON items (category);" in html
    assert "op.create_index(&#39;ix_items_category&#39;" in html and "rolled back" in html


def test_the_same_queries_with_their_indexes_pass(
    shop: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_INDEXED", "1")
    result = run(shop, "--dalperf-index-check", "fail", "--dalperf-json", "out.json")
    result.assert_outcomes(passed=4)
    report = json.loads((shop.path / "out.json").read_text())
    assert all(missing(report, t["test"].split("::")[1]) == [] for t in report["tests"])


def test_baseline_warn_mode_and_off(shop: pytest.Pytester) -> None:
    baseline = shop.path / "baseline.json"
    run(
        shop,
        "--dalperf-index-check",
        "fail",
        "--dalperf-baseline",
        str(baseline),
        "--dalperf-update-baseline",
    ).assert_outcomes(passed=4)
    entries = json.loads(baseline.read_text())["findings"]
    assert {(e["test"], e["kind"], e["label"]) for e in entries} == {
        ("test_shop.py::test_by_category", "missing-index", "items (category)"),
        ("test_shop.py::test_cheapest", "missing-index", "items (price)"),
    }
    run(shop, "--dalperf-index-check", "fail", "--dalperf-baseline", str(baseline)).assert_outcomes(
        passed=4
    )
    unchecked = run(shop, "--dalperf-baseline", str(baseline), "--dalperf-update-baseline")
    unchecked.assert_outcomes(passed=4)  # the check off: its entries are kept, none stale
    assert "stale" not in unchecked.stdout.str() and "pruned" not in unchecked.stdout.str()
    assert json.loads(baseline.read_text())["findings"] == entries

    shop.makeini("[pytest]\ndalperf_index_check = warn\n")
    result = run(shop, "-k", "by_category", "-W", "always")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*DalperfWarning: dalperf: 1 missing-index finding*"])

    shop.makeini("[pytest]\n")
    shop.makepyfile(
        test_off="""
import sys

import test_shop


def test_off_loads_no_planner():
    test_shop.test_by_category()
    assert not [m for m in sys.modules if m.startswith("dalperf.plans")]
    # nothing when off: the check's module (and its statement listener) never loads
    assert "dalperf.pytest_support.index_check" not in sys.modules
"""
    )
    # a process of its own: this one has loaded the planner already
    result = shop.runpytest_subprocess(
        "-p", "no:cacheprovider", "-k", "by_category or off_loads", "--dalperf-json", "off.json"
    )
    result.assert_outcomes(passed=2)
    report = json.loads((shop.path / "off.json").read_text())
    assert all(not f for t in report["tests"] for f in t["findings"])
    assert "index check" not in result.stdout.str()


def test_a_database_dalperf_does_not_own_is_only_explained(
    shop: pytest.Pytester, foreign_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_URL", urls.sqlalchemy_url(urls.parse(foreign_db)))
    result = run(
        shop,
        "--dalperf-index-check",
        "warn",
        "--dalperf-json",
        "out.json",
        "-k",
        "by_category or cheapest",
    )
    result.assert_outcomes(passed=2)
    summary = [line for line in result.outlines if line.startswith("dalperf: index check on")]
    assert len(summary) == 1, summary  # said once for the session
    assert "no candidate index was built" in summary[0] and "foreign_" in summary[0]
    report = json.loads((shop.path / "out.json").read_text())
    [found] = missing(report, "test_by_category")
    assert found["proved"] is False and found["before_buffers"] is None
    assert "not built: explain only" in found["message"]
    assert found["fix"] == "CREATE INDEX CONCURRENTLY ix_items_category ON items (category);"
    assert indexes(foreign_db) == ["items_pkey"]


@pytest.mark.parametrize(
    ("args", "ini", "named"),
    [
        (("--dalperf-index-check", "sometimes"), "", "--dalperf-index-check"),
        ((), "[pytest]\ndalperf_index_check = on\n", "--dalperf-index-check"),
        ((), "[pytest]\ndalperf_index_min_rows = many\n", "dalperf_index_min_rows"),
    ],
)
def test_bad_values_are_a_usage_error(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str, named: str
) -> None:
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if named in line]
    assert errors and "Traceback" not in result.stderr.str(), result.stderr.str()
