"""The pytest plugin, run inside real pytest sessions (``pytester``) against real PostgreSQL.

Each inner suite is a small blog app (Post, Author, Comment; lazy ``author`` and ``comments``,
a deferred ``body``) whose module-level engine points at a fresh database on the session's
embedded server, and tests written the way a user writes them, with no dalperf
configuration at all unless the test is about the configuration.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from dalperf.db import urls

pytest_plugins = ["pytester"]

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

BLOGAPP = """
import os

from sqlalchemy import ForeignKey, String, Text, create_engine, select
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

engine = create_engine(os.environ["BLOG_URL"])  # a module-level app engine, as apps have


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    posts: Mapped[list["Post"]] = relationship(back_populates="author")


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text, deferred=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="posts")
    comments: Mapped[list["Comment"]] = relationship(back_populates="post")


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    text: Mapped[str] = mapped_column(String(200))
    post: Mapped[Post] = relationship(back_populates="comments")


def populate(posts=20):
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        authors = [Author(name=f"a{i}") for i in range(5)]
        for i in range(posts):
            session.add(Post(title=f"t{i}", body="b", author=authors[i % 5],
                             comments=[Comment(text=f"c{j}") for j in range(3)]))
        session.commit()


def feed_naive(session):
    rows = []
    for post in session.scalars(select(Post)):
        rows.append((post.title, post.author.name, len(post.comments)))  # the lazy loads
    return rows
"""

CONFTEST = """
import pytest

import blogapp


@pytest.fixture(scope="session", autouse=True)
def data():
    blogapp.populate()  # set-up: never counted
"""

FEED_TESTS = """
import asyncio
import threading

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session, joinedload, selectinload

from blogapp import Author, Post, engine, feed_naive


def test_naive():
    with Session(engine) as session:
        feed_naive(session)


def test_fixed():
    query = select(Post).options(selectinload(Post.comments), joinedload(Post.author))
    with Session(engine) as session:
        [(p.title, p.author.name, len(p.comments)) for p in session.scalars(query)]


def test_chained_selectin_is_fine_but_its_children_are_not():
    with Session(engine) as session:
        authors = session.scalars(select(Author).options(selectinload(Author.posts))).all()
        [len(post.comments) for author in authors for post in author.posts]


def test_in_a_thread():
    def work():
        with Session(engine) as session:
            feed_naive(session)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def test_async():
    async def main():
        url = engine.url.set(drivername="postgresql+psycopg_async")
        async_engine = create_async_engine(url)
        async with AsyncSession(async_engine) as session:
            for post in (await session.scalars(select(Post))).all():
                await post.awaitable_attrs.comments
        await async_engine.dispose()
    asyncio.run(main())


def test_repeated_text():
    with engine.connect() as connection:
        for i in range(1, 7):
            connection.execute(text("SELECT title FROM posts WHERE id = :id"), {"id": i})


def test_deferred_column():
    with Session(engine) as session:
        [post.body for post in session.scalars(select(Post))]


def test_expired_after_commit():
    with Session(engine) as session:
        posts = session.scalars(select(Post)).all()
        session.commit()
        [post.title for post in posts]


def test_write_loop():
    with engine.begin() as connection:
        for i in range(4):
            connection.execute(text("INSERT INTO authors (name) VALUES (:n)"), {"n": f"w{i}"})
        connection.rollback()
"""


@pytest.fixture
def blog(
    pytester: pytest.Pytester, fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester folder holding the blog app, its conftest and BLOG_URL for a fresh database."""
    monkeypatch.setenv("BLOG_URL", urls.sqlalchemy_url(urls.parse(fresh_db)))
    pytester.makepyfile(blogapp=BLOGAPP)
    pytester.makeconftest(CONFTEST)
    pytester.syspathinsert()
    return pytester


