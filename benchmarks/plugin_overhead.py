"""Cost of the pytest plugin's always-on capture, beside pytest-queryguard's recorder.

Usage: python benchmarks/plugin_overhead.py [--quick] [--rounds 6] [--statements 3000]
       [--tests 300] [--suite-rounds 3] [--workers 2] [--instructions]
       (--suite-rounds 0: the per-statement part only)

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
   them alike.  Medians of the per-statement wall times and of the client's CPU time per
   block of statements (``time.thread_time_ns``).  ``--instructions`` adds the client's
   instruction count per statement under ``valgrind --tool=callgrind`` (one process per
   side at two statement counts, the difference over the extra statements: start-up and
   imports cancel), which the machine's load does not move.  Targets: dalperf's added cost
   at most half of queryguard's, and at most twice the bare listener pair's.
2. A generated suite of ``--tests`` tests (each a few ORM and Core statements through a
   module-level engine) run with the plugin and with ``-p no:dalperf``, alternating, as whole
   pytest processes (``--workers N``: under pytest-xdist, ``-n N``): the medians of their wall
   time and of their CPU time (user + system of the pytest process and its workers, from
   ``getrusage(RUSAGE_CHILDREN)``; on a loaded machine the CPU ratio is the figure that
   means something).  Each run has a ``--basetemp`` of its own, so that pytest's clean-up of
   other sessions' temporary folders is not timed, and dalperf and the environment's
   packages are byte-compiled first, as ``pip install`` leaves them (uncompiled, each worker
   of the plugin side would compile pglast from source: 0.37 s instead of 0.08 s).  Target: within 5%.

``--quick``: 2 rounds of 1,000 statements, 2 suite runs per side (a minute or two).  The
last lines are one summary line per target: ``target <= 1.05: 1.031 met``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg
from startup import byte_compile  # benchmarks/startup.py, beside this

from dalperf.db.embedded import running_server
from dalperf.db.urls import parse, sqlalchemy_url

DATABASE = "plugin_overhead"
ROWS = 1000
SIDES = ("plain", "bare", "dalperf", "queryguard")
BATCH = 100  # statements per capture block (one "test body")
WARMUP = 500
NS_PER_US = 1000
STATEMENT_TARGET = 0.5  # dalperf's added cost / queryguard's
BARE_TARGET = 2.0  # dalperf's added cost / the bare listener pair's
SUITE_TARGET = 1.05
INSTRUCTION_COUNTS = (200, 600)  # statements per callgrind run: the difference is timed
QUICK = {"rounds": 2, "statements": 1000, "suite_rounds": 2}

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


def _child(side: str, url: str, statements: int, warmup: int = WARMUP) -> list[str]:
    return [
        sys.executable,
        "-c",
        CHILD,
        side,
        url,
        str(statements),
        str(warmup),
        str(ROWS),
        str(BATCH),
    ]


def per_statement(url: str, rounds: int, statements: int) -> dict[str, list[tuple[float, float]]]:
    """``(median wall ns, median CPU ns)`` per statement of each round, per side."""
    samples: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
    for round_no in range(rounds):
        order = SIDES[round_no % len(SIDES) :] + SIDES[: round_no % len(SIDES)]
        for side in order:
            done = subprocess.run(
                _child(side, url, statements), capture_output=True, text=True, check=True
            )
            wall, cpu = (float(v) for v in done.stdout.split())
            samples[side].append((wall, cpu))
    return samples


def instructions(url: str) -> dict[str, float]:
    """Client instructions per statement of each side, under callgrind: the difference of
    two runs of :data:`INSTRUCTION_COUNTS` statements, so start-up and imports cancel."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    per: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dalperf-callgrind-") as folder:
        for side in SIDES:
            totals = []
            for count in INSTRUCTION_COUNTS:
                done = subprocess.run(
                    [
                        valgrind,
                        "--tool=callgrind",
                        f"--callgrind-out-file={folder}/{side}-{count}.out",
                        *_child(side, url, count, warmup=BATCH),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                collected = next(line for line in done.stderr.splitlines() if "Collected :" in line)
                totals.append(int(collected.rsplit(":", 1)[1].strip()))
            per[side] = (totals[1] - totals[0]) / (INSTRUCTION_COUNTS[1] - INSTRUCTION_COUNTS[0])
    return per


def _children_cpu() -> float:
    """User + system seconds of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def suite(
    url: str, tests: int, rounds: int, workers: int = 0
) -> dict[str, list[tuple[float, float]]]:
    """``(wall s, CPU s)`` of each run of the generated suite, plugin on and
    ``-p no:dalperf`` interleaved; ``workers`` > 0 runs it under pytest-xdist (``-n workers``)."""
    per_file = 10
    with tempfile.TemporaryDirectory(prefix="dalperf-suite-") as folder:
        root = Path(folder) / "suite"
        root.mkdir()
        (root / "app.py").write_text(SUITE_APP)
        (root / "conftest.py").write_text("")
        for number in range(tests // per_file):
            (root / f"test_{number:03}.py").write_text(SUITE_TEST.format(per_file=per_file))
        env = {**os.environ, "SUITE_URL": url}
        runs: dict[str, list[tuple[float, float]]] = {"plugin": [], "no:dalperf": []}
        for round_no in range(rounds):
            order = ("plugin", "no:dalperf") if round_no % 2 == 0 else ("no:dalperf", "plugin")
            for side in order:
                basetemp = Path(folder) / f"tmp-{round_no}-{side.replace(':', '-')}"
                args = [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-p",
                    "no:queryguard",
                    f"--basetemp={basetemp}",
                    *(["-n", str(workers)] if workers else []),
                    *(["-p", "no:dalperf"] if side == "no:dalperf" else []),
                    str(root),
                ]
                cpu, start = _children_cpu(), time.perf_counter()
                done = subprocess.run(
                    args, cwd=root, env=env, capture_output=True, text=True, check=False
                )
                runs[side].append((time.perf_counter() - start, _children_cpu() - cpu))
                if done.returncode != 0 or f"{tests} passed" not in done.stdout:
                    raise SystemExit(f"the generated suite failed ({side}):\n{done.stdout[-2000:]}")
    return runs


def prepare(server_url: str) -> str:
    from sqlalchemy import create_engine, text

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = sqlalchemy_url(parse(server_url).set(database=DATABASE))
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


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.3f} {'met' if ratio <= target else 'NOT met'}"


def _added_ratio(side: dict[str, float], other: str) -> float:
    """dalperf's added cost over ``other``'s (each against the plain side)."""
    theirs = side[other] - side["plain"]
    return (side["dalperf"] - side["plain"]) / theirs if theirs > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (a minute or two)")
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
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the client's instructions per statement under valgrind's callgrind",
    )
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, min(getattr(args, key), value))
    try:
        import pytest_queryguard  # noqa: F401
    except ImportError:
        raise SystemExit(
            "pip install pytest-queryguard==0.4.1 first (the comparison needs it)"
        ) from None
    byte_compile()  # dalperf and its dependencies, as pip install leaves them
    with running_server(None) as server:
        url = prepare(server.url("postgres"))
        samples = per_statement(url, args.rounds, args.statements)
        counted = instructions(url) if args.instructions else {}
        runs = suite(url, args.tests, args.suite_rounds, args.workers) if args.suite_rounds else {}
    wall = {side: statistics.median(w for w, _ in samples[side]) / NS_PER_US for side in SIDES}
    cpu = {side: statistics.median(c for _, c in samples[side]) / NS_PER_US for side in SIDES}
    print(
        textwrap.dedent(f"""\
        per statement, single-row PK SELECT, {args.rounds} rounds x {args.statements} statements
        per side, each side in its own interpreter, order rotating:""")
    )
    for side in SIDES:
        line = (
            f"  {side:<11} median wall {wall[side]:8.2f} us (+{wall[side] - wall['plain']:.2f})"
            f"   client CPU {cpu[side]:7.2f} us (+{cpu[side] - cpu['plain']:.2f})"
        )
        if counted:
            line += (
                f"   {counted[side]:9,.0f} instructions (+{counted[side] - counted['plain']:,.0f})"
            )
        print(line)
    summary = []
    for other, target in (("queryguard", STATEMENT_TARGET), ("bare", BARE_TARGET)):
        figures = {"wall": _added_ratio(wall, other), "client CPU": _added_ratio(cpu, other)}
        if counted:
            figures["instructions"] = _added_ratio(counted, other)
        print(
            f"  dalperf's added cost / {other}'s: "
            + ", ".join(f"{value:.2f} {name}" for name, value in figures.items())
        )
        measure = "instructions" if counted else "client CPU"
        summary.append(
            f"target dalperf added / {other} added <= {target:g} ({measure}): "
            + _verdict(figures[measure], target)
        )
    if runs:
        plugin = {k: statistics.median(r[k] for r in runs["plugin"]) for k in (0, 1)}
        without = {k: statistics.median(r[k] for r in runs["no:dalperf"]) for k in (0, 1)}
        xdist = f" under -n {args.workers}" if args.workers else ""
        print(
            f"{args.tests}-test generated suite{xdist}, {args.suite_rounds} runs each, alternating:"
        )
        for label, side, medians in (
            ("-p no:dalperf", "no:dalperf", without),
            ("plugin on    ", "plugin", plugin),
        ):
            print(
                f"  {label} wall {medians[0]:6.2f} s, CPU {medians[1]:6.2f} s (runs: "
                + ", ".join(f"{w:.2f}/{c:.2f}" for w, c in runs[side])
                + ")"
            )
        print(f"  ratio {plugin[0] / without[0]:.3f} wall, {plugin[1] / without[1]:.3f} CPU")
        summary.append(
            f"target suite{xdist} plugin / -p no:dalperf <= {SUITE_TARGET} (CPU): "
            + _verdict(plugin[1] / without[1], SUITE_TARGET)
        )
        summary.append(
            f"target suite{xdist} plugin / -p no:dalperf <= {SUITE_TARGET} (wall): "
            + _verdict(plugin[0] / without[0], SUITE_TARGET)
        )
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
