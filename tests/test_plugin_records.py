"""Committed query records (``--dalperf-record``): written, stable, compared, updated.

Real pytest sessions (subprocesses) on a real PostgreSQL; the app is a small library whose
test is edited between runs the way a pull request edits code.
"""

from __future__ import annotations

import tomllib

import pytest

from dalperf.db import urls

pytest_plugins = ["pytester"]

APP = """
import os

from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

engine = create_engine(os.environ["RECORD_URL"])


class Base(DeclarativeBase):
    pass


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40))


def titles(session, ids):
    return [session.get(Book, pk).title for pk in ids]
"""

CONFTEST = """
import pytest

import library


@pytest.fixture(scope="session", autouse=True)
def connected():
    library.engine.connect().close()
"""

POPULATE = """
from sqlalchemy.orm import Session

import library

library.Base.metadata.drop_all(library.engine)
library.Base.metadata.create_all(library.engine)
with Session(library.engine) as session:
    session.add_all([library.Book(title=f"t{i}") for i in range(10)])
    session.commit()
"""

TESTS = """
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import library


def test_titles():
    with Session(library.engine) as session:
        library.titles(session, IDS)


@pytest.mark.parametrize("title", ["t1", "t2"])
def test_find(title):
    with Session(library.engine) as session:
        session.scalars(select(library.Book).where(library.Book.title == title)).all()
"""


@pytest.fixture
def library(
    pytester: pytest.Pytester, fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.setenv("RECORD_URL", urls.sqlalchemy_url(urls.parse(fresh_db)))
    pytester.makepyfile(library=APP, populate=POPULATE)
    pytester.makeconftest(CONFTEST)
    assert pytester.runpython(pytester.path / "populate.py").ret == 0
    pytester.makepyfile(test_books=TESTS.replace("IDS", "[1, 2]"))
    pytester.syspathinsert()
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--dalperf-mode",
        "off",
        "--dalperf-record",
        "records",
        *args,
    )


def test_records_are_written_stable_and_compared(library: pytest.Pytester) -> None:
    first = _run(library)
    first.assert_outcomes(passed=3)
    path = library.path / "records" / "test_books.py.toml"
    text = path.read_text()
    data = tomllib.loads(text)
    assert set(data) == {
        "test_books.py::test_titles",
        "test_books.py::test_find[t1]",
        "test_books.py::test_find[t2]",
    }
    titles = data["test_books.py::test_titles"]
    assert titles["queries"] == 2 and len(titles["statements"]) == 2
    assert "'t1'" not in text and "t1" not in "".join(titles["statements"])  # no literals
    assert titles["network_round_trips"] >= titles["round_trips"] == 2

    again = _run(library)
    again.assert_outcomes(passed=3)
    assert path.read_text() == text  # byte-identical, and nothing rewritten
    spread = _run(library, "-n", "2")
    spread.assert_outcomes(passed=3)
    assert path.read_text() == text  # the same on two workers

    library.makepyfile(test_books=TESTS.replace("IDS", "[1, 2, 3]"))
    changed = _run(library)
    changed.assert_outcomes(passed=2, failed=1)
    out = changed.stdout.str()
    assert "dalperf query record changed" in out and "--dalperf-record-update" in out
    assert "-queries = 2" in out and "+queries = 3" in out
    assert "+SELECT books.id, books.title FROM books WHERE books.id = $1" in out
    assert path.read_text() == text  # a failure rewrites nothing

    updated = _run(library, "--dalperf-record-update")
    updated.assert_outcomes(passed=3)
    assert tomllib.loads(path.read_text())["test_books.py::test_titles"]["queries"] == 3
    _run(library).assert_outcomes(passed=3)


def test_a_record_edited_into_invalid_toml_is_a_usage_error(library: pytest.Pytester) -> None:
    _run(library).assert_outcomes(passed=3)
    path = library.path / "records" / "test_books.py.toml"
    lines = path.read_text().splitlines()
    lines[5] = "queries = = 2"
    path.write_text("\n".join(lines) + "\n")
    broken = _run(library)
    assert broken.ret == pytest.ExitCode.USAGE_ERROR
    err = broken.stderr.str()
    assert "test_books.py.toml" in err and "line 6" in err
    assert "passed" not in broken.stdout.str()


def test_update_needs_a_folder(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dalperf-record-update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs --dalperf-record DIR" in result.stderr.str()


def test_a_removed_test_is_named(library: pytest.Pytester) -> None:
    _run(library).assert_outcomes(passed=3)
    library.makepyfile(test_books=TESTS.replace("IDS", "[1, 2]").replace('["t1", "t2"]', '["t1"]'))
    result = _run(library)
    result.assert_outcomes(passed=2)
    assert (
        "dalperf: test_books.py::test_find[t2] has a query record but did not run"
        in result.stdout.str()
    )
