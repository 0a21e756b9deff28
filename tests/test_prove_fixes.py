"""``--dalperf-prove-fixes``: a test failing on an N+1 runs once more with the offered loader
option, inside real pytest sessions (``pytester``) on the blog app of
``tests/test_pytest_plugin.py``, against real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.test_pytest_plugin import blog, failure, run  # noqa: F401  (blog: a fixture)

pytest_plugins = ["pytester"]

# every body appends a line to RUNS_FILE: how many times it ran
TESTS = """
import os

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, joinedload, selectinload

from blogapp import Author, Post, engine, feed_naive


def ran(name):
    with open(os.environ["RUNS_FILE"], "a") as out:
        out.write(name + "\\n")


def test_naive():
    ran("naive")
    print("the body ran")
    with Session(engine) as session:
        feed_naive(session)


def test_fixed():
    ran("fixed")
    query = select(Post).options(selectinload(Post.comments), joinedload(Post.author))
    with Session(engine) as session:
        [(p.title, p.author.name, len(p.comments)) for p in session.scalars(query)]


def test_deferred_column():
    ran("deferred")
    with Session(engine) as session:
        [post.body for post in session.scalars(select(Post))]


def test_after_commit():
    ran("after_commit")
    with Session(engine) as session:
        posts = session.scalars(select(Post)).all()
        session.commit()  # expires every post and its loaded collections
        [len(post.comments) for post in posts]


def test_writes_then_reads():
    ran("writes")
    with Session(engine) as session:
        session.add(Author(name="added by the test"))
        session.commit()
        feed_naive(session)


def test_repeated_text():
    ran("repeated")
    with engine.connect() as connection:
        for i in range(1, 7):
            connection.execute(text("SELECT title FROM posts WHERE id = :id"), {"id": i})


@pytest.fixture
def guest():
    with Session(engine) as session:
        session.add(Author(name="guest"))
        session.commit()
    yield
    with Session(engine) as session:
        session.query(Author).filter_by(name="guest").delete()
        session.commit()


def test_with_a_writing_fixture(guest):
    ran("fixture")
    with Session(engine) as session:
        feed_naive(session)
"""


@pytest.fixture
def prove(blog: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    blog.makepyfile(test_feed=TESTS)
    monkeypatch.setenv("RUNS_FILE", str(blog.path / "runs.txt"))
    return blog


def runs(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "runs.txt"
    return path.read_text().split() if path.exists() else []


def findings(pytester: pytest.Pytester, test: str) -> dict[str, dict[str, object]]:
    report = json.loads((pytester.path / "out.json").read_text())
    record = next(t for t in report["tests"] if t["test"] == f"test_feed.py::{test}")
    return {f["label"]: f for f in record["findings"]}


def test_a_fix_proven_in_the_message_the_json_and_the_sarif(prove: pytest.Pytester) -> None:
    result = run(
        prove,
        "-k",
        "naive or fixed or deferred",
        "--dalperf-prove-fixes",
        "--dalperf-json",
        "out.json",
        "--dalperf-sarif",
        "out.sarif",
    )
    result.assert_outcomes(passed=1, failed=2)  # the outcomes of the first runs
    assert runs(prove) == ["naive", "naive", "fixed", "deferred", "deferred"]
    report = json.loads((prove.path / "out.json").read_text())
    queries = {t["test"].rpartition("::")[2]: t["queries"] for t in report["tests"]}
    naive = findings(prove, "test_naive")
    proof = naive["Post.comments"]["fix_proof"]
    # the rerun with both options sends what the hand-fixed test sends
    assert proof == {
        "result": "proven",
        "detail": f"fix proven: {queries['test_naive']} \u2192 {queries['test_fixed']} queries "
        "(the 2 fixes together)",
        "before": queries["test_naive"],
        "after": queries["test_fixed"],
    }
    assert queries["test_naive"] == 26 and queries["test_fixed"] == 2
    assert naive["Post.author"]["fix_proof"] == proof
    text = failure(result, "test_naive")
    assert (
        "fix: select(Post).options(selectinload(Post.comments))\n    fix proven: 26 \u2192 2"
        in text
    )
    assert text.count("the body ran") == 1  # the rerun's output is not the test's
    deferred = findings(prove, "test_deferred_column")["Post.body"]["fix_proof"]
    assert deferred["result"] == "proven" and deferred["after"] == 1
    assert f"fix proven: {deferred['before']} \u2192 1 queries" in failure(
        result, "test_deferred_column"
    )
    sarif = json.loads((prove.path / "out.sarif").read_text())
    comments = next(
        r for r in sarif["runs"][0]["results"] if r["properties"]["label"] == "Post.comments"
    )
    assert "fix proven: 26 \u2192 2 queries" in comments["message"]["text"]
    assert comments["properties"]["fixProof"] == proof


def test_a_fix_that_does_not_help_says_so(prove: pytest.Pytester) -> None:
    result = run(prove, "-k", "after_commit", "--dalperf-prove-fixes", "--dalperf-json", "out.json")
    result.assert_outcomes(failed=1)
    assert runs(prove) == ["after_commit", "after_commit"]
    found = findings(prove, "test_after_commit")
    proof = found["Post.comments"]["fix_proof"]
    # the commit expired the collections selectinload brought: they load one by one again
    assert proof["result"] == "did-not-help"
    assert proof["after"] >= proof["before"]
    assert f"fix did not help: {proof['before']} \u2192 {proof['after']} queries" in failure(
        result, "test_after_commit"
    )
    assert found["Post (expired)"]["fix_proof"]["result"] == "not-rerun"
    assert "not a loader option" in found["Post (expired)"]["fix_proof"]["detail"]


def test_a_test_that_writes_is_not_rerun(prove: pytest.Pytester, fresh_db: str) -> None:
    result = run(
        prove, "-k", "writes or writing", "--dalperf-prove-fixes", "--dalperf-json", "out.json"
    )
    result.assert_outcomes(failed=2)
    assert sorted(runs(prove)) == ["fixture", "writes"]  # each ran once
    body = failure(result, "test_writes_then_reads")
    assert (
        "fix not proven: the test body writes (INSERT on authors): a second run could "
        "leave data behind"
    ) in body
    assert "fix not proven: a function-scoped fixture writes (guest: INSERT on authors)" in (
        failure(result, "test_with_a_writing_fixture")
    )
    proof = findings(prove, "test_writes_then_reads")["Post.comments"]["fix_proof"]
    assert proof["result"] == "not-rerun" and proof["after"] is None
    with psycopg.connect(fresh_db) as connection:
        names = [r[0] for r in connection.execute("SELECT name FROM authors")]
    assert names.count("added by the test") == 1 and "guest" not in names


OFF_CONFTEST = """
import sys

