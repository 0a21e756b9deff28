"""The plugin on the oldest pytest dalperf supports, so that an API only newer releases have
fails here rather than in a user's suite.

The floor is the ``pytest`` requirement of the ``test`` extra in ``pyproject.toml``
(``pytest>=8.0``): the wheel is installed non-editable into a fresh venv with exactly that
release (tests/fresh_venv.py), and a small suite runs there against the test session's
embedded server: a test with an N+1 that must fail with its finding and its call site, a
clean one that must pass, ``--dalperf-json`` written and ``--dalperf-prove-fixes`` rerunning
the N+1 test with the fix.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import psycopg
import pytest
from packaging.requirements import Requirement

from dalperf.db.embedded import ServerStatus
from tests import fresh_venv

ROOT = Path(__file__).resolve().parent.parent

BLOGAPP = """
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    comments: Mapped[list["Comment"]] = relationship()


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    text: Mapped[str]
"""

CONFTEST = """
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from blogapp import Comment, Post


@pytest.fixture
def engine(dalperf_postgres_fresh):
    engine = create_engine(dalperf_postgres_fresh.url)
    with Session(engine) as session:
        session.add_all(Post(id=p, title=f"post {p}") for p in range(1, 21))
        session.add_all(Comment(id=c, post_id=c % 20 + 1, text="hi") for c in range(1, 61))
        session.commit()
    yield engine
    engine.dispose()
"""

TESTS = """
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from blogapp import Post


def test_feed_naive(engine):
    with Session(engine) as session:
        counts = [len(post.comments) for post in session.scalars(select(Post))]
    assert sum(counts) == 60


def test_feed_fixed(engine):
    query = select(Post).options(selectinload(Post.comments))
    with Session(engine) as session:
        counts = [len(post.comments) for post in session.scalars(query)]
    assert sum(counts) == 60
"""


def oldest_pytest() -> str:
    """The lowest pytest release the ``test`` extra admits: the floor dalperf supports."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extra = config["project"]["optional-dependencies"]["test"]
    requirement = next(Requirement(r) for r in extra if Requirement(r).name == "pytest")
    (floor,) = [s.version for s in requirement.specifier if s.operator == ">="]
    return floor


@pytest.fixture(scope="module")
def oldest(tmp_path_factory: pytest.TempPathFactory) -> fresh_venv.Venv:
    folder = tmp_path_factory.mktemp("oldest_pytest")
    wheel = fresh_venv.build_wheel(folder)
    return fresh_venv.create(folder / "venv", [str(wheel), f"pytest=={oldest_pytest()}"])


def _databases(server: ServerStatus) -> set[str]:
    with psycopg.connect(server.url("postgres")) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def test_the_plugin_on_the_oldest_supported_pytest(
    oldest: fresh_venv.Venv, pg_server: ServerStatus, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    for name, text in (("blogapp", BLOGAPP), ("conftest", CONFTEST), ("test_feed", TESTS)):
        (app / f"{name}.py").write_text(text.lstrip())
    lazy_line = (
        TESTS.lstrip()
        .splitlines()
        .index("        counts = [len(post.comments) for post in session.scalars(select(Post))]")
    )
    before = _databases(pg_server)
    done = subprocess.run(
        [
            str(oldest.bin / "python"),
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--dalperf-database-url",
            pg_server.url("postgres"),
            "--dalperf-metadata",
            "blogapp:Base.metadata",
            "--dalperf-prove-fixes",
            "--dalperf-json",
            "out.json",
            "-rA",
        ],
        cwd=app,
        env=oldest.env(DALPERF_HOME=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert f"pytest-{oldest_pytest()}" in output, output  # the session header: that release
    assert done.returncode == 1, output
    assert "1 failed, 1 passed" in done.stdout.splitlines()[-1], output
    assert "FAILED test_feed.py::test_feed_naive" in done.stdout, output
    assert "PASSED test_feed.py::test_feed_fixed" in done.stdout, output
    assert "Post.comments was lazy-loaded 20 times, once per Post (20 objects)" in output
    assert f"first at test_feed.py:{lazy_line + 1} in " in output, output  # the call site
    assert "fix: select(Post).options(selectinload(Post.comments))" in output
    assert "fix proven: 21 \u2192 2 queries" in output, output
    assert "Traceback" not in done.stderr and "INTERNALERROR" not in output, output

    tests = {t["test"]: t for t in json.loads((app / "out.json").read_text())["tests"]}
    naive, fixed = tests["test_feed.py::test_feed_naive"], tests["test_feed.py::test_feed_fixed"]
    assert (naive["queries"], fixed["queries"]) == (21, 2)
    (finding,) = naive["findings"]
    assert finding["label"] == "Post.comments"
    assert finding["fix_proof"] == {
        "result": "proven",
        "detail": "fix proven: 21 \u2192 2 queries",
        "before": 21,
        "after": 2,
    }
    assert fixed["findings"] == []
    assert _databases(pg_server) == before  # each run's own database dropped
