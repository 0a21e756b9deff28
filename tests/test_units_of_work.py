"""Findings counted per unit of work, and the batched patterns that are not findings.

Each test runs a real pytest session (``pytester``) with the plugin on, against a fresh
database on the embedded server: a small shop app (FastAPI routes, each request its own
Session; reviews with complaints; a category tree; orders) and tests written as an app's
suite writes them.  Every inner test says in its name whether it must pass or fail.
"""

from __future__ import annotations

import json
import re

import pytest

from dalperf.db import urls
from tests.test_pytest_plugin import failure, run

pytest_plugins = ["pytester"]

SHOP = """
import os

from fastapi import Depends, FastAPI
from sqlalchemy import ForeignKey, String, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

engine = create_engine(os.environ["SHOP_URL"])


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Review(Base):
    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    stars: Mapped[int]
    complaints: Mapped[list["Complaint"]] = relationship(back_populates="review")


class Complaint(Base):
    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    review: Mapped[Review] = relationship(back_populates="complaints")


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    children: Mapped[list["Category"]] = relationship()


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    lines: Mapped[list["Line"]] = relationship(lazy="selectin", back_populates="order")


class Line(Base):
    __tablename__ = "lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    order: Mapped[Order] = relationship(back_populates="lines")


def populate():
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([User(id=i, name=f"u{i}") for i in range(1, 4)])
        session.add_all([Review(id=i, stars=i % 5, complaints=[Complaint(), Complaint()])
                         for i in range(1, 41)])
        root = Category(id=1, children=[Category(id=10 + i, children=[
            Category(id=100 + 10 * i + j) for j in range(3)]) for i in range(3)])
        session.add(root)
        session.add_all([Order(id=i, status="new", lines=[Line()]) for i in range(1, 11)])
        session.commit()


app = FastAPI()


def get_session():
    with Session(engine) as session:
        yield session


def current_user(session: Session = Depends(get_session)) -> User:
    return session.get(User, 1)  # the auth lookup every request makes


@app.get("/reviews/{review_id}")
def read_review(review_id: int, session: Session = Depends(get_session),
                user: User = Depends(current_user)):
    review = session.get(Review, review_id)  # the route's own lookup
    return {"stars": review.stars, "complaints": len(review.complaints)}


@app.get("/stars")
def stars(session: Session = Depends(get_session)):
    widget = session.execute(text("SELECT DISTINCT stars FROM reviews ORDER BY stars"))
    return [row.stars for row in widget]


def complaints_per_review(pks):
    with Session(engine) as session:
        counts = []
        for pk in pks:
            review = session.get(Review, pk)
            counts.append(len(review.complaints))  # the lazy load
        return counts


def stars_each_in_its_own_session(pks):
    counts = []
    for pk in pks:
        with Session(engine) as session:  # one Session per round: still one loop
            counts.append(session.get(Review, pk).stars)  # the loop's lookup
    return counts


def walk(category):
    return 1 + sum(walk(child) for child in category.children)  # the tree walk
"""

CONFTEST = """
import pytest

import shop


@pytest.fixture(scope="session", autouse=True)
def data():
    shop.populate()
"""


