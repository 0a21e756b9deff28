"""The load test: serve an app over HTTP, drive it with locust, keep exact per-request figures.

:func:`run_load` starts the app under uvicorn on a free loopback port (a child process, its
database optionally behind the :class:`~dalperf.network.proxy.LatencyProxy`), runs locust headless
against it (one process, or locust's own master with ``workers`` worker processes, the way
locust runs across machines), then stops everything, in a ``finally``: also on Ctrl-C or
an error, no uvicorn or locust process outlives the call.  It returns a
:class:`~dalperf.results.load.LoadResults` (:mod:`dalperf.results.load`, written to
``reports/out/load.json``), which the report and ``dalperf check`` read without a database.

What is measured, and where:

- latency: locust's ``request`` event carries each request's response time as a float in
  milliseconds; its statistics round it into buckets.  The listeners that
  :func:`~dalperf.loadtest.locust_side.record_requests` installs in the locustfile keep every request's exact time; a
  worker ships its records to the master with the periodic reports locust already sends
  (``report_to_master`` / ``worker_report``), and the master (or the single local
  process) writes them all to the file named by ``--dalperf-records``.  Percentiles are
  computed from those records with :class:`dalperf.results.stats.Summary`.
- queries per request: the app wraps every request in a :class:`dalperf.capture.session.Capture`
  and answers with the counts in the headers :data:`QUERIES_HEADER` and
  :data:`ROUND_TRIPS_HEADER`; the recorder keeps them beside the request's time.
- throughput: requests / the run's span (first request sent to last answer received); the
  master's own aggregated request and failure counts are kept as a cross-check.

The protocol an app and a locustfile follow (the case study's are ``scenarios/app.py`` and
``scenarios/locustfile.py``): the app reads its database URL from :data:`DATABASE_URL_ENV`
and pool size from :data:`POOL_SIZE_ENV`, answers ``GET`` :data:`HEALTH_PATH` once ready,
and sets the two headers; the locustfile calls :func:`~dalperf.loadtest.locust_side.record_requests` with
``locust.events``, defines one user class per variant named by :func:`user_class_name`,
and returns :func:`~dalperf.loadtest.locust_side.request_context` from its users' ``context()``.

This module never imports locust (locust patches the standard library with gevent when
imported); the locust-side functions receive locust's objects as arguments.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dalperf.db import drivers
from dalperf.defaults import (
    DEFAULT_APP_URL_ENV,
    DEFAULT_RUN_TIME_S,
    DEFAULT_SPAWN_RATE,
    DEFAULT_USERS,
    DEFAULT_VARIANTS,
)
from dalperf.errors import (
    EnvironmentProblem,
    LoadAborted,
    LoadInterrupted,
    ServerStartError,
    UsageError,
)
from dalperf.host import processes, scratch
from dalperf.loadtest.locust_side import (
    DATABASE_URL_ENV,
    DRIVER_ENV,
    HEALTH_PATH,
    POOL_SIZE_ENV,
    RECORDS_OPTION,
)
from dalperf.measure.config import DEFAULT_DRIVER, DEFAULT_POOL_SIZE
from dalperf.network.proxy import LatencyProxy, Upstream
from dalperf.network.proxy_child import check_delay
from dalperf.results.load import LoadResults, Request, summarise
from dalperf.version import package_version

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from dalperf.db.targets import Target

LOOPBACK = "127.0.0.1"
SERVER_START_TIMEOUT_S = 120.0  # the app draws its inputs from the database first
LISTEN_BACKLOG = 2048  # uvicorn's own default
SCRATCH_PREFIX = "dalperf-load-"  # the temporary folder of one load test's output
READY_POLL_S = 0.1
WORKERS_CONNECT_TIMEOUT_S = 60  # locust's --expect-workers-max-wait
FINISH_GRACE_S = 90.0  # beyond --run-time: locust start-up, workers connecting, final reports
STOP_TIMEOUT_S = 10.0  # SIGTERM, then this long, then SIGKILL
PROBE_TIMEOUT_S = 5  # is the database still there once the load test ended?
STDERR_TAIL_LINES = 5
LOAD_PACKAGES = ("locust", "uvicorn")  # the extra `dalperf[load]`

_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadConfig:
    """One load test; defaults are the named constants above.

    ``app`` is the ASGI app as uvicorn names it (``"package.module:attribute"``),
    ``variants`` the variants the users are split between (one user class each),
    ``workers`` 0 for one locust process, K for a master and K workers.
    """

    app: str
    locustfile: Path
    users: int = DEFAULT_USERS
    spawn_rate: float = DEFAULT_SPAWN_RATE
    run_time_s: int = DEFAULT_RUN_TIME_S
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    workers: int = 0
    rtt_ms: float = 0.0
    pool_size: int = DEFAULT_POOL_SIZE
    # a user's app, which does not follow the protocol itself: served inside
    # dalperf.loadtest.middleware, its database URL in ``app_url_env``, imported from
    # ``app_dir``
    wrap: bool = False
    app_url_env: str = DEFAULT_APP_URL_ENV
    app_dir: Path | None = None
    driver: drivers.Driver = DEFAULT_DRIVER

    def __post_init__(self) -> None:
        if ":" not in self.app:
            raise UsageError(f"--app {self.app!r} must name the ASGI app as 'module:attribute'")
        if not self.locustfile.is_file():
            raise UsageError(f"locustfile {self.locustfile} does not exist")
        if self.users < 1 or self.pool_size < 1 or self.run_time_s < 1 or self.workers < 0:
            raise UsageError("users, pool size and run time must be at least 1, workers at least 0")
        if not (math.isfinite(self.spawn_rate) and self.spawn_rate > 0):
            raise UsageError(
                f"the spawn rate must be a number of users per second > 0, not {self.spawn_rate:g}"
            )
        check_delay(self.rtt_ms)
        if not self.variants or len(set(self.variants)) != len(self.variants):
            raise UsageError("name each variant once, and at least one")
        if self.users < len(self.variants):
            raise UsageError(
                f"{self.users} user(s) cannot be split between "
                f"{len(self.variants)} variants; give --users "
                f"{len(self.variants)} or more"
            )


def parse_duration(text: str) -> int:
    """Seconds in a locust-style duration: ``90``, ``90s``, ``2m``, ``1h30m``."""
    match = _DURATION_RE.match(text.strip())
    if not text.strip() or match is None:
        raise UsageError(f"--run-time {text!r} is not a duration such as 60, 60s, 2m or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def user_class_name(variant: str) -> str:
    """The locust user class that drives ``variant``: ``naive`` -> ``NaiveUser``."""
    return "".join(part.capitalize() for part in variant.split("_")) + "User"


# --------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------


def read_records(path: Path) -> list[Request]:
    """The requests in a records file written by :func:`record_requests`."""
    try:
        rows = json.loads(path.read_text())["records"]
    except FileNotFoundError as exc:
        raise EnvironmentProblem(
            "locust wrote no request records (did the locustfile call "
            "dalperf.loadtest.locust_side.record_requests?)"
        ) from exc
    return [Request(*row) for row in rows]


def locust_totals(path: Path) -> dict[str, int]:
    """Requests and failures as locust's master aggregated them (its ``--json-file``)."""
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {
        "requests": sum(e["num_requests"] for e in entries),
        "failures": sum(e["num_failures"] for e in entries),
    }


