"""Database provisioning: the embedded server's lifecycle, no orphan processes, bad targets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from dalperf.cli import main
from dalperf.db.embedded import EmbeddedServer, ServerStatus, running_server
from dalperf.db.targets import provide
from tests.conftest import create_database, drop_database, interruptible


def postgres_processes(folder: Path) -> list[psutil.Process]:
    """Every live postgres process whose command line mentions ``folder``."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if (
            proc.info["name"] == "postgres"
            and str(folder) in cmdline
            and proc.info["status"] != psutil.STATUS_ZOMBIE
        ):
            found.append(proc)
    return found


def test_db_start_status_url_stop(dalperf_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "start"]) == 0
    try:
        assert "started" in capsys.readouterr().out
        assert main(["db", "start"]) == 0  # a second start reports the running server
        out = capsys.readouterr().out
        assert "already running" in out
        assert main(["db", "url"]) == 0
        url = capsys.readouterr().out.strip()
        with psycopg.connect(url) as conn:
            preloaded = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
            assert "pg_stat_statements" in preloaded and "auto_explain" in preloaded
        assert main(["db", "status"]) == 0
        assert postgres_processes(dalperf_home)
    finally:
        assert main(["db", "stop"]) == 0
    assert not postgres_processes(dalperf_home)
    assert main(["db", "status"]) == 3
    assert main(["db", "url"]) == 3


def test_ephemeral_server_is_stopped_and_deleted() -> None:
    with running_server(None) as status:
        folder = status.data_dir
        assert postgres_processes(folder)
    assert not postgres_processes(folder)
    assert not folder.exists()


def test_exception_inside_provide_stops_the_server(dalperf_home: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), provide(home=dalperf_home):
        assert postgres_processes(dalperf_home)
        raise RuntimeError("boom")
    assert not postgres_processes(dalperf_home)


def test_provide_reuses_a_running_server_and_leaves_it_running(dalperf_home: Path) -> None:
    server = EmbeddedServer(dalperf_home / "pgdata")
    started = server.start()
    try:
        with provide(home=dalperf_home) as target:
            assert target.url.port == started.port
        assert server.status() == started
    finally:
        server.stop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_command_leaves_no_server(tmp_path: Path, signum: int) -> None:
    """Ctrl-C (or a kill) in the middle of a long seed stops the server it started."""
    home = tmp_path / "home"
    env = {**os.environ, "DALPERF_HOME": str(home)}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dalperf", "seed", "--scale", "3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        deadline = time.monotonic() + 60
        while not postgres_processes(home) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        assert postgres_processes(home), "the server never started"
        time.sleep(1.5)  # well into migrating/seeding
        assert proc.poll() is None, "seed finished before it could be interrupted"
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert not postgres_processes(home)


def test_unreachable_url_is_one_line_exit_3_password_masked(
    dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["migrate", "--database-url", "postgresql://bob:s3cret@127.0.0.1:1/app"])
    err = capsys.readouterr().err
    assert code == 3
    assert "127.0.0.1:1" in err
    assert "s3cret" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "malformed database URL"),
        (
            "mysql://u:pw@localhost/db",
            "unsupported database driver mysql: dalperf supports PostgreSQL",
        ),
        ("postgresql://u@localhost", "malformed database URL"),
    ],
)
def test_malformed_url_exits_2(
    url: str, message: str, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert "pw@" not in err


def test_database_not_created_by_dalperf_is_refused_unless_disposable(
    pg_server: ServerStatus, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = create_database(pg_server, "not_ours", owned=False)
    try:
        assert main(["migrate", "--database-url", url]) == 2
        assert "refusing to write" in capsys.readouterr().err
        with psycopg.connect(url) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert tables.fetchone()[0] == 0
        assert main(["migrate", "--database-url", url, "--disposable"]) == 0
    finally:
        drop_database(pg_server, "not_ours")


def test_unknown_db_source_exits_2(dalperf_home: Path) -> None:
    assert main(["migrate", "--db", "oracle"]) == 2


def _docker_engine_reachable() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@pytest.mark.docker
@pytest.mark.skipif(
    not _docker_engine_reachable(),
    reason="no Docker engine reachable on this machine (the docker client alone is not enough)",
)
def test_testcontainers_source(dalperf_home: Path) -> None:
    with provide(source="testcontainers") as target:
        assert target.server_version()