def lazy_line(pytester: pytest.Pytester) -> int:
    """The line of blogapp.py that triggers the lazy loads, as written to disk."""
    lines = (pytester.path / "blogapp.py").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if "# the lazy loads" in line)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def failure(result: pytest.RunResult, test: str) -> str:
    """The failure section of ``test`` in the output."""
    text = result.stdout.str()
    match = re.search(
        rf"_{{3,}} {re.escape(test)} _{{3,}}\n(.*?)(?=\n_{{3,}} |\n=+ )", text, re.DOTALL
    )
    assert match, f"no failure section for {test}"
    return match.group(1)


def test_zero_configuration_names_each_relationship_with_its_fix(blog: pytest.Pytester) -> None:
    blog.makepyfile(test_feed=FEED_TESTS)
    result = run(
        blog, "--dalperf-rtt-ms", "20", "-k", "naive or fixed or chained or thread or async"
    )
    result.assert_outcomes(passed=1, failed=4)
    naive = failure(result, "test_naive")
    assert "dalperf: 2 N+1 findings" in naive
    assert "Post.comments was lazy-loaded 20 times, once per Post (20 objects)" in naive
    assert f"first at blogapp.py:{lazy_line(blog)} in feed_naive" in naive
    assert "fix: select(Post).options(selectinload(Post.comments))" in naive
    assert "fix: select(Post).options(joinedload(Post.author))" in naive
    assert "sql: SELECT comments.id, comments.post_id, comments.text FROM comments" in naive
    figures = re.search(
        r"test body: (\d+) queries, (\d+) round trips deep, (\d+) network "
        r"round trips \u2248 (\d+) ms at 20 ms RTT",
        naive,
    )
    assert figures, naive
    queries, depth, network, cost = map(int, figures.groups())
    assert queries == 26 and depth == 26 and network > depth and cost == network * 20
    assert 'dalperf_allow("Post.comments", "Post.author")' in naive
    chained = failure(result, "test_chained_selectin_is_fine_but_its_children_are_not")
    assert (
        "fix: select(Author).options(selectinload(Author.posts).selectinload(Post.comments))"
    ) in chained
    assert "Author.posts" not in chained.split("fix:")[0]  # the selectin load itself: no finding
    assert "Post.comments was lazy-loaded 20 times" in failure(result, "test_in_a_thread")
    assert "Post.comments was lazy-loaded 20 times" in failure(result, "test_async")
    assert "test_feed.py:" in failure(result, "test_async").split("first at ")[1].split("\n")[0]
    assert "test_fixed" not in "".join(line for line in result.outlines if "FAILED" in line)


def test_core_repeats_column_reloads_and_opt_in_write_loops(blog: pytest.Pytester) -> None:
    blog.makepyfile(test_feed=FEED_TESTS)
    blog.makeini("[pytest]\ndalperf_write_loop_threshold = 3\n")
    result = run(blog, "-k", "repeated or deferred or expired or write_loop")
    result.assert_outcomes(failed=4)
    repeated = failure(result, "test_repeated_text")
    assert "the same SELECT on posts ran 6 times with 6 different parameter sets" in repeated
    assert "first at test_feed.py:" in repeated
    assert (
        'fix: connection.execute(text("SELECT title FROM posts WHERE id = ANY(:values)"), '
        '{"values": values})'
    ) in repeated
    deferred = failure(result, "test_deferred_column")
    assert "Post.body (deferred) was loaded on its own 20 times" in deferred
    assert "fix: select(Post).options(undefer(Post.body))" in deferred
    expired = failure(result, "test_expired_after_commit")
    assert "Post objects had their expired columns reloaded" in expired
    assert "expire_on_commit=False" in expired
    assert "the same INSERT on authors ran 4 times, one row at a time" in failure(
        result, "test_write_loop"
    )


def test_write_loops_are_off_by_default_and_warn_mode_only_warns(blog: pytest.Pytester) -> None:
    blog.makepyfile(test_feed=FEED_TESTS)
    result = run(blog, "-k", "write_loop")
    result.assert_outcomes(passed=1)
    blog.makeini("[pytest]\ndalperf_mode = warn\n")
    result = run(blog, "-k", "naive")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*DalperfWarning: dalperf: 2 N+1 findings*"])
    blog.makeini("[pytest]\ndalperf_mode = off\n")
    result = run(blog, "-k", "naive")
    result.assert_outcomes(passed=1)
    assert "DalperfWarning" not in result.stdout.str()


