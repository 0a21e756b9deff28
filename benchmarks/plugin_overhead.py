"""Cost of the pytest plugin's always-on capture, beside pytest-queryguard's recorder.

Usage: python benchmarks/plugin_overhead.py [--rounds 6] [--statements 3000] [--tests 300]
       [--suite-rounds 3]   (--suite-rounds 0: the per-statement part only)

Needs ``pip install pytest-queryguard==0.4.1`` in the same environment (for the comparison
only; dalperf does not depend on it).

1. Per statement: a single-row primary-key SELECT (SQLAlchemy Core, psycopg 3, one
   connection inside one transaction, so each is one round trip) on the embedded server,
   timed one by one, in four sides: no instrumentation, a bare pair of
   ``before_cursor_execute``/``after_cursor_execute`` engine listeners that only count (the
   least any SQLAlchemy-level recorder does), dalperf's process-wide capture exactly as the
   plugin runs it (hooks on SQLAlchemy's classes for the session, a ``Capture(None)`` per
   test body), and pytest-queryguard's ``record_queries()``.
   queryguard's listeners cannot be removed once installed, so every side runs in a fresh
   interpreter; the sides alternate, the order rotating every round, so drift hits all of
   them alike.  Medians of all per-statement times.  Targets: dalperf's added cost at most
   half of queryguard's, and at most twice the bare listener pair's.
2. A generated suite of ``--tests`` tests (each a few ORM and Core statements through a
   module-level engine) run with the plugin and with ``-p no:dalperf``, alternating, wall
   time of the whole pytest process.  Target: within 5%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg

from dalperf.db.embedded import running_server
from dalperf.db.urls import sqlalchemy_url

DATABASE = "plugin_overhead"
ROWS = 1000
SIDES = ("plain", "bare", "dalperf", "queryguard")
BATCH = 100  # statements per capture block (one "test body")
WARMUP = 500
NS_PER_US = 1000
STATEMENT_TARGET = 0.5  # dalperf's added cost / queryguard's
BARE_TARGET = 2.0  # dalperf's added cost / the bare listener pair's
SUITE_TARGET = 1.05

CHILD = """
import statistics, sys, time
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, create_engine, select

side, url = sys.argv[1], sys.argv[2]
count, warmup, rows, batch = (int(v) for v in sys.argv[3:7])
items = Table("items", MetaData(), Column("id", Integer, primary_key=True), Column("name", String))
by_id = select(items.c.name).where(items.c.id == bindparam("id"))
engine = create_engine(url)
if side == "dalperf":
    from dalperf.capture import Capture, instrument
    instrument.install_everywhere()  # as the plugin: on for the whole session
    block = lambda: Capture(None)
elif side == "queryguard":
    from pytest_queryguard import record_queries
    block = record_queries
elif side == "bare":
    from contextlib import contextmanager
    from sqlalchemy import event

    class Log:
        count = 0

    def before(conn, cursor, statement, parameters, context, executemany):
        Log.count += 1

    def after(conn, cursor, statement, parameters, context, executemany):
        pass

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)

    @contextmanager
    def block():
        Log.count = 0
        yield Log
else:
    from contextlib import nullcontext
    block = nullcontext
times, cpu = [], []
with engine.connect() as conn:
    for i in range(warmup):
        with block():
            conn.execute(by_id, {"id": i % rows + 1}).one()
    done = 0
    while done < count:
        c0 = time.thread_time_ns()
        with block() as log:
            for i in range(batch):
                t0 = time.perf_counter_ns()
                conn.execute(by_id, {"id": (done + i) % rows + 1}).one()
                times.append(time.perf_counter_ns() - t0)
        cpu.append((time.thread_time_ns() - c0) / batch)
        if side == "dalperf":
            assert log.queries == batch
        elif side in ("queryguard", "bare"):
            assert log.count == batch
        done += batch
engine.dispose()
print(statistics.median(times), statistics.median(cpu))
"""

SUITE_APP = """
import os
from sqlalchemy import ForeignKey, String, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

engine = create_engine(os.environ["SUITE_URL"])


class Base(DeclarativeBase):
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
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="posts")
"""

SUITE_TEST = """
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, joinedload

from app import Post, engine


