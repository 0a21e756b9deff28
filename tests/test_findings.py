"""The shared ORM-aware detector (dalperf.capture.findings) on a real ORM and a real server,
and its findings in the results JSON and the HTML report (what `dalperf run` writes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import ForeignKey, String, Text, create_engine, delete, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    immediateload,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
    subqueryload,
)

from dalperf.capture import Capture, FindingKind, Thresholds
from dalperf.capture.findings import RepeatScope
from dalperf.db.urls import parse, sqlalchemy_url
from dalperf.results.model import from_dict
from tests.test_report import measure_case_study, render_html


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    posts: Mapped[list[Post]] = relationship(back_populates="author")


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text, deferred=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="posts")
    comments: Mapped[list[Comment]] = relationship(back_populates="post")


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    text: Mapped[str] = mapped_column(String(200))
    post: Mapped[Post] = relationship(back_populates="comments")


@pytest.fixture(scope="module")
def engine(pg_server: object) -> Iterator[Engine]:
    from tests.conftest import create_database, drop_database

    url = create_database(pg_server, "findings_blog")  # type: ignore[arg-type]
    eng = create_engine(sqlalchemy_url(parse(url)))
    Base.metadata.create_all(eng)
    with Session(eng) as session:
        authors = [Author(name=f"a{i}") for i in range(4)]
        for i in range(12):
            session.add(
                Post(
                    title=f"t{i}",
                    body="b",
                    author=authors[i % 4],
                    comments=[Comment(text="c") for _ in range(2)],
                )
            )
        session.commit()
    yield eng
    eng.dispose()
    drop_database(pg_server, "findings_blog")  # type: ignore[arg-type]


def kinds_and_labels(cap: Capture, thresholds: Thresholds | None = None) -> set[tuple[str, str]]:
    return {(f.kind.value, f.label) for f in cap.findings(thresholds)}


@pytest.mark.parametrize("loader", [selectinload, subqueryload])
def test_eager_loaders_are_never_findings(engine: Engine, loader: object) -> None:
    with Capture(engine) as cap, Session(engine) as session:
        posts = session.scalars(
            select(Post).options(
                loader(Post.comments),  # type: ignore[operator]
                joinedload(Post.author),
            )
        ).all()
        [(len(p.comments), p.author.name) for p in posts]
    assert cap.queries == 2 and cap.findings() == []


def test_lazy_loads_immediateload_and_the_per_kind_thresholds(engine: Engine) -> None:
    with Capture(engine) as cap, Session(engine) as session:
        [len(p.comments) for p in session.scalars(select(Post))]
    (finding,) = cap.findings()
    assert (finding.kind, finding.label, finding.count, finding.objects) == (
        FindingKind.LAZY_LOAD,
        "Post.comments",
        12,
        12,
    )
    assert finding.fix == "select(Post).options(selectinload(Post.comments))"
    assert finding.call_site and "test_findings.py" in finding.call_site
    assert cap.findings(Thresholds(relationship=13)) == []
    with Capture(engine) as cap, Session(engine) as session:
        session.scalars(select(Post).options(immediateload(Post.comments))).all()
    assert kinds_and_labels(cap) == {("lazy-load", "Post.comments")}  # one query per parent


def test_many_to_one_suggests_joinedload_and_repeats_need_their_threshold(engine: Engine) -> None:
    with Capture(engine) as cap, Session(engine) as session:
        [c.post.title for c in session.scalars(select(Comment))]
        with session.connection() as connection:
            for i in range(1, 5):
                connection.execute(text("SELECT title FROM posts WHERE id = :i"), {"i": i})
    # the four lookups alone in a loop are a short loop; without that rule, the threshold
    (finding,) = cap.findings(Thresholds(loop=0))
    assert finding.fix == "select(Comment).options(joinedload(Comment.post))"
    assert ("repeated-statement", "SELECT posts") in kinds_and_labels(cap)
    assert ("repeated-statement", "SELECT posts") in kinds_and_labels(
        cap, Thresholds(repeat=4, loop=0)
    )


def test_session_refresh_in_a_loop_is_a_column_reload_not_a_repeat(engine: Engine) -> None:
    with Capture(engine) as cap, Session(engine) as session:
        posts = session.scalars(select(Post)).all()
        for post in posts:
            session.refresh(post)
    (finding,) = cap.findings()
    assert (finding.kind, finding.label, finding.count, finding.objects) == (
        FindingKind.COLUMN_RELOAD,
        "Post (refresh)",
        12,
        12,
    )
    assert finding.call_site and "test_findings.py" in finding.call_site


def test_refresh_after_write_is_not_a_finding(engine: Engine) -> None:
    with Capture(engine) as cap, Session(engine) as session:
        for i in range(6):
            author = Author(name=f"new{i}")
            session.add(author)
            session.commit()
            session.refresh(author)  # refresh after write
        session.execute(delete(Author).where(Author.name.like("new%")))
        session.commit()
    assert cap.findings(Thresholds(column_load=2, repeat=2)) == []


def test_repeats_in_separate_sessions_from_separate_lines_are_spread(engine: Engine) -> None:
    def lookup_a(pk: int) -> None:
        with Session(engine) as session:
            session.get(Post, pk)

    def lookup_b(pk: int) -> None:
        with Session(engine) as session:
            session.get(Post, pk)

    with Capture(engine) as cap:
        for pk in (1, 2, 3):
            lookup_a(pk)
            lookup_b(pk + 3)
    (finding,) = cap.findings(Thresholds(repeat=5))
    assert finding.spread and finding.units == 6 and finding.count == 6
    assert finding.message.endswith("in 6 different Sessions: each Session runs it once")
    (strict,) = cap.findings(Thresholds(repeat=5, scope=RepeatScope.TEST))
    assert not strict.spread and strict.units == 6


def test_deferred_column_reload_in_the_summary(engine: Engine) -> None:
    with Capture(engine) as cap, Session(engine) as session:
        [p.body for p in session.scalars(select(Post))]
    summary = cap.summary()
    assert [f["label"] for f in summary["findings"]] == ["Post.body"]
    assert summary["findings"][0]["fix"] == "select(Post).options(undefer(Post.body))"


def test_results_round_trip_and_html_show_findings(seeded_db: str, engine: Engine) -> None:
    with Capture(engine) as cap, Session(engine) as session:
        [len(p.comments) for p in session.scalars(select(Post))]
    finding = cap.summary()["findings"][0]
    results = measure_case_study(seeded_db)
    first = dataclasses.replace(results.operations[0], findings=(finding,))
    results = dataclasses.replace(results, operations=(first, *results.operations[1:]))
    again = from_dict(results.to_dict())
    assert again.operations[0].findings == (finding,)
    html = render_html(again)
    assert "Post.comments was lazy-loaded 12 times" in html
    assert "select(Post).options(selectinload(Post.comments))" in html


def test_a_helper_called_from_six_lines_is_no_loop_but_called_in_a_loop_is(engine: Engine) -> None:
    def lookup(pk: int) -> None:
        with Session(engine) as session:  # each call its own Session
            session.get(Post, pk)

    with Capture(engine) as sequential:
        lookup(1)
        lookup(2)
        lookup(3)
        lookup(4)
        lookup(5)
        lookup(6)
    (spread,) = sequential.findings()
    assert spread.spread and spread.units == 6
    with Capture(engine) as looped:
        for pk in range(1, 7):
            lookup(pk)
    (loop,) = looped.findings()
    assert not loop.spread and loop.units == 6
    assert loop.message.endswith("in 6 different Sessions, all from the same line in lookup")


def test_a_short_loop_of_lookups_alone_is_a_finding_and_three_lines_are_not(
    engine: Engine,
) -> None:
    with Capture(engine) as looped, Session(engine) as session:
        [session.get(Post, pk) for pk in (1, 2, 3)]
    (loop,) = looped.findings()
    assert (loop.kind, loop.label, loop.count) == (
        FindingKind.REPEATED_STATEMENT,
        "SELECT posts",
        3,
    )
    assert loop.message.endswith(
        "once per iteration of one loop (3 iterations, each the lookup alone)"
    )
    assert loop.fix == "session.scalars(select(Post).where(Post.id.in_(ids))).all()"
    with Capture(engine) as listed, Session(engine) as session:
        session.get(Post, 1)
        session.get(Post, 2)
        session.get(Post, 3)
    assert listed.findings() == []
    assert kinds_and_labels(listed, Thresholds(small_repeat=2)) == {
        ("repeated-statement", "SELECT posts")
    }
    with Capture(engine) as committed, Session(engine) as session:
        for pk in (1, 2, 3):  # a transaction each: a read after each commit
            session.get(Post, pk)
            session.commit()
    assert committed.findings() == []


def test_the_same_read_in_each_iteration_of_a_short_loop_is_a_loop_invariant(
    engine: Engine,
) -> None:
    def rule(session: Session) -> str | None:
        return session.scalar(select(Author.name).where(Author.name == "a0"))

    with Capture(engine) as cap, Session(engine) as session:
        for author_id in (1, 2, 3):
            rule(session)
            session.scalars(select(Post.title).where(Post.author_id == author_id)).all()
    found = {f.label: f for f in cap.findings()}
    assert set(found) == {"SELECT posts", "SELECT authors"}
    invariant = found["SELECT authors"]
    assert (invariant.count, invariant.objects, invariant.spread) == (3, 1, False)
    assert invariant.message == (
        "the same SELECT on authors ran 3 times with the same parameters, once per iteration "
        "of one loop (3 iterations, each sending the same 2 statements): the same rows each "
        "time, a loop-invariant query"
    )
    assert invariant.call_site is not None and " in rule" in invariant.call_site
    # the same read three times without a loop around it is no finding
    with Capture(engine) as alone, Session(engine) as session:
        rule(session)
        rule(session)
        rule(session)
    assert alone.findings() == []
    with Capture(engine) as off, Session(engine) as session:
        for author_id in (1, 2, 3):
            rule(session)
            session.scalars(select(Post.title).where(Post.author_id == author_id)).all()
    assert off.findings(Thresholds(loop=0)) == []