def run_load(
    target: Target, config: LoadConfig, *, environment: Mapping[str, Any] | None = None
) -> LoadResults:
    """Serve ``config.app`` on ``target``, run locust against it, return the figures.

    Every process started here is stopped before this returns or raises (KeyboardInterrupt
    included): locust first, then the app, then the latency proxy.  Raises
    :class:`ServerStartError` when the app does not come up, :class:`EnvironmentProblem`
    when locust fails and :class:`~dalperf.errors.ProxyDied` when the latency proxy died.
    """
    missing = [name for name in LOAD_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"dalperf load needs {' and '.join(missing)}: pip install 'dalperf[load]'")
    with ExitStack() as stack:
        app_database, proxy = target.url, None
        if config.rtt_ms > 0:
            proxy = stack.enter_context(
                LatencyProxy(Upstream.of_url(target.url), rtt_ms=config.rtt_ms)
            )
            app_database = proxy.url(target.url)
        base = stack.enter_context(
            serve(
                config.app,
                app_database,
                pool_size=config.pool_size,
                wrap=config.wrap,
                app_url_env=config.app_url_env,
                app_dir=config.app_dir,
                driver=config.driver,
            )
        )
        children = stack.enter_context(_children())
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        records, stats = children.folder / "records.json", children.folder / "locust"
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(config.locustfile),
            "--loglevel",
            "WARNING",
        ]
        if config.workers:
            master_port = free_port()
            for index in range(config.workers):
                children.start(
                    f"locust worker {index + 1}",
                    [
                        *command,
                        "--worker",
                        "--master-host",
                        LOOPBACK,
                        "--master-port",
                        str(master_port),
                    ],
                )
            command += [
                "--master",
                "--master-bind-host",
                LOOPBACK,
                "--master-bind-port",
                str(master_port),
                "--expect-workers",
                str(config.workers),
                "--expect-workers-max-wait",
                str(WORKERS_CONNECT_TIMEOUT_S),
            ]
        locust = children.start(
            "locust",
            [
                *command,
                "--headless",
                "--host",
                base,
                "--users",
                str(config.users),
                "--spawn-rate",
                f"{config.spawn_rate:g}",
                "--run-time",
                f"{config.run_time_s}s",
                "--only-summary",
                "--exit-code-on-error",
                "0",
                "--json-file",
                str(stats),
                RECORDS_OPTION,
                str(records),
                *(user_class_name(v) for v in config.variants),
            ],
        )
        env = {
            **_versions(),
            "started_at": started_at,
            "app": config.app,
            "locustfile": str(config.locustfile),
            "users": config.users,
            "spawn_rate": config.spawn_rate,
            "run_time_s": config.run_time_s,
            "workers": config.workers,
            "rtt_ms": config.rtt_ms,
            "pool_size": config.pool_size,
            "variants": list(config.variants),
            "driver": drivers.pairing(config.driver).describe(),
            **(environment or {}),
        }
        try:
            children.wait(
                locust,
                timeout=config.run_time_s
                + FINISH_GRACE_S
                + (WORKERS_CONNECT_TIMEOUT_S if config.workers else 0),
            )
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: keep the requests made so far
            _stop(locust.process)  # SIGTERM: locust writes its records as it quits
            made = read_records(records) if records.is_file() else []
            why = "interrupted"
            raise LoadInterrupted(
                f"{why}; kept the figures of the {len(made):,} request(s) made before",
                results=dataclasses.replace(
                    summarise(
                        made,
                        variants=config.variants,
                        environment=env,
                        locust_totals=locust_totals(stats.with_suffix(".json")),
                    ),
                    partial=why,
                ),
            ) from None
        if proxy is not None:
            proxy.check_alive()  # failed requests then mean a dead proxy, not a dead database
        results = summarise(
            read_records(records),
            variants=config.variants,
            environment=env,
            locust_totals=locust_totals(stats.with_suffix(".json")),
        )
    lost = database_gone(target)
    if lost is not None:
        failed = sum(v.failures for v in results.variants)
        sent = sum(v.requests for v in results.variants)
        why = f"the database went away during the load test ({lost})"
        raise LoadAborted(
            f"{why}; {failed:,} of {sent:,} requests failed",
            results=dataclasses.replace(results, partial=why),
        )
    return results