@pytest.mark.parametrize("n", range({per_file}))
def test_read(n):
    with Session(engine) as session:
        posts = session.scalars(select(Post).options(joinedload(Post.author)).limit(5)).all()
        assert [p.author.name for p in posts]
        assert session.get(Post, n % 50 + 1) is not None
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM posts")).scalar() == 50
"""


def per_statement(url: str, rounds: int, statements: int) -> dict[str, list[tuple[float, float]]]:
    samples: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
    for round_no in range(rounds):
        order = SIDES[round_no % len(SIDES) :] + SIDES[: round_no % len(SIDES)]
        for side in order:
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    side,
                    url,
                    str(statements),
                    str(WARMUP),
                    str(ROWS),
                    str(BATCH),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            wall, cpu = (float(v) for v in done.stdout.split())
            samples[side].append((wall, cpu))
    return samples


def suite(url: str, tests: int, rounds: int, workers: int = 0) -> dict[str, list[float]]:
    """Wall times of the generated suite, plugin on and ``-p no:dalperf`` interleaved;
    ``workers`` > 0 runs it under pytest-xdist (``-n workers``)."""
    per_file = 10
    with tempfile.TemporaryDirectory(prefix="dalperf-suite-") as folder:
        root = Path(folder)
        (root / "app.py").write_text(SUITE_APP)
        (root / "conftest.py").write_text("")
        for number in range(tests // per_file):
            (root / f"test_{number:03}.py").write_text(SUITE_TEST.format(per_file=per_file))
        env = {**os.environ, "SUITE_URL": url}
        walls: dict[str, list[float]] = {"plugin": [], "no:dalperf": []}
        for round_no in range(rounds):
            order = ("plugin", "no:dalperf") if round_no % 2 == 0 else ("no:dalperf", "plugin")
            for side in order:
                args = [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-p",
                    "no:queryguard",
                    str(root),
                ]
                if workers:
                    args[-1:-1] = ["-n", str(workers)]
                if side == "no:dalperf":
                    args[6:6] = ["-p", "no:dalperf"]
                start = time.perf_counter()
                done = subprocess.run(
                    args, cwd=root, env=env, capture_output=True, text=True, check=False
                )
                walls[side].append(time.perf_counter() - start)
                if done.returncode != 0 or f"{tests} passed" not in done.stdout:
                    raise SystemExit(f"the generated suite failed ({side}):\n{done.stdout[-2000:]}")
    return walls


def prepare(server_url: str) -> str:
    from sqlalchemy import create_engine, text

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = sqlalchemy_url(server_url.rsplit("/", 1)[0] + f"/{DATABASE}")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE items (id integer PRIMARY KEY, name varchar)"))
        conn.execute(
            text(f"INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, {ROWS}) g")
        )
        conn.execute(text("CREATE TABLE authors (id serial PRIMARY KEY, name varchar(50))"))
        conn.execute(
            text(
                "CREATE TABLE posts (id serial PRIMARY KEY, title varchar(100), "
                "author_id integer REFERENCES authors)"
            )
        )
        conn.execute(
            text("INSERT INTO authors (name) SELECT 'a' || g FROM generate_series(1, 10) g")
        )
        conn.execute(
            text(
                "INSERT INTO posts (title, author_id) SELECT 't' || g, g % 10 + 1 "
                "FROM generate_series(1, 50) g"
            )
        )
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--tests", type=int, default=300)
    parser.add_argument(
        "--suite-rounds",
        type=int,
        default=3,
        help="runs of the generated suite per side (0: skip that part)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run the generated suite with pytest-xdist on this many workers (0: no xdist)",
    )
    args = parser.parse_args()
    try:
        import pytest_queryguard  # noqa: F401
    except ImportError:
        raise SystemExit(
            "pip install pytest-queryguard==0.4.1 first (the comparison needs it)"
        ) from None
    with running_server(None) as server:
        url = prepare(server.url("postgres"))
        samples = per_statement(url, args.rounds, args.statements)
        walls = suite(url, args.tests, args.suite_rounds, args.workers) if args.suite_rounds else {}
    wall = {side: statistics.median(w for w, _ in samples[side]) / NS_PER_US for side in SIDES}
    cpu = {side: statistics.median(c for _, c in samples[side]) / NS_PER_US for side in SIDES}
    print(
        textwrap.dedent(f"""\
        per statement, single-row PK SELECT, {args.rounds} rounds x {args.statements} statements
        per side, each side in its own interpreter, order rotating:""")
    )
    for side in SIDES:
        added = wall[side] - wall["plain"]
        print(
            f"  {side:<11} median wall {wall[side]:8.2f} us ({wall[side] / wall['plain']:.3f}x, "
            f"+{added:.2f} us)   client CPU {cpu[side]:7.2f} us/statement "
            f"(+{cpu[side] - cpu['plain']:.2f})"
        )
    dalperf_added = wall["dalperf"] - wall["plain"]
    queryguard_added = wall["queryguard"] - wall["plain"]
    ratio = dalperf_added / queryguard_added if queryguard_added > 0 else float("inf")
    cpu_ratio = (
        (cpu["dalperf"] - cpu["plain"]) / (cpu["queryguard"] - cpu["plain"])
        if cpu["queryguard"] > cpu["plain"]
        else float("inf")
    )
    print(
        f"  dalperf's added cost / queryguard's: {ratio:.2f} wall, {cpu_ratio:.2f} client CPU "
        f"(target <= {STATEMENT_TARGET}) {'PASS' if ratio <= STATEMENT_TARGET else 'FAIL'}"
    )
    bare_added = wall["bare"] - wall["plain"]
    bare_ratio = dalperf_added / bare_added if bare_added > 0 else float("inf")
    bare_cpu = (
        (cpu["dalperf"] - cpu["plain"]) / (cpu["bare"] - cpu["plain"])
        if cpu["bare"] > cpu["plain"]
        else float("inf")
    )
    print(
        f"  dalperf's added cost / the bare listener pair's: {bare_ratio:.2f} wall, "
        f"{bare_cpu:.2f} client CPU (target <= {BARE_TARGET:g}) "
        f"{'PASS' if bare_ratio <= BARE_TARGET else 'FAIL'}"
    )
    if not walls:
        return  # --suite-rounds 0: the per-statement part only
    plugin, without = statistics.median(walls["plugin"]), statistics.median(walls["no:dalperf"])
    print(f"{args.tests}-test generated suite, {args.suite_rounds} runs each, alternating:")
    print(
        f"  -p no:dalperf {without:6.2f} s (runs {', '.join(f'{w:.2f}' for w in walls['no:dalperf'])})"
    )
    print(
        f"  plugin on     {plugin:6.2f} s (runs {', '.join(f'{w:.2f}' for w in walls['plugin'])})"
    )
    print(
        f"  ratio {plugin / without:.3f} (target <= {SUITE_TARGET}) "
        f"{'PASS' if plugin / without <= SUITE_TARGET else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