import pytest

import blogapp


@pytest.fixture(scope="session", autouse=True)
def data():
    blogapp.populate()


def pytest_sessionfinish(session):
    with open("modules.txt", "w") as out:
        out.write(str("dalperf.pytest_support.prove" in sys.modules))
"""


def test_other_kinds_are_never_rerun(prove: pytest.Pytester) -> None:
    result = run(prove, "-k", "repeated", "--dalperf-prove-fixes", "--dalperf-json", "out.json")
    result.assert_outcomes(failed=1)
    assert runs(prove) == ["repeated"]
    (finding,) = findings(prove, "test_repeated_text").values()
    assert finding["kind"] == "repeated-statement" and "fix_proof" not in finding
    assert "fix proven" not in result.stdout.str() and "not proven" not in result.stdout.str()


def test_off_by_default_no_rerun_and_nothing_loaded(prove: pytest.Pytester) -> None:
    prove.makeconftest(OFF_CONFTEST)
    result = prove.runpytest_subprocess(
        "-p", "no:cacheprovider", "-k", "naive", "--dalperf-json", "out.json"
    )
    result.assert_outcomes(failed=1)
    assert runs(prove) == ["naive"]
    assert "fix proven" not in result.stdout.str()
    assert all("fix_proof" not in f for f in findings(prove, "test_naive").values())
    assert (prove.path / "modules.txt").read_text() == "False"
    prove.makeini("[pytest]\ndalperf_prove_fixes = true\n")  # the ini key turns it on
    result = prove.runpytest_subprocess("-p", "no:cacheprovider", "-k", "naive")
    result.assert_outcomes(failed=1)
    assert runs(prove) == ["naive", "naive", "naive"]
    assert "fix proven: 26 \u2192 2 queries" in result.stdout.str()


def test_the_rerun_keeps_wider_fixtures_and_the_test_s_other_failures(
    prove: pytest.Pytester,
) -> None:
    prove.makepyfile(
        test_scopes="""
import os

import pytest
from sqlalchemy.orm import Session

from blogapp import engine, feed_naive

SETUPS = []


@pytest.fixture(scope="module")
def module_data():
    SETUPS.append("module")
    yield
    SETUPS.append("module torn down")


@pytest.fixture
def per_test():
    SETUPS.append("function")


def test_lazy(module_data, per_test):
    with Session(engine) as session:
        feed_naive(session)


def test_after():
    assert SETUPS == ["module", "function", "function"], SETUPS  # module: set up once
"""
    )
    result = run(prove, "test_scopes.py", "--dalperf-prove-fixes")
    result.assert_outcomes(passed=1, failed=1)
    assert "fix proven: 26 \u2192 2 queries" in failure(result, "test_lazy")


def test_the_sarif_schema_still_holds(prove: pytest.Pytester) -> None:
    import jsonschema

    run(prove, "-k", "naive", "--dalperf-prove-fixes", "--dalperf-sarif", "out.sarif")
    schema = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
    jsonschema.validate(
        json.loads((prove.path / "out.sarif").read_text()), json.loads(schema.read_text())
    )