def database_gone(target: Target) -> str | None:
    """Why nothing answers at ``target`` any more, or ``None`` when it does.

    Asked after every load test: a database that died mid-run makes requests fail, and
    the figures must not pass for a load test's.
    """
    import psycopg

    from dalperf.db import urls

    try:
        with psycopg.connect(target.libpq_url, connect_timeout=PROBE_TIMEOUT_S):
            return None
    except psycopg.Error as exc:
        return urls.redact((str(exc).strip().splitlines() or [type(exc).__name__])[0])


@contextmanager
def serve(
    app: str,
    database: URL,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    wrap: bool = False,
    app_url_env: str = DEFAULT_APP_URL_ENV,
    app_dir: Path | None = None,
    driver: drivers.Driver = DEFAULT_DRIVER,
) -> Iterator[str]:
    """Serve the ASGI ``app`` (``module:attribute``) with uvicorn on a loopback port bound
    here first (:func:`_listening`), on the parsed ``database`` (rendered as text only for
    the app server's environment: a process boundary).

    ``wrap``: the app is a user's, served inside :mod:`dalperf.loadtest.middleware` (the
    capture headers and the health check added), its database URL in ``app_url_env``.
    Yields the base URL (``http://127.0.0.1:PORT``) once the app answers
    :data:`HEALTH_PATH`; the server is stopped when the block exits, however it exits.
    A wrapped app that does not import or is not an ASGI app is a :class:`UsageError`
    (the middleware's one line), raised before anything is served.
    """
    from dalperf.db.urls import libpq_url
    from dalperf.loadtest import middleware

    env = {
        DATABASE_URL_ENV: libpq_url(database),
        POOL_SIZE_ENV: str(pool_size),
        DRIVER_ENV: driver.name,
    }
    target = [app]
    if wrap:
        env |= {middleware.APP_ENV: app, app_url_env: middleware.plugin_url(database)}
        target = [f"{middleware.__name__}:{middleware.from_environment.__name__}", "--factory"]
    if app_dir is not None:
        target += ["--app-dir", str(app_dir)]
    with _children() as children, _listening() as listener:
        app_error = children.folder / "app-error.txt"
        env |= {middleware.APP_ERROR_ENV: str(app_error)}
        server = children.start(
            "app server",
            [
                sys.executable,
                "-m",
                "uvicorn",
                *target,
                "--fd",
                str(listener.fileno()),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            pass_fds=(listener.fileno(),),
        )
        base = f"http://{LOOPBACK}:{listener.getsockname()[1]}"
        try:
            wait_ready(server, base + HEALTH_PATH)
        except ServerStartError:
            if app_error.is_file() and app_error.read_text().strip():
                raise UsageError(app_error.read_text().strip()) from None
            raise
        yield base


@contextmanager
def _listening() -> Iterator[socket.socket]:
    """A socket bound to a free loopback port and listening, for the app server to serve
    on (``uvicorn --fd``): bound here first and held while the server runs, so that no
    other process can take the port between choosing it and serving on it, and whatever
    answers the readiness probe there is the app dalperf started."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((LOOPBACK, 0))
        listener.listen(LISTEN_BACKLOG)
        listener.set_inheritable(True)
        yield listener
    finally:
        listener.close()


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def wait_ready(server: _Child, url: str, *, timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
    """Poll ``url`` until it answers 200; :class:`ServerStartError` if the server exits
    or stays silent for ``timeout_s``."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(
                f"the app server exited with code {server.process.returncode} "
                f"before it was ready: {server.stderr_tail()}"
            )
        try:
            with opener.open(url, timeout=READY_POLL_S * 10) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(READY_POLL_S)
    raise ServerStartError(
        f"the app server did not answer {url} within {timeout_s:g} s: {server.stderr_tail()}"
    )