BUDGET_TESTS = """
import pytest
from sqlalchemy import text

from blogapp import engine


def by_id(ids):
    with engine.connect() as connection:
        for i in ids:
            connection.execute(text("SELECT title FROM posts WHERE id = :i"), {"i": i})


@pytest.mark.dalperf_budget(max_queries=2, max_round_trips=2)
def test_within():
    by_id([1, 2])


@pytest.mark.dalperf_budget(max_queries=2)
def test_over():
    by_id([1, 2, 3])


@pytest.mark.dalperf_budget(max_network_round_trips=2)
def test_network():
    by_id([1, 2])


@pytest.mark.dalperf_budget(max_queries=5)
def test_sends_nothing():
    pass


@pytest.mark.query_budget(max_queries=1)
def test_old_marker_name():
    by_id([1])


def test_fixtures(dalperf_capture, dalperf_max_queries):
    with dalperf_capture() as capture:
        by_id([1, 2, 3])
    assert (capture.queries, capture.round_trips) == (3, 3)
    with dalperf_max_queries(3, round_trips=3):
        by_id([1, 2, 3])
    with dalperf_max_queries(1):
        by_id([1, 2])
"""


def test_budget_marker_and_fixtures(blog: pytest.Pytester) -> None:
    blog.makepyfile(test_budget=BUDGET_TESTS)
    result = run(blog)
    result.assert_outcomes(passed=2, failed=4)
    over = failure(result, "test_over")
    assert "dalperf_budget exceeded: 3 queries, budget 2" in over
    assert "network round trips \u2248" in over and "SELECT title FROM posts WHERE id = $1" in over
    network = failure(result, "test_network")
    assert re.search(r"dalperf_budget exceeded: \d+ network round trips, budget 2", network)
    assert "sent no statement through any SQLAlchemy engine" in failure(
        result, "test_sends_nothing"
    )
    assert "dalperf_max_queries exceeded: 2 queries, budget 1" in failure(result, "test_fixtures")
    result.stdout.fnmatch_lines(["*query_budget is now @pytest.mark.dalperf_budget*"])


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        (
            {"ini": "[pytest]\ndalperf_mode = loud\n"},
            (),
            "dalperf_mode: must be one of fail, warn, off, not 'loud'",
        ),
        (
            {"ini": "[pytest]\ndalperf_repeat_threshold = many\n"},
            (),
            "dalperf_repeat_threshold: must be a whole number >= 0, not 'many'",
        ),
        (
            {
                "test": "import pytest\n@pytest.mark.dalperf_budget(max_queries=-1)\ndef test_x(): pass\n"
            },
            (),
            (
                "test_bad.py::test_x: @pytest.mark.dalperf_budget: max_queries must be a whole number "
                ">= 0, not -1"
            ),
        ),
        (
            {
                "test": "import pytest\n@pytest.mark.dalperf_budget(max_queries='3')\n"
                "def test_x(): pass\n"
            },
            (),
            "max_queries must be a whole number >= 0, not '3'",
        ),
        (
            {"test": "import pytest\n@pytest.mark.dalperf_budget(p95_ms=5)\ndef test_x(): pass\n"},
            (),
            "unknown limit 'p95_ms'",
        ),
        (
            {"baseline": "{not json"},
            ("--dalperf-baseline", "baseline.json"),
            "--dalperf-baseline: baseline.json is not valid JSON",
        ),
        (
            {"baseline": '{"version": 1, "findings": [{"test": 1}]}'},
            ("--dalperf-baseline", "baseline.json"),
            "entry 1 needs the strings test, kind, label",
        ),
        (
            {},
            ("--dalperf-baseline", "missing.json"),
            (
                "--dalperf-baseline: missing.json does not exist (write it with "
                "--dalperf-update-baseline)"
            ),
        ),
        (
            {},
            ("--dalperf-sarif", "no/such/folder/out.sarif"),
            "--dalperf-sarif: the folder no/such/folder does not exist",
        ),
        ({}, ("--dalperf-rtt-ms", "fast"), "--dalperf-rtt-ms: not a number: 'fast'"),
    ],
)
def test_bad_input_is_a_usage_error(
    pytester: pytest.Pytester, files: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    if "ini" in files:
        pytester.makeini(files["ini"])
    if "baseline" in files:
        (pytester.path / "baseline.json").write_text(files["baseline"])
    pytester.makepyfile(test_bad=files.get("test", "def test_ok():\n    pass\n"))
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_allow_marker_and_ignore_patterns(blog: pytest.Pytester) -> None:
    blog.makepyfile(
        test_allow="""
import pytest
from sqlalchemy.orm import Session

from blogapp import engine, feed_naive


@pytest.mark.dalperf_allow("Post.comments", "Post.author")
def test_both_allowed():
    with Session(engine) as session:
        feed_naive(session)


@pytest.mark.dalperf_allow("Post.comm*")
def test_one_allowed():
    with Session(engine) as session:
        feed_naive(session)
"""
    )
    result = run(blog)
    result.assert_outcomes(passed=1, failed=1)
    one = failure(result, "test_one_allowed")
    assert "dalperf: 1 N+1 finding" in one and "Post.author" in one and "Post.comments" not in one
    blog.makeini("[pytest]\ndalperf_ignore =\n    lazy-load:Post.author\n")
    run(blog).assert_outcomes(passed=2)


def test_baseline_accepts_old_findings_fails_new_ones_and_prunes_stale(
    blog: pytest.Pytester,
) -> None:
    blog.makepyfile(test_feed=FEED_TESTS)
    baseline = blog.path / "baseline.json"
    first = run(
        blog,
        "-k",
        "naive or repeated",
        "--dalperf-baseline",
        str(baseline),
        "--dalperf-update-baseline",
    )
    first.assert_outcomes(passed=2)
    entries = json.loads(baseline.read_text())
    assert entries == {
        "version": 1,
        "findings": [
            {"test": "test_feed.py::test_naive", "kind": "lazy-load", "label": "Post.author"},
            {"test": "test_feed.py::test_naive", "kind": "lazy-load", "label": "Post.comments"},
            {
                "test": "test_feed.py::test_repeated_text",
                "kind": "repeated-statement",
                "label": "SELECT posts",
            },
        ],
    }
    run(blog, "-k", "naive or repeated", "--dalperf-baseline", str(baseline)).assert_outcomes(
        passed=2
    )
    # a new finding fails although the baseline exists
    run(blog, "-k", "deferred", "--dalperf-baseline", str(baseline)).assert_outcomes(failed=1)
    # the N+1 fixed: its entries are stale, listed, then pruned by an update
    blog.makepyfile(
        test_feed=FEED_TESTS.replace(
            "        feed_naive(session)\n\n\ndef test_fixed", "        pass\n\n\ndef test_fixed", 1
        )
    )
    stale = run(blog, "-k", "naive", "--dalperf-baseline", str(baseline))
    stale.assert_outcomes(passed=1)
    stale.stdout.fnmatch_lines(
        ["*dalperf: 2 baseline entries stale*", "*test_feed.py::test_naive  lazy-load  Post.author"]
    )
    run(blog, "-k", "naive", "--dalperf-baseline", str(baseline), "--dalperf-update-baseline")
    assert [e["label"] for e in json.loads(baseline.read_text())["findings"]] == ["SELECT posts"]


def test_sarif_json_and_html_reports(blog: pytest.Pytester) -> None:
    import jsonschema

    blog.makepyfile(test_feed=FEED_TESTS)
    baseline = blog.path / "baseline.json"
    baseline.write_text(
        json.dumps(
            {
                "version": 1,
                "findings": [
                    {
                        "test": "test_feed.py::test_naive",
                        "kind": "lazy-load",
                        "label": "Post.author",
                    }
                ],
            }
        )
    )
    result = run(
        blog,
        "-k",
        "naive or fixed",
        "--dalperf-sarif",
        "out.sarif",
        "--dalperf-json",
        "out.json",
        "--dalperf-html",
        "out.html",
        "--dalperf-baseline",
        str(baseline),
    )
    result.assert_outcomes(passed=1, failed=1)
    sarif = json.loads((blog.path / "out.sarif").read_text())
    jsonschema.validate(sarif, json.loads(SCHEMA.read_text()))
    results = sarif["runs"][0]["results"]
    by_label = {r["properties"]["label"]: r for r in results}
    assert set(by_label) == {"Post.comments", "Post.author"}
    location = by_label["Post.comments"]["locations"][0]["physicalLocation"]
    assert location == {
        "artifactLocation": {"uri": "blogapp.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": lazy_line(blog)},
    }
    assert sarif["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == blog.path.as_uri() + "/"
    assert by_label["Post.author"]["suppressions"][0]["kind"] == "external"
    assert "suppressions" not in by_label["Post.comments"]
    assert by_label["Post.comments"]["ruleId"] == "dalperf/lazy-load"
    report = json.loads((blog.path / "out.json").read_text())
    tests = {t["test"]: t for t in report["tests"]}
    assert tests["test_feed.py::test_naive"]["queries"] == 26
    assert tests["test_feed.py::test_naive"]["outcome"] == "failed"
    assert tests["test_feed.py::test_fixed"]["queries"] == 2
    assert tests["test_feed.py::test_fixed"]["findings"] == []
    fixed = tests["test_feed.py::test_fixed"]  # figures: computed because a report shows them
    assert fixed["round_trips"] == 2 and fixed["network_round_trips"] >= 2
    assert fixed["rows_fetched"] > 0 and fixed["db_ms"] > 0
    assert {f["status"] for f in tests["test_feed.py::test_naive"]["findings"]} == {
        "new",
        "baselined",
    }
    slowest = tests["test_feed.py::test_naive"]["slowest"]
    assert len(slowest) == 3 and all(s["call_site"].startswith("blogapp.py:") for s in slowest)
    html = (blog.path / "out.html").read_text()
    assert "test_feed.py::test_naive" in html and "selectinload(Post.comments)" in html


def test_scaling_fixture_fails_with_the_fitted_slope(blog: pytest.Pytester) -> None:
    blog.makepyfile(
        test_scaling="""
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from blogapp import Post, engine


def naive(n):
    with Session(engine) as session:
        return [len(p.comments) for p in session.scalars(select(Post).limit(n))]


def fixed(n):
    with Session(engine) as session:
        query = select(Post).options(selectinload(Post.comments)).limit(n)
        return [len(p.comments) for p in session.scalars(query)]


@pytest.mark.dalperf_allow()
def test_naive(dalperf_scaling):
    dalperf_scaling(naive, sizes=[1, 5, 10])


def test_fixed(dalperf_scaling):
    result = dalperf_scaling(fixed, sizes=[1, 5, 10])
    assert result.complexity.queries == (2, 2, 2)
    assert result.rows_returned == (1, 5, 10)


@pytest.mark.dalperf_allow()
def test_linear_allowed(dalperf_scaling):
    dalperf_scaling(naive, sizes=[1, 5, 10], allow="O(n)")
"""
    )
    result = run(blog)
    result.assert_outcomes(passed=2, failed=1)
    naive = failure(result, "test_naive")
    assert (
        "dalperf_scaling: the query count grows O(n): slope 1 queries per unit of size "
        "(sizes 1, 5, 10 \u2192 queries 2, 6, 11)"
    ) in naive
    assert re.search(
        r"size 10: 11 queries, \d+ network round trips \u2248 \d+ ms at 1 ms RTT, "
        r"\d+ rows fetched, 10 returned",
        naive,
    )


MODELS = """
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):  # "users": the case study has a table of that name; this database does not
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    nickname: Mapped[str] = mapped_column(String(30))
"""

POSTGRES_TESTS = """
import sys

from sqlalchemy import create_engine, inspect, text


def test_schema_is_the_apps(dalperf_postgres, tmp_path_factory):
    engine = dalperf_postgres.create_engine()
    with engine.begin() as connection:
        assert inspect(connection).get_table_names() == ["users"]
        connection.execute(text("INSERT INTO users (nickname) VALUES ('kept')"))
    engine.dispose()
    (tmp_path_factory.getbasetemp().parent / "url").write_text(dalperf_postgres.libpq_url)


def test_fresh_copies_are_empty_and_separate(dalperf_postgres_fresh):
    engine = create_engine(dalperf_postgres_fresh.url)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 0
        connection.execute(text("INSERT INTO users (nickname) VALUES ('mine')"))
    engine.dispose()


def test_another_fresh_copy(dalperf_postgres_fresh, dalperf_postgres):
    engine = create_engine(dalperf_postgres_fresh.url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 0
    engine.dispose()
    assert dalperf_postgres_fresh.name != dalperf_postgres.database.name
    assert "dalperf.seed.loader" not in sys.modules
"""


def test_dalperf_postgres_is_blank_with_the_apps_schema(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(models=MODELS, test_pg=POSTGRES_TESTS)
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dalperf-metadata", "models:Base.metadata"
    )
    result.assert_outcomes(passed=3)
    url = next(pytester.path.parent.rglob("url")).read_text()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)  # stopped after the session


def test_dalperf_postgres_bad_metadata(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_pg="def test_it(dalperf_postgres):\n    pass\n")
    result = run(pytester, "--dalperf-metadata", "nosuchmodule:Base.metadata")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [("*--dalperf-metadata nosuchmodule:Base.metadata: No module named 'nosuchmodule'*")]
    )
    result = run(pytester, "--dalperf-metadata", "no-colon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_unsupported_driver_is_one_line(blog: pytest.Pytester) -> None:
    blog.makepyfile(
        test_driver="""
import pytest
from sqlalchemy import create_engine, text

from blogapp import engine


@pytest.mark.dalperf_budget(max_queries=3)
def test_pg8000():
    other = create_engine(engine.url.set(drivername="postgresql+pg8000"))
    with other.connect() as connection:
        connection.execute(text("SELECT 1"))
    other.dispose()
"""
    )
    result = run(blog)
    result.assert_outcomes(failed=1)
    line = (
        "dalperf measures PostgreSQL through psycopg (3), psycopg2 and asyncpg "
        "(postgresql+asyncpg, postgresql+psycopg, postgresql+psycopg2, "
        "postgresql+psycopg_async); statements sent through postgresql+pg8000 were not "
        "captured"
    )
    assert line in failure(result, "test_pg8000")
    result.stdout.fnmatch_lines([f"*DalperfWarning: {line}"])


SEEDED_TEST = """
from sqlalchemy import text


def test_the_seeded_database(dalperf_database, dalperf_engine, tmp_path_factory):
    with dalperf_engine.connect() as connection:
        users = connection.execute(text("SELECT count(*) FROM users")).scalar_one()
    assert users > 0 and dalperf_database.scale == 0.01 and dalperf_database.seed == 3
    (tmp_path_factory.getbasetemp().parent / "url").write_text(dalperf_database.url)
"""


def test_dalperf_database_is_the_seeded_case_study_and_stopped_after_the_session(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_seeded=SEEDED_TEST)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--dalperf-scale", "0.01", "--dalperf-seed", "3"
    )
    result.assert_outcomes(passed=1)
    url = next(pytester.path.parent.rglob("url")).read_text()
    assert urls.parse(url).host == "127.0.0.1"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_the_plugin_starts_nothing_unless_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_idle="""
import sys


def test_idle(request):
    assert request.config.pluginmanager.hasplugin("dalperf")
    assert "dalperf.seed.loader" not in sys.modules
    assert "dalperf.db.embedded" not in sys.modules  # no server module, so no server
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_bad_scale_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--dalperf-scale", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dalperf-scale: must be > 0, not 0*"])
