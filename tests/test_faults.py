"""The fault suite: dalperf against dead servers, stale pid files, hung and hostile variants.

Each test injects one fault into a real command (a real embedded PostgreSQL, real
``dalperf`` processes where a process is killed) and asserts the exit code, the one-line
message, what was written, and that no process was left behind.  Tests that kill a
postmaster use a server of their own, never the session's shared one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from dalperf.cli import main
from dalperf.db import urls
from dalperf.db.embedded import EmbeddedServer, ServerStatus
from dalperf.results.load import read_load_results
from dalperf.results.model import read_results
from dalperf.seed.loader import seed_database
from tests.conftest import create_database, drop_database, table_checksums, target_for
from tests.test_provision import postgres_processes

pytestmark = pytest.mark.faults

EXIT_TIMEOUT_S = 120  # a dalperf process must exit within this after the fault


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


@pytest.fixture
def server_home() -> Iterator[Path]:
    """A home for a server of the test's own, outside pytest's temporary root: as root the
    server runs as another user, and a pytest session starting meanwhile (another
    checkout's) sets that root back to mode 0700, which would lock the server out."""
    home = Path(tempfile.mkdtemp(prefix="dalperf-faults-"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def own_server(server_home: Path) -> Iterator[tuple[Path, ServerStatus]]:
    """A server of this test's own (it may be killed), and its home."""
    home = server_home
    server = EmbeddedServer(home / "pgdata")
    status = server.start()
    try:
        yield home, status
    finally:
        server.stop()
        _kill_if_alive(status.pid)


def _kill_if_alive(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def kill_postmaster(status: ServerStatus) -> None:
    """``kill -9`` the postmaster, as an OOM kill would, and wait until it is gone."""
    os.kill(status.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if psutil.Process(status.pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError("the postmaster outlived SIGKILL")


def dalperf(*args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "DALPERF_HOME": str(home)}
    env.pop("DATABASE_URL", None)
    env.pop("DALPERF_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "dalperf", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


class Watched:
    """A running dalperf process and every process it started (recorded while it runs)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.descendants: set[psutil.Process] = set()

    def note_children(self) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            self.descendants |= set(psutil.Process(self.proc.pid).children(recursive=True))

    def wait_for(self, condition: object, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.note_children()
            assert self.proc.poll() is None, f"exited before {what}: {self.proc.stderr.read()}"  # type: ignore[union-attr]
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def finish(self) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=EXIT_TIMEOUT_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode, out, err

    def leftovers(self) -> list[psutil.Process]:
        alive = []
        for proc in self.descendants:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                pass
        return alive


def error_line(err: str) -> str:
    """The one ``error:`` line of a command's stderr (and only one)."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


def write_module(tmp_path: Path, source: str, name: str = "fault_ops.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


# --------------------------------------------------------------------------------------
# 1. A stale postmaster.pid naming a live foreign process
# --------------------------------------------------------------------------------------


def test_stale_pid_file_naming_a_live_foreign_process_is_not_running_and_never_signalled(
    server_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = server_home
    assert main(["db", "start", "--home", str(home)]) == 0
    first = EmbeddedServer(home / "pgdata").status()
    assert first is not None
    kill_postmaster(first)
    foreign = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        pid_file = home / "pgdata" / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(foreign.pid), *lines[1:]]) + "\n")
        capsys.readouterr()

        assert main(["db", "status", "--home", str(home)]) == 3
        assert capsys.readouterr().out.startswith("not running")
        assert main(["db", "url", "--home", str(home)]) == 3
        capsys.readouterr()
        started = time.monotonic()
        assert main(["db", "stop", "--home", str(home)]) == 0
        assert capsys.readouterr().out.strip() == "not running"
        assert time.monotonic() - started < 5
        assert foreign.poll() is None, "db stop signalled a process that is not its postmaster"

        assert main(["db", "start", "--home", str(home)]) == 0
        out = capsys.readouterr().out
        assert out.startswith("started: pid "), out
        fresh = EmbeddedServer(home / "pgdata").status()
        assert fresh is not None and fresh.pid not in (first.pid, foreign.pid)
        with psycopg.connect(fresh.url(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert main(["db", "stop", "--home", str(home)]) == 0
        assert capsys.readouterr().out.strip() == "stopped"
        assert not postgres_processes(home)
        assert foreign.poll() is None
    finally:
        foreign.kill()
        foreign.wait()
        EmbeddedServer(home / "pgdata").stop()


def test_pid_file_naming_another_clusters_postmaster_is_not_ours(
    tmp_path: Path, pg_server: ServerStatus
) -> None:
    """A postgres process, but of another data folder: not this server."""
    data = tmp_path / "pgdata"
    data.mkdir()
    (data / "postmaster.pid").write_text(f"{pg_server.pid}\n{data}\n0\n{pg_server.port}\n")
    server = EmbeddedServer(data)
    assert server.status() is None
    assert server.stop() is False
    assert EmbeddedServer(pg_server.data_dir).status() == pg_server


# --------------------------------------------------------------------------------------
# 2. The postmaster killed mid-run and mid-audit: what was measured is written
# --------------------------------------------------------------------------------------

KILL_MID_RUN = """
from pathlib import Path
from sqlalchemy import text
from dalperf.measure.scenario import register

ARRIVED = Path(__file__).with_name("arrived")


async def pick(db, rng, size):
    return 1


async def one(db, n):
    async with db.sessions() as s:
        return (await s.execute(text("SELECT :n"), {"n": n})).scalar_one()


async def slow(db, n):
    ARRIVED.touch()  # the test kills the postmaster once this exists
    async with db.sessions() as s:
        return (await s.execute(text("SELECT :n FROM pg_sleep(0.05)"), {"n": n})).scalar_one()


register("fault.first", variants={"naive": one, "optimized": one}, params=pick)
register("fault.second", variants={"naive": slow, "optimized": slow}, params=pick)
"""


def test_postmaster_killed_mid_run_writes_the_partial_results_and_exits_3(
    tmp_path: Path, own_server: tuple[Path, ServerStatus]
) -> None:
    home, status = own_server
    module = write_module(tmp_path, KILL_MID_RUN)
    out = tmp_path / "results.json"
    watched = Watched(
        dalperf(
            "run", "--scenarios", str(module), "--iterations", "500", "--out", str(out), home=home
        )
    )
    watched.wait_for((tmp_path / "arrived").exists, "the second operation")
    kill_postmaster(status)
    code, _, err = watched.finish()
    assert code == 3, err
    line = error_line(err)
    assert "went away mid-run" in line and "kept the 2 measurement(s)" in line
    results = read_results(out)
    assert results.partial and "went away" in results.partial
    assert [(m.operation, m.variant) for m in results.operations] == [
        ("fault.first", "naive"),
        ("fault.first", "optimized"),
    ]
    assert all(len(m.wall_ms.samples) == 500 for m in results.operations)
    assert not watched.leftovers()
    assert not postgres_processes(home)


def _statements_seen(status: ServerStatus, pattern: str) -> int:
    try:
        with psycopg.connect(status.url(), connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query ILIKE %s",
                (pattern,),
            ).fetchone()
    except psycopg.Error:
        return 0
    return int(row[0]) if row else 0


def test_postmaster_killed_mid_audit_writes_the_partial_results_and_exits_3(
    tmp_path: Path, own_server: tuple[Path, ServerStatus]
) -> None:
    home, status = own_server
    out_dir = tmp_path / "out"
    watched = Watched(
        dalperf(
            "audit",
            "--scale",
            "0.05",
            "--iterations",
            "400",
            "--only",
            "billing.get_user_credits_with_reset",
            "--only",
            "gallery.list_public",
            "--out-dir",
            str(out_dir),
            home=home,
        )
    )
    # billing is measured first: once gallery's SELECTs run, billing's measurements are made
    watched.wait_for(
        lambda: _statements_seen(status, "SELECT%FROM gallery_items%") > 0,
        "the second operation",
        timeout=180,
    )
    kill_postmaster(status)
    code, _, err = watched.finish()
    assert code == 3, err
    line = error_line(err)
    assert "went away" in line and "kept the 3 measurement(s)" in line
    results = read_results(out_dir / "results.json")
    assert results.partial and "went away" in results.partial
    assert {m.operation for m in results.operations} == {"billing.get_user_credits_with_reset"}
    assert not (out_dir / "report.html").exists()
    assert not watched.leftovers()
    assert not postgres_processes(home)


# --------------------------------------------------------------------------------------
# 6. The postmaster killed mid-load: exit 3, the figures written, the gate fails them
# --------------------------------------------------------------------------------------


def test_postmaster_killed_mid_load_exits_3_and_check_fails_the_load(
    tmp_path: Path, own_server: tuple[Path, ServerStatus], capsys: pytest.CaptureFixture[str]
) -> None:
    home, status = own_server
    seed_database(target_for(status.url()), scale=0.05, seed=0)
    results = tmp_path / "results.json"
    assert (
        main(
            [
                "run",
                "--home",
                str(home),
                "--only",
                "gallery.list_public",
                "--iterations",
                "2",
                "--no-explain",
                "--out",
                str(results),
            ]
        )
        == 0
    )
    load = tmp_path / "load.json"
    watched = Watched(
        dalperf(
            "load",
            "--run-time",
            "12s",
            "--users",
            "2",
            "--variant",
            "optimized",
            "--out",
            str(load),
            home=home,
        )
    )
    watched.wait_for(
        lambda: any(
            "locust" in " ".join(p.cmdline()) for p in watched.descendants if p.is_running()
        ),
        "locust",
    )
    time.sleep(4)
    watched.note_children()
    kill_postmaster(status)
    code, _, err = watched.finish()
    assert code == 3, err
    assert "the database went away during the load test" in error_line(err)
    figures = read_load_results(load)
    assert figures.partial is not None
    optimized = figures.variant("optimized")
    assert optimized.requests > 0 and optimized.failures > 0
    assert not watched.leftovers()
    assert not postgres_processes(home)

    capsys.readouterr()
    assert main(["check", str(results), "--load", str(load)]) == 1  # default max_failure_ratio
    assert "of requests failed under load, budget 1.00%" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# 7. Hung variants: a per-call timeout, the run goes on; Ctrl-C writes what was measured
# --------------------------------------------------------------------------------------

HUNG = """
import asyncio
import time
from sqlalchemy import text
from dalperf.measure.scenario import register


async def pick(db, rng, size):
    return 1


async def fine(db, n):
    async with db.sessions() as s:
        return (await s.execute(text("SELECT :n"), {"n": n})).scalar_one()


async def sleeps(db, n):
    await asyncio.sleep(600)


def sleeps_in_a_thread(db, n):
    time.sleep(600)


async def pg_sleeps(db, n):
    async with db.sessions() as s:
        await s.execute(text("SELECT pg_sleep(600)"))


async def waits_on_a_lock(db, n):
    async with db.sessions.begin() as s:
        await s.execute(text("UPDATE users SET email = email WHERE id = (SELECT min(id) FROM users)"))
    return n


register("hung.asyncio_sleep", variants={"naive": fine, "hung": sleeps}, params=pick)
register("hung.thread_sleep", variants={"naive": fine, "hung": sleeps_in_a_thread}, params=pick)
register("hung.pg_sleep", variants={"naive": fine, "hung": pg_sleeps}, params=pick)
register("hung.row_lock", variants={"naive": fine, "hung": waits_on_a_lock}, params=pick,
         mutates=True)
register("hung.after", variants={"naive": fine, "optimized": fine}, params=pick)
"""


def test_hung_variants_time_out_and_the_run_goes_on(
    tmp_path: Path, seeded_db: str, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = write_module(tmp_path, HUNG)
    out = tmp_path / "results.json"
    before = table_checksums(seeded_db)
    with psycopg.connect(seeded_db) as locker:  # holds the row the variant wants
        locker.execute("SELECT 1 FROM users WHERE id = (SELECT min(id) FROM users) FOR UPDATE")
        started = time.monotonic()
        code = main(
            [
                "run",
                "--scenarios",
                str(module),
                "--database-url",
                seeded_db,
                "--call-timeout",
                "1",
                "--iterations",
                "3",
                "--warmup",
                "0",
                "--param-sets",
                "1",
                "--no-explain",
                "--out",
                str(out),
            ]
        )
        elapsed = time.monotonic() - started
    assert code == 1
    assert elapsed < 60
    results = read_results(out)
    assert results.partial is None
    timeouts = {(f.operation, f.variant) for f in results.failures if f.kind == "timeout"}
    assert timeouts == {
        (f"hung.{name}", "hung")
        for name in ("asyncio_sleep", "thread_sleep", "pg_sleep", "row_lock")
    }
    assert len(results.failures) == 4
    for failure in results.failures:
        assert "1 s" in failure.message or "statement timeout" in failure.message, failure
    for m in results.operations:
        expected = 0 if m.variant == "hung" else 3
        assert len(m.wall_ms.samples) == expected, m.key
    assert table_checksums(seeded_db) == before
    err = capsys.readouterr().err
    assert err.count("timeout hung.") == 4


INTERRUPTED = """
import time
from pathlib import Path
from sqlalchemy import text
from dalperf.measure.scenario import register

ARRIVED = Path(__file__).with_name("arrived")


async def pick(db, rng, size):
    return 1


async def fine(db, n):
    async with db.sessions() as s:
        return (await s.execute(text("SELECT :n"), {"n": n})).scalar_one()


def hangs(db, n):
    ARRIVED.touch()
    time.sleep(600)


register("stuck.first", variants={"naive": fine, "optimized": fine}, params=pick)
register("stuck.second", variants={"naive": fine, "hung": hangs}, params=pick)
"""


def test_ctrl_c_during_a_hung_variant_writes_what_was_measured(
    tmp_path: Path, own_server: tuple[Path, ServerStatus]
) -> None:
    home, _status = own_server
    module = write_module(tmp_path, INTERRUPTED)
    out = tmp_path / "results.json"
    watched = Watched(
        dalperf(
            "run", "--scenarios", str(module), "--iterations", "5", "--out", str(out), home=home
        )
    )
    watched.wait_for((tmp_path / "arrived").exists, "the hung variant")
    time.sleep(0.5)
    watched.proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    code, _, err = watched.finish()
    assert time.monotonic() - started < 30
    assert code == 130, err
    line = error_line(err)
    assert "interrupted" in line and "kept the 2 measurement(s)" in line
    results = read_results(out)
    assert results.partial == "interrupted"
    assert {m.operation for m in results.operations} == {"stuck.first"}
    assert not watched.leftovers()


# --------------------------------------------------------------------------------------
# 8. One variant's error mid-run: recorded, the rest measured, the file written
# --------------------------------------------------------------------------------------

MISBEHAVING = """
from sqlalchemy import text
from dalperf.measure.scenario import register

CALLS = {"n": 0}
LEAKED = []


async def pick(db, rng, size):
    return 1


async def broken_pick(db, rng, size):
    raise LookupError("no input to pick")


async def fine(db, n):
    async with db.sessions() as s:
        return (await s.execute(text("SELECT :n"), {"n": n})).scalar_one()


async def sixth_call_raises(db, n):
    CALLS["n"] += 1
    if CALLS["n"] == 6:
        raise RuntimeError("exploded on call 6")
    return await fine(db, n)


async def leaks_a_session(db, n):
    session = db.sessions()
    LEAKED.append(session)  # never closed: its connection stays checked out
    return (await session.execute(text("SELECT :n"), {"n": n})).scalar_one()


register("misbehaving.sixth", variants={"naive": fine, "optimized": sixth_call_raises},
         params=pick)
register("misbehaving.params", variants={"naive": fine, "optimized": fine}, params=broken_pick)
register("misbehaving.leak", variants={"naive": fine, "leaky": leaks_a_session}, params=pick)
register("misbehaving.after", variants={"naive": fine, "optimized": fine}, params=pick)
"""


def test_a_variants_error_mid_run_is_recorded_and_the_rest_is_measured(
    tmp_path: Path, seeded_db: str, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = write_module(tmp_path, MISBEHAVING)
    out = tmp_path / "results.json"
    code = main(
        [
            "run",
            "--scenarios",
            str(module),
            "--database-url",
            seeded_db,
            "--iterations",
            "16",
            "--warmup",
            "0",
            "--param-sets",
            "1",
            "--pool-size",
            "1",
            "--call-timeout",
            "3",
            "--no-explain",
            "--out",
            str(out),
        ]
    )
    assert code == 1
    results = read_results(out)
    assert results.partial is None
    failures = {(f.operation, f.variant): f for f in results.failures}
    assert set(failures) == {
        ("misbehaving.sixth", "optimized"),
        ("misbehaving.params", "naive"),
        ("misbehaving.params", "optimized"),
        ("misbehaving.leak", "leaky"),
    }
    assert "exploded on call 6" in failures["misbehaving.sixth", "optimized"].message
    assert (
        "params factory raised LookupError: no input to pick"
        in failures["misbehaving.params", "naive"].message
    )
    assert failures["misbehaving.leak", "leaky"].kind == "error"
    assert (
        "left 1 pooled connection(s) checked out" in failures["misbehaving.leak", "leaky"].message
    )
    samples = {m.key[:2]: len(m.wall_ms.samples) for m in results.operations}
    # equivalence is call 1, so call 6 is the 5th timed round: 4 samples were kept
    assert samples[("misbehaving.sixth", "optimized")] == 4
    assert results.measurement("misbehaving.sixth", "optimized").error is not None
    assert samples[("misbehaving.sixth", "naive")] == 16
    assert samples[("misbehaving.params", "naive")] == 0
    assert samples[("misbehaving.leak", "naive")] == 16
    assert (
        samples[("misbehaving.after", "naive")] == samples[("misbehaving.after", "optimized")] == 16
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error misbehaving.sixth [optimized]: RuntimeError: exploded on call 6" in err


# --------------------------------------------------------------------------------------
# 3. A raw COMMIT in a mutating variant is refused; the data is unchanged
# --------------------------------------------------------------------------------------

COMMITS = """
from sqlalchemy import text
from dalperf.measure.scenario import register

CHANGE = text("UPDATE users SET email = 'taken@example.com' WHERE id = (SELECT min(id) FROM users)")


async def pick(db, rng, size):
    return 1


async def through_the_session(db, n):
    async with db.sessions() as s:
        await s.execute(CHANGE)
        await s.commit()  # a savepoint's RELEASE inside dalperf's transaction
    return n


async def raw_commit(db, n):
    async with db.sessions() as s:
        await s.execute(CHANGE)
        await s.execute(text("COMMIT"))
    return n


async def end_in_a_batch(db, n):
    async with db.sessions() as s:
        await s.execute(CHANGE)
        await (await s.connection()).exec_driver_sql("SELECT 1; END")
    return n


async def connection_commit(db, n):
    async with db.sessions() as s:
        await s.execute(CHANGE)
        await (await s.connection()).commit()
    return n


async def rollback_then_commit(db, n):
    async with db.sessions() as s:
        await s.execute(text("rollback"))
        await s.execute(CHANGE)
        await s.execute(text("commit"))
    return n


async def driver_commit(db, n):
    async with db.sessions() as s:
        raw = (await s.connection()).sync_connection.connection.driver_connection
        await raw.commit()
    return n


async def raw_cursor_commit(db, n):
    async with db.sessions() as s:
        raw = (await s.connection()).sync_connection.connection.driver_connection
        await raw.execute("COMMIT")  # no hook sees it: caught afterwards (nothing was written)
    return n


def sync_raw_commit(db, n):
    with db.sessions() as s:
        s.execute(CHANGE)
        s.execute(text("COMMIT"))
    return n


register("commits.escape", variants={
    "naive": through_the_session, "raw_commit": raw_commit, "end_in_a_batch": end_in_a_batch,
    "connection_commit": connection_commit, "rollback_then_commit": rollback_then_commit,
    "driver_commit": driver_commit, "raw_cursor_commit": raw_cursor_commit,
    "sync_raw_commit": sync_raw_commit,
    "optimized": through_the_session}, params=pick, mutates=True)
"""


def test_a_variant_cannot_commit_dalperfs_outer_transaction(
    tmp_path: Path, seeded_db: str, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = write_module(tmp_path, COMMITS)
    out = tmp_path / "results.json"
    before = table_checksums(seeded_db)
    code = main(
        [
            "run",
            "--scenarios",
            str(module),
            "--database-url",
            seeded_db,
            "--iterations",
            "3",
            "--param-sets",
            "1",
            "--no-explain",
            "--out",
            str(out),
        ]
    )
    assert code == 1
    assert table_checksums(seeded_db) == before
    with psycopg.connect(seeded_db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM users WHERE email = 'taken@example.com'"
        ).fetchone() == (0,)
    results = read_results(out)
    failures = {f.variant: f for f in results.failures}
    refused = {
        "raw_commit",
        "end_in_a_batch",
        "connection_commit",
        "rollback_then_commit",
        "driver_commit",
        "raw_cursor_commit",
        "sync_raw_commit",
    }
    assert set(failures) == refused
    assert all(f.kind == "error" and "IsolationBreach" in f.message for f in failures.values())
    assert "sent COMMIT" in failures["raw_commit"].message
    assert "sent COMMIT" in failures["end_in_a_batch"].message
    assert "sent ROLLBACK" in failures["rollback_then_commit"].message
    assert "Connection.commit()" in failures["connection_commit"].message
    assert "driver connection's commit()" in failures["driver_commit"].message
    assert "driver's own connection" in failures["raw_cursor_commit"].message
    assert len(results.measurement("commits.escape", "optimized").wall_ms.samples) == 3
    assert "Traceback" not in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# 4. A database dalperf does not own: no mutating operation, read-only transactions
# --------------------------------------------------------------------------------------

FOREIGN = """
from sqlalchemy import text
from dalperf.measure.scenario import register


async def pick(db, rng, size):
    return 1


async def reads(db, n):
    async with db.sessions() as s:
        return (await s.execute(text("SELECT count(*) FROM notes"))).scalar_one()


async def writes_anyway(db, n):
    async with db.sessions.begin() as s:
        await s.execute(text("INSERT INTO notes VALUES ('written by a read-only operation')"))
        return (await s.execute(text("SELECT count(*) FROM notes"))).scalar_one()


async def deletes(db, n):
    async with db.sessions.begin() as s:
        await s.execute(text("DELETE FROM notes"))
    return n


register("foreign.read", variants={"naive": reads, "sneaky": writes_anyway}, params=pick)
register("foreign.delete", variants={"naive": deletes, "optimized": deletes}, params=pick,
         mutates=True)
"""


@pytest.fixture(scope="module")
def foreign_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file for the three tests: the registry keeps what a module registered."""
    return write_module(tmp_path_factory.mktemp("foreign"), FOREIGN)


@pytest.fixture
def foreign_db(pg_server: ServerStatus) -> Iterator[str]:
    """A database without dalperf's marker, holding one table of one row."""
    name = f"foreign_faults_{os.getpid()}"
    url = create_database(pg_server, name, owned=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (body text)")
        conn.execute("INSERT INTO notes VALUES ('theirs')")
    try:
        yield url
    finally:
        drop_database(pg_server, name)


def _notes(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT body FROM notes ORDER BY body")]


def test_mutating_operations_are_refused_on_a_database_dalperf_does_not_own(
    tmp_path: Path,
    foreign_db: str,
    foreign_module: Path,
    dalperf_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = foreign_module
    out = tmp_path / "results.json"
    code = main(
        [
            "run",
            "--scenarios",
            str(module),
            "--database-url",
            foreign_db,
            "--iterations",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    line = error_line(capsys.readouterr().err)
    assert "foreign.delete" in line and "--disposable" in line and "foreign.read" not in line
    assert not out.exists()
    assert _notes(foreign_db) == ["theirs"]


def test_read_only_operations_run_in_read_only_transactions_there(
    tmp_path: Path, foreign_db: str, foreign_module: Path, dalperf_home: Path
) -> None:
    module = foreign_module
    out = tmp_path / "results.json"
    code = main(
        [
            "run",
            "--scenarios",
            str(module),
            "--database-url",
            foreign_db,
            "--only",
            "foreign.read",
            "--iterations",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 1  # the variant that writes is refused by the server
    results = read_results(out)
    (failure,) = results.failures
    assert failure.variant == "sneaky" and "read-only transaction" in failure.message
    assert len(results.measurement("foreign.read", "naive").wall_ms.samples) == 2
    assert _notes(foreign_db) == ["theirs"]


def test_disposable_lets_mutating_operations_run_and_they_are_rolled_back(
    tmp_path: Path, foreign_db: str, foreign_module: Path, dalperf_home: Path
) -> None:
    module = foreign_module
    out = tmp_path / "results.json"
    code = main(
        [
            "run",
            "--scenarios",
            str(module),
            "--database-url",
            foreign_db,
            "--only",
            "foreign.delete",
            "--iterations",
            "2",
            "--disposable",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert len(read_results(out).measurement("foreign.delete", "naive").wall_ms.samples) == 2
    assert _notes(foreign_db) == ["theirs"]


# --------------------------------------------------------------------------------------
# 5. Passwords, in every form psycopg accepts, never printed
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("postgresql://bob@127.0.0.1:1/app?password=S3cret", 3),
        ("host=127.0.0.1 port=1 password=S3cret dbname=app", 3),
        ("host=127.0.0.1 port=1 user=bob password='S3cret Wh1te' dbname=app", 3),
        ("postgresql://bob:S3cret Wh1te@127.0.0.1:1/app", 3),
        ("postgresql://bob:S3cret%20Wh1te@127.0.0.1:1/app", 3),
        ("postgresql://bob:S3cret@127.0.0.1:1/app", 3),
        ("postgresql://bob:S3cret:x@127.0.0.1:port/app", 2),
        ("host=127.0.0.1 password=S3cret Wh1te dbname=app", 2),
        ("host=127.0.0.1 port=one password=S3cret dbname=app", 2),
    ],
)
def test_no_form_of_password_is_printed(
    url: str, code: int, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--database-url", url, "--iterations", "1"]) == code
    captured = capsys.readouterr()
    line = error_line(captured.err)
    for shown in (captured.out, captured.err):
        assert "S3cret" not in shown and "Wh1te" not in shown
    if code == 3:
        assert "127.0.0.1:1" in line


def test_masking_functions_cover_every_form() -> None:
    assert (
        urls.masked(urls.parse("postgresql://bob@h/db?password=S3cret&sslmode=disable"))
        == "postgresql+psycopg://bob:***@h/db?sslmode=disable"
    )
    assert "S3cret" not in urls.masked("postgresql://bob:S3cret@h/db")
    text = (
        "postgresql://bob:a b@c@h/db failed; host=h password='x y' password=plain&n=1 "
        "password = spaced"
    )
    redacted = urls.redact(text)
    for secret in ("a b@c", "x y", "plain", "spaced"):
        assert secret not in redacted, redacted
    urls.parse("postgresql://bob:Only-Known-Here@h/db")
    assert urls.redact("the server echoed Only-Known-Here") == "the server echoed ***"


def test_a_password_with_spaces_and_url_characters_reaches_the_server(
    pg_server: ServerStatus,
) -> None:
    """libpq_url percent-encodes every part (the embedded server trusts any password)."""
    parsed = urls.parse(pg_server.url()).set(password="S3cr et@/:?#pw")
    libpq = urls.libpq_url(parsed)
    assert " " not in libpq
    with psycopg.connect(libpq, connect_timeout=5) as conn:
        assert conn.info.password == "S3cr et@/:?#pw"
    keywords = urls.parse(
        f"host=127.0.0.1 port={pg_server.port} user=postgres password='S3cr et' dbname=dalperf"
    )
    with psycopg.connect(urls.libpq_url(keywords), connect_timeout=5) as conn:
        assert conn.info.password == "S3cr et"


def test_a_crash_traceback_has_its_password_masked(
    dalperf_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: EmbeddedServer) -> None:
        raise RuntimeError("connect to postgresql://bob:S3cret@h/db password=S3cret failed")

    monkeypatch.setattr(EmbeddedServer, "status", crash)
    assert main(["db", "status"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: connect to postgresql://bob:***@h/db password=*** failed" in err
    assert "S3cret" not in err