@dataclass(kw_only=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    stderr: Path

    def stderr_tail(self) -> str:
        try:
            lines = [
                line
                for line in self.stderr.read_text(errors="replace").splitlines()
                if line.strip()
            ]
        except OSError:
            lines = []
        return " | ".join(lines[-STDERR_TAIL_LINES:]) or "(no output)"


class _Children:
    """The processes started for a load test, their output kept in :attr:`folder`;
    :meth:`stop_all` ends them, newest first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[_Child] = []
        self._files: list[IO[bytes]] = []

    def start(
        self,
        name: str,
        command: list[str],
        *,
        env: Mapping[str, str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> _Child:
        slug = re.sub(r"\W+", "-", name)
        stderr_path = self.folder / f"{slug}.stderr"
        out = open(self.folder / f"{slug}.stdout", "wb")  # noqa: SIM115 (closed in stop_all)
        err = open(stderr_path, "wb")  # noqa: SIM115
        self._files += [out, err]
        child_env = {**os.environ, **(env or {}), "NO_PROXY": LOOPBACK, "no_proxy": LOOPBACK}
        # a session of its own: a Ctrl-C at the terminal reaches dalperf alone, which then
        # stops the children in order (locust before the server it is loading)
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=child_env,
            start_new_session=True,
            pass_fds=pass_fds,
            preexec_fn=processes.die_with_parent(),
        )
        child = _Child(name=name, process=process, stderr=stderr_path)
        self.started.append(child)
        return child

    def wait(self, child: _Child, *, timeout: float) -> None:
        """Wait for ``child`` to exit; :class:`EnvironmentProblem` if it fails or hangs."""
        try:
            code = child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EnvironmentProblem(
                f"{child.name} did not finish within {timeout:g} s: {child.stderr_tail()}"
            ) from None
        if code != 0:
            raise EnvironmentProblem(f"{child.name} exited with code {code}: {child.stderr_tail()}")

    def stop_all(self) -> None:
        """SIGTERM each child still running, newest first; SIGKILL what outlives the wait."""
        for child in reversed(self.started):
            _stop(child.process)
        for handle in self._files:
            handle.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def _children() -> Iterator[_Children]:
    """The children of one load test, their output in a folder of this process's; the
    folders a killed ``load`` left (:func:`dalperf.host.scratch.abandoned`) are removed first."""
    for stale in scratch.abandoned(SCRATCH_PREFIX):
        shutil.rmtree(stale, ignore_errors=True)
    folder = scratch.owned_folder(SCRATCH_PREFIX)
    try:
        children = _Children(folder)
        try:
            yield children
        finally:
            children.stop_all()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _versions() -> dict[str, Any]:
    versions: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
    }
    for package in ("dalperf", "locust", "uvicorn"):
        versions[package] = package_version(package)
    return versions
