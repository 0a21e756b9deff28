"""The plugin under pytest-xdist: the files of ``-n 2`` hold every test, as without ``-n``.

The same inner suite (real PostgreSQL, real pytest sessions in subprocesses) runs once in
one process and once on two workers; the JSON, SARIF, HTML and baseline files must be the
same apart from timings, and the terminal summary must count every worker's findings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dalperf.db import urls

pytest_plugins = ["pytester"]

APP = """
import os

from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

engine = create_engine(os.environ["XDIST_URL"])


class Base(DeclarativeBase):
    pass


class Shelf(Base):
    __tablename__ = "shelves"
    id: Mapped[int] = mapped_column(primary_key=True)
    books: Mapped[list["Book"]] = relationship()


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shelves.id"))
    title: Mapped[str] = mapped_column(String(40))


def titles(session):
    return [[b.title for b in shelf.books] for shelf in session.scalars(select(Shelf))]


def book(session, pk):
    return session.get(Book, pk)
"""

POPULATE = """
from sqlalchemy.orm import Session

from library import Base, Book, Shelf, engine

Base.metadata.drop_all(engine)
Base.metadata.create_all(engine)
with Session(engine) as session:
    session.add_all([Shelf(books=[Book(title=f"t{i}{j}") for j in range(3)]) for i in range(6)])
    session.commit()
"""


def _tests(module: int) -> str:
    """A test module: N+1s, clean tests and a budget, varied by ``module``."""
    return f"""
import pytest
from sqlalchemy.orm import Session, selectinload
from sqlalchemy import select

import library


def test_lazy_{module}():
    with Session(library.engine) as session:
        library.titles(session)


def test_clean_{module}():
    with Session(library.engine) as session:
        session.scalars(select(library.Shelf).options(selectinload(library.Shelf.books))).all()


@pytest.mark.dalperf_budget(max_queries=1)
def test_budget_{module}():
    with Session(library.engine) as session:
        library.book(session, 1)
        library.book(session, 2)


@pytest.mark.parametrize("pk", range(3))
def test_param_{module}(pk):
    with Session(library.engine) as session:
        library.book(session, pk + 1)
"""


# timings, and what is ordered by them (the slowest statements of a test)
_TIMING_KEYS = {"db_ms", "ms", "slowest"}
_NUMBER = re.compile(r"\d+\.\d+")  # a time in a message or the page ("0.5 ms in the database")


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in _TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    if isinstance(value, str):
        return _NUMBER.sub("#", value)
    return value


CONFTEST = '''
import pytest

import library


@pytest.fixture(scope="session", autouse=True)
def connected():
    """Set-up, never counted: the pool's first connection (its set-up round trips would go to
    whichever test ran first on each worker)."""
    library.engine.connect().close()
'''


def _html_rows(page: Path) -> list[str]:
    """The page's test rows without timings (and without the slowest statements' order)."""
    rows = re.findall(r'<tr>\s*<td class="left mono test".*?</tr>', page.read_text(), re.DOTALL)
    return [_NUMBER.sub("#", row.rsplit('<td class="left">', 1)[0]) for row in rows]


@pytest.fixture
def library(
    pytester: pytest.Pytester, fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    url = urls.sqlalchemy_url(urls.parse(fresh_db))
    monkeypatch.setenv("XDIST_URL", url)
    pytester.makepyfile(library=APP, populate=POPULATE)
    pytester.makeconftest(CONFTEST)
    for module in range(4):
        pytester.makepyfile(**{f"test_m{module}": _tests(module)})
    pytester.syspathinsert()
    assert pytester.runpython(pytester.path / "populate.py").ret == 0
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM books").fetchone() == (18,)
    return pytester


def _run(pytester: pytest.Pytester, folder: str, *extra: str) -> tuple[pytest.RunResult, Path]:
    out = pytester.path / folder
    out.mkdir()
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--dalperf-json",
        str(out / "suite.json"),
        "--dalperf-html",
        str(out / "suite.html"),
        "--dalperf-sarif",
        str(out / "suite.sarif"),
        "--dalperf-baseline",
        str(out / "baseline.json"),
        "--dalperf-update-baseline",
        *extra,
    )
    return result, out


def test_two_workers_write_the_same_files_as_one_process(library: pytest.Pytester) -> None:
    alone, one = _run(library, "one")
    spread, two = _run(library, "two", "-n", "2")
    assert "2 workers" in spread.stdout.str() or "gw1" in spread.stdout.str()
    # 4 modules x 6 tests; with the baseline updated every finding is accepted, and only
    # the budgets fail
    alone.assert_outcomes(passed=20, failed=4)
    spread.assert_outcomes(passed=20, failed=4)
    first = json.loads((one / "suite.json").read_text())
    second = json.loads((two / "suite.json").read_text())
    assert len(first["tests"]) == 24
    assert _without_timings(first) == _without_timings(second)
    assert (one / "baseline.json").read_text() == (two / "baseline.json").read_text()
    assert _without_timings(json.loads((one / "suite.sarif").read_text())) == _without_timings(
        json.loads((two / "suite.sarif").read_text())
    )
    rows = _html_rows(one / "suite.html")
    assert len(rows) == 24 and rows == _html_rows(two / "suite.html")
    findings = sum(len(t["findings"]) for t in first["tests"])
    assert findings >= 4  # at least the lazy load of each module
    line = f"dalperf: 24 test(s) measured, {findings} finding(s)"
    assert line in alone.stdout.str() and line in spread.stdout.str()


def test_two_workers_fail_the_same_tests(library: pytest.Pytester) -> None:
    spread = library.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    spread.assert_outcomes(passed=16, failed=8)  # lazy loads and budgets of 4 modules
    assert "dalperf: 24 test(s) measured" in spread.stdout.str()


CONTROLLER_MODULES = """
import json
import os
import sys


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        loaded = sorted(m for m in sys.modules if m.startswith("dalperf"))
        with open(os.environ["CONTROLLER_MODULES"], "w") as out:
            json.dump(loaded, out)
"""


def test_the_controller_merges_without_loading_the_capture(
    library: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller only merges plain records: it never loads the capture layer (and the
    SQLAlchemy ORM, psycopg and pglast behind it), which only the workers need."""
    library.makepyfile(controller_modules=CONTROLLER_MODULES)
    listing = library.path / "controller_modules.json"
    monkeypatch.setenv("CONTROLLER_MODULES", str(listing))
    result, out = _run(library, "two", "-n", "2", "-p", "controller_modules")
    result.assert_outcomes(passed=20, failed=4)
    assert len(json.loads((out / "suite.json").read_text())["tests"]) == 24
    loaded = json.loads(listing.read_text())
    assert "dalperf.pytest_support.suite" in loaded  # the listing is the controller's
    assert not [
        m for m in loaded if m.startswith(("dalperf.capture", "dalperf.pytest_support.recorder"))
    ]