@pytest.fixture
def shop(
    pytester: pytest.Pytester, fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester folder holding the shop app, its conftest and SHOP_URL for a fresh database."""
    monkeypatch.setenv("SHOP_URL", urls.sqlalchemy_url(urls.parse(fresh_db)))
    pytester.makepyfile(shop=SHOP)
    pytester.makeconftest(CONFTEST)
    pytester.syspathinsert()
    return pytester


def line_of(pytester: pytest.Pytester, module: str, marker: str) -> int:
    lines = (pytester.path / f"{module}.py").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if marker in line)


UNIT_TESTS = """
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import shop


def test_requests_each_look_up_once_passes():
    client = TestClient(shop.app)
    for review_id in range(1, 7):
        assert client.get(f"/reviews/{review_id}").status_code == 200
    for _ in range(3):
        assert client.get("/stars").status_code == 200


def test_requests_sharing_one_session_pass():
    session = Session(shop.engine)
    shop.app.dependency_overrides[shop.get_session] = lambda: session
    try:
        client = TestClient(shop.app)
        for review_id in range(1, 7):
            session.expunge_all()  # what a test that reuses its Session sees: a fresh read
            assert client.get(f"/reviews/{review_id}").status_code == 200
    finally:
        shop.app.dependency_overrides.clear()
        session.close()


def test_loop_with_a_session_per_round_fails():
    assert len(shop.stars_each_in_its_own_session(range(1, 7))) == 6


def test_one_session_looping_fails():
    assert len(shop.complaints_per_review(range(1, 7))) == 6
"""


def test_repeats_count_per_unit_of_work_and_loops_still_fail(shop: pytest.Pytester) -> None:
    shop.makepyfile(test_units=UNIT_TESTS)
    result = run(shop, "--dalperf-json", "out.json")
    result.assert_outcomes(passed=2, failed=2)
    loop = failure(result, "test_loop_with_a_session_per_round_fails")
    assert (
        "the same SELECT on reviews ran 6 times with 6 different parameter sets in 6 "
        "different Sessions, all from the same line in stars_each_in_its_own_session"
    ) in loop
    assert f"first at shop.py:{line_of(shop, 'shop', '# the loop' + chr(39) + 's lookup')}" in loop
    assert "fix: session.scalars(select(Review).where(Review.id.in_(ids))).all()" in loop
    one = failure(result, "test_one_session_looping_fails")
    assert (
        "Review.complaints was lazy-loaded 6 times, once per Review (6 objects), each "
        "Review loaded on its own first (batch that loop)"
    ) in one
    assert (
        "fix: select(Review).where(Review.id.in_(ids)).options(selectinload(Review.complaints))"
    ) in one
    assert f"first at shop.py:{line_of(shop, 'shop', '# the lazy load')} in " in one
    report = json.loads((shop.path / "out.json").read_text())
    tests = {t["test"].split("::")[1]: t for t in report["tests"]}
    spread = tests["test_requests_each_look_up_once_passes"]["spread"]
    assert tests["test_requests_each_look_up_once_passes"]["findings"] == []
    assert [(s["kind"], s["units"]) for s in spread] == [
        ("lazy-load", 6),
        ("repeated-statement", 6),
    ]
    assert spread[1]["message"] == (
        "the same SELECT on reviews ran 6 times with 6 different parameter sets in 6 different "
        "requests: each request runs it once"
    )
    assert spread[1]["file"] == "shop.py"
    assert tests["test_requests_sharing_one_session_pass"]["findings"] == []


LOOP_TESTS = """
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shop import Complaint, Review, engine


def score(session, review_id):
    session.scalar(text("SELECT max(stars) FROM reviews"))  # the same setting each time
    query = select(func.count()).where(Complaint.review_id == review_id)
    return session.scalar(query)  # the per-review count


def test_a_loop_over_three_reviews_fails():
    with Session(engine) as session:
        [score(session, pk) for pk in (1, 2, 3)]


def test_a_helper_called_from_three_lines_passes():
    with Session(engine) as session:
        score(session, 1)
        score(session, 2)
        score(session, 3)


def test_three_lookups_alone_in_a_loop_fail():
    with Session(engine) as session:
        [session.scalar(select(Review.stars).where(Review.id == pk)) for pk in (1, 2, 3)]


def test_three_lookups_on_three_lines_pass():
    with Session(engine) as session:
        session.scalar(select(Review.stars).where(Review.id == 1))
        session.scalar(select(Review.stars).where(Review.id == 2))
        session.scalar(select(Review.stars).where(Review.id == 3))


def stars_of(session, pk):
    return session.get(Review, pk).stars


def test_a_lookup_helper_called_from_three_lines_passes():
    with Session(engine) as session:
        stars_of(session, 1)
        stars_of(session, 2)
        stars_of(session, 3)


def test_a_check_after_each_commit_passes():
    with Session(engine) as session:
        for pk in (1, 2, 3):
            session.get(Review, pk).stars += 0
            session.commit()
            session.scalar(select(func.count()).where(Complaint.review_id == pk))
"""


def test_a_short_loop_fails_below_the_repeat_threshold(shop: pytest.Pytester) -> None:
    shop.makepyfile(test_loop=LOOP_TESTS)
    result = run(shop)
    result.assert_outcomes(passed=4, failed=2)
    loop = failure(result, "test_a_loop_over_three_reviews_fails")
    assert (
        "the same SELECT on complaints ran 3 times with 3 different parameter sets, once per "
        "iteration of one loop (3 iterations, each sending the same 2 statements)"
    ) in loop
    assert f"first at test_loop.py:{line_of(shop, 'test_loop', '# the per-review count')}" in loop
    # the setting read again in each iteration: a loop-invariant query, reported with the loop
    assert (
        "the same SELECT on reviews ran 3 times with the same parameters, once per iteration "
        "of one loop (3 iterations, each sending the same 2 statements): the same rows each "
        "time, a loop-invariant query"
    ) in loop
    assert f"first at test_loop.py:{line_of(shop, 'test_loop', '# the same setting')}" in loop
    alone = failure(result, "test_three_lookups_alone_in_a_loop_fail")
    assert (
        "the same SELECT on reviews ran 3 times with 3 different parameter sets, once per "
        "iteration of one loop (3 iterations, each the lookup alone)"
    ) in alone
    run(shop, "-o", "dalperf_loop_threshold=0").assert_outcomes(passed=6)


def test_scope_test_counts_the_whole_body(shop: pytest.Pytester) -> None:
    shop.makepyfile(test_units=UNIT_TESTS)
    result = run(shop, "-o", "dalperf_repeat_scope=test", "-k", "each_look_up")
    result.assert_outcomes(failed=1)
    assert (
        "the same SELECT on reviews ran 6 times with 6 different parameter sets in 6 "
        "different requests"
    ) in failure(result, "test_requests_each_look_up_once_passes")
    run(shop, "--dalperf-repeat-scope", "unit", "-k", "each_look_up").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("-o", "dalperf_repeat_scope=request"),
            "dalperf_repeat_scope: must be one of unit, test, not 'request'",
        ),
        (
            ("-o", "dalperf_app_packages=nosuchpackage_xyz"),
            "dalperf_app_packages: 'nosuchpackage_xyz' does not import",
        ),
    ],
)
def test_bad_scope_and_app_package_are_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


CLEAN_TESTS = """
import time

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

import shop
from shop import Complaint, Line, Order, Review, engine


def test_refresh_after_write_passes():
    with Session(engine) as session:
        for i in range(8):
            review = Review(id=1000 + i, stars=3)
            session.add(review)
            session.commit()
            session.refresh(review)
            assert review.id == 1000 + i
        session.execute(delete(Review).where(Review.id >= 1000))
        session.commit()


def test_identity_map_hits_pass():
    with Session(engine) as session:
        user = session.get(shop.User, 1)  # the one SELECT: held, so the rest are hits
        for _ in range(10):
            assert session.get(shop.User, 1) is user


def test_offset_and_keyset_pages_asc_and_desc_pass():
    with engine.connect() as connection:
        for _ in range(2):  # the same export paged twice
            for offset in range(0, 40, 5):
                connection.execute(select(Review.id).order_by(Review.id).limit(5).offset(offset))
        last = 0
        while True:
            page = connection.execute(select(Review.id).where(Review.id > last)
                                      .order_by(Review.id).limit(6)).scalars().all()
            if not page:
                break
            last = page[-1]
        last = 10 ** 6
        while True:
            page = connection.execute(select(Review.id).where(Review.id < last)
                                      .order_by(Review.id.desc()).limit(6)).scalars().all()
            if not page:
                break
            last = page[-1]


def test_in_chunks_and_any_arrays_pass():
    ids = list(range(1, 41))
    with Session(engine) as session:
        for start in range(0, 40, 8):
            session.scalars(select(Review).where(Review.id.in_(ids[start:start + 8]))).all()
    with engine.connect() as connection:
        for start in range(0, 40, 8):
            connection.execute(text("SELECT id FROM reviews WHERE id = ANY(:ids)"),
                               {"ids": ids[start:start + 8]})


def test_yield_per_passes():
    with Session(engine) as session:
        rows = session.scalars(select(Review).execution_options(yield_per=5))
        assert len(list(rows)) == 40


def test_polling_the_same_row_passes():
    with engine.connect() as connection:
        for _ in range(8):
            status = connection.execute(text("SELECT status FROM orders WHERE id = :id"),
                                        {"id": 1}).scalar()
            time.sleep(0.01)  # waiting for the state to change
        assert status == "new"


def test_refresh_of_a_selectin_mapping_passes():
    with Session(engine, expire_on_commit=False) as session:
        for order in session.scalars(select(Order)).all():
            order.status = "paid"
            session.commit()
            session.refresh(order)  # reloads its lazy="selectin" lines too
            assert order.lines
        session.execute(update(Order).values(status="new"))
        session.commit()


def test_update_user_across_a_test_session_and_a_request_session_passes():
    with Session(engine) as db:  # the test's Session
        user = shop.User(id=50, name="a")
        db.add(user)
        db.commit()
        db.refresh(user)
        with Session(engine) as request:  # the request's own Session
            request.get(shop.User, 1)  # the auth dependency
            same = request.get(shop.User, 50)
            same.name = "b"
            request.commit()
            request.refresh(same)
        db.refresh(user)  # the test checks the row
        assert user.name == "b"
        db.delete(user)
        db.commit()


def test_a_loop_invariant_query_fails():
    with Session(engine) as session:
        for _ in range(6):
            session.scalar(text("SELECT max(stars) FROM reviews"))


def test_one_flush_in_insertmanyvalues_batches_passes():
    with Session(engine) as session:
        session.add_all([Complaint(review_id=1) for _ in range(2500)])
        session.flush()
        session.rollback()
"""


def test_batched_and_refresh_patterns_are_not_findings(shop: pytest.Pytester) -> None:
    shop.makepyfile(test_clean=CLEAN_TESTS)
    result = run(
        shop,
        "-o",
        "dalperf_repeat_threshold=3",
        "-o",
        "dalperf_repeat_scope=test",
        "-k",
        "not insertmanyvalues",
    )
    result.assert_outcomes(passed=8, failed=1)
    assert "the same SELECT on reviews ran 6 times with the same parameters" in failure(
        result, "test_a_loop_invariant_query_fails"
    )
    result = run(shop, "-o", "dalperf_write_loop_threshold=2", "-k", "insertmanyvalues")
    result.assert_outcomes(passed=1)


BUG_TESTS = """
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

import shop
from shop import Category, Complaint, Order, engine


def test_explicit_refresh_loop_fails():
    with Session(engine) as session:
        orders = session.scalars(select(Order).where(Order.id <= 6)).all()
        for order in orders:
            session.refresh(order)  # the refresh loop


def test_tree_walk_fails():
    with Session(engine) as session:
        assert shop.walk(session.get(Category, 1)) == 13


def test_fstring_sql_fails():
    with engine.connect() as connection:
        for i in range(1, 7):
            connection.execute(text(f"SELECT stars FROM reviews WHERE id = {i}"))  # inlined


def test_count_per_review_fails():
    with Session(engine) as session:
        for review_id in range(1, 7):
            session.scalar(select(func.count()).select_from(Complaint)
                           .where(Complaint.review_id == review_id))


def test_upsert_per_row_fails():
    with Session(engine) as session:
        for i in range(1, 5):
            stmt = postgresql.insert(Order).values(id=i, status="seen")
            session.execute(stmt.on_conflict_do_update(index_elements=["id"],
                                                       set_={"status": stmt.excluded.status}))
        session.rollback()


def test_orm_update_per_row_fails():
    with Session(engine) as session:
        for order in session.scalars(select(Order).where(Order.id <= 4)):
            order.status = "late"
            session.flush()
        session.rollback()
"""


def test_fix_lines_fit_the_code(shop: pytest.Pytester) -> None:
    shop.makepyfile(test_bugs=BUG_TESTS)
    result = run(
        shop, "-o", "dalperf_write_loop_threshold=3", "-o", "dalperf_column_load_threshold=5"
    )
    result.assert_outcomes(failed=6)
    assert (
        'fix: connection.execute(text("SELECT complaints.review_id, count(*) AS count_1 FROM '
        'complaints WHERE complaints.review_id = ANY(:values) GROUP BY complaints.review_id"), '
        '{"values": values})'
    ) in failure(result, "test_count_per_review_fails")
    refresh = failure(result, "test_explicit_refresh_loop_fails")
    assert (
        "Order objects were refreshed one at a time, 6 times (session.refresh() in a loop)"
        in refresh
    )
    assert f"first at test_bugs.py:{line_of(shop, 'test_bugs', '# the refresh loop')}" in refresh
    assert (
        "fix: session.scalars(select(Order).where(Order.id.in_(ids))"
        ".execution_options(populate_existing=True)).all()"
    ) in refresh
    assert "repeated-statement" not in refresh and "SELECT orders ran" not in refresh
    tree = failure(result, "test_tree_walk_fails")
    assert "Category.children was lazy-loaded 13 times, once per Category (13 objects)" in tree
    assert (
        "fix: select(Category).options(selectinload(Category.children, recursion_depth=3))" in tree
    )
    fstring = failure(result, "test_fstring_sql_fails")
    assert (
        "one SELECT on reviews ran 6 times as 6 different texts: the same statement shape "
        "with inlined literals"
    ) in fstring
    assert (
        'fix: connection.execute(text("SELECT stars FROM reviews WHERE id = ANY(:values)"), '
        '{"values": values})'
    ) in fstring
    upsert = failure(result, "test_upsert_per_row_fails")
    assert (
        "fix: stmt = postgresql.insert(Order).values(rows); session.execute("
        "stmt.on_conflict_do_update(index_elements=['id'], set_={\"status\": "
        "stmt.excluded.status}))"
    ) in upsert
    update = failure(result, "test_orm_update_per_row_fails")
    assert "the same UPDATE on orders ran 4 times, one row at a time" in update
    assert "fix: session.execute(update(Order), rows)" in update
    assert all(re.search(r"sql: .*\$\d", section) for section in (tree, upsert, update))


FITTED_TESTS = """
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shop import Complaint, Order, Review, engine


def test_locking_refresh_loop_fails():
    with Session(engine) as session:
        for order in session.scalars(select(Order).where(Order.id <= 6)).all():
            session.refresh(order, with_for_update=True)
        session.rollback()


def test_get_with_options_loop_fails():
    with Session(engine) as session:
        option = selectinload(Review.complaints)
        reviews = [session.get(Review, pk, options=[option]) for pk in range(1, 7)]
        assert sum(len(r.complaints) for r in reviews) == 12


def test_tuple_rows_lazy_fails():
    with Session(engine) as session:
        query = select(Complaint, Review).join(Complaint.review).where(Review.id <= 3)
        assert sum(len(row.Review.complaints) for row in session.execute(query)) == 12


def test_newest_per_review_fails():
    with Session(engine) as session:
        for pk in range(1, 7):
            query = select(Complaint).where(Complaint.review_id == pk)
            session.scalars(query.order_by(Complaint.id.desc()).limit(1)).all()
"""


def test_fix_lines_keep_locks_options_entities_and_limits(shop: pytest.Pytester) -> None:
    shop.makepyfile(test_fitted=FITTED_TESTS)
    result = run(shop)
    result.assert_outcomes(failed=4)
    assert (
        "fix: session.scalars(select(Order).where(Order.id.in_(ids)).with_for_update()"
        ".execution_options(populate_existing=True)).all()"
    ) in failure(result, "test_locking_refresh_loop_fails")
    assert (
        "fix: session.scalars(select(Review).where(Review.id.in_(ids))"
        ".options(selectinload(Review.complaints))).all()"
    ) in failure(result, "test_get_with_options_loop_fails")
    assert "fix: select(Complaint, Review).options(selectinload(Review.complaints))" in failure(
        result, "test_tuple_rows_lazy_fails"
    )
    assert (
        "fix: ranked = select(Complaint, func.row_number().over(partition_by="
        'Complaint.review_id, order_by=Complaint.id.desc()).label("rank"))'
        ".where(Complaint.review_id.in_(review_ids)).subquery(); "
        "session.scalars(select(aliased(Complaint, ranked)).where(ranked.c.rank <= 1)).all()"
    ) in failure(result, "test_newest_per_review_fails")


SMALL_TESTS = """
from sqlalchemy.orm import Session

from shop import Review, User, engine


def test_three_gets_of_one_table():
    with Session(engine) as session:
        buyer = session.get(User, 1)  # the checkout page
        seller = session.get(User, 2)
        referrer = session.get(User, 3)
        [user.name for user in (buyer, seller, referrer)]


def test_gets_of_different_tables():
    with Session(engine) as session:
        session.get(User, 1), session.get(Review, 1)
"""


def test_small_repeats_are_opt_in(shop: pytest.Pytester) -> None:
    shop.makepyfile(test_small=SMALL_TESTS)
    run(shop).assert_outcomes(passed=2)
    result = run(shop, "-o", "dalperf_small_repeat_threshold=2", "--dalperf-json", "out.json")
    result.assert_outcomes(passed=1, failed=1)
    small = failure(result, "test_three_gets_of_one_table")
    assert "the same SELECT on users ran 3 times with 3 different parameter sets" in small
    assert "fix: session.scalars(select(User).where(User.id.in_(ids))).all()" in small
    assert f"first at test_small.py:{line_of(shop, 'test_small', '# the checkout page')}" in small
    slowest = json.loads((shop.path / "out.json").read_text())["tests"][0]["slowest"]
    assert slowest and all("%(" not in s["sql"] and "$1" in s["sql"] for s in slowest)


EAGER_TESTS = """
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from shop import Complaint, Order, Review, engine


def test_complaints_loaded_and_never_read():
    with Session(engine) as session:
        query = select(Review).options(selectinload(Review.complaints))
        [r.stars for r in session.scalars(query)]  # the unused load


def test_complaints_loaded_and_read():
    with Session(engine) as session:
        query = select(Review).options(selectinload(Review.complaints))
        [len(r.complaints) for r in session.scalars(query)]


def test_review_joined_and_never_read():
    with Session(engine) as session:
        query = select(Complaint).options(joinedload(Complaint.review))
        [c.id for c in session.scalars(query)]  # the unused join


def test_review_joined_and_read():
    with Session(engine) as session:
        query = select(Complaint).options(joinedload(Complaint.review))
        [c.review.stars for c in session.scalars(query)]


def test_selectin_by_mapping_is_not_asked_for():
    with Session(engine) as session:
        [o.status for o in session.scalars(select(Order))]
"""


def test_unused_eager_loads_are_opt_in(shop: pytest.Pytester) -> None:
    shop.makepyfile(test_eager=EAGER_TESTS)
    run(shop).assert_outcomes(passed=5)
    result = run(shop, "-o", "dalperf_unused_eager_load=true", "--dalperf-sarif", "out.sarif")
    result.assert_outcomes(passed=3, failed=2)
    joined = failure(result, "test_review_joined_and_never_read")
    assert "Complaint.review was loaded eagerly (1 statement(s), 80 rows) and never read" in joined
    assert f"first at test_eager.py:{line_of(shop, 'test_eager', '# the unused join')}" in joined
    unused = failure(result, "test_complaints_loaded_and_never_read")
    assert "Review.complaints was loaded eagerly (1 statement(s), 80 rows) and never read" in unused
    assert f"first at test_eager.py:{line_of(shop, 'test_eager', '# the unused load')}" in unused
    sarif = json.loads((shop.path / "out.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["dalperf/unused-eager-load"] * 2
