"""SIGTERM and SIGHUP, what CI runners send when a job is cancelled, mid-``run``: the
measurements made so far are written, marked partial, exactly as on Ctrl-C, with no
asyncio traceback and nothing left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dalperf.db.embedded import ServerStatus
from dalperf.results.model import read_results
from tests.conftest import interruptible, target_for
from tests.test_faults import (
    INTERRUPTED,
    Watched,
    error_line,
    own_server,  # noqa: F401 (a fixture)
    server_home,  # noqa: F401 (a fixture)
    write_module,
)
from tests.test_project import (
    APP,
    LOCUSTFILE,
    Project,
    make_app,
    project,  # noqa: F401 (a fixture)
    project_server,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_mid_run_write_what_was_measured(
    tmp_path: Path, own_server: tuple[Path, ServerStatus], signum: int
) -> None:
    home, _status = own_server
    module = write_module(tmp_path, INTERRUPTED)
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DALPERF_DATABASE_URL")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dalperf",
            "run",
            "--scenarios",
            str(module),
            "--iterations",
            "5",
            "--out",
            str(out),
        ],
        text=True,
        env={**env, "DALPERF_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=interruptible,
    )
    watched = Watched(proc)
    watched.wait_for((tmp_path / "arrived").exists, "the hung variant")
    proc.send_signal(signum)
    code, _, err = watched.finish()
    assert code == 130, err
    line = error_line(err)
    assert "interrupted" in line and "kept the 2 measurement(s)" in line
    assert f"wrote {out}" in err
    results = read_results(out)
    assert results.partial == "interrupted"
    assert {m.operation for m in results.operations} == {"stuck.first"}
    assert not watched.leftovers()


def test_a_cancel_a_finished_call_swallowed_still_interrupts_the_run(seeded_db: str) -> None:
    """The cancel arrives while the call finishes in the same turn of the event loop (a
    Ctrl-C at that moment): ``wait_for`` then returns the call's result instead of raising,
    and the run must stop all the same."""
    import asyncio

    from dalperf.errors import RunInterrupted
    from dalperf.measure import runner
    from dalperf.measure.config import RunConfig
    from dalperf.measure.registry import Registry, register

    main: list[asyncio.Task[object]] = []

    async def pick(db: object, rng: object, size: object) -> int:
        return 1

    async def fine(db: object, n: int) -> int:
        return n

    async def cancels_and_returns(db: object, n: int) -> int:
        main[0].cancel()  # as asyncio's SIGINT handler does
        return n

    registry = Registry()
    first = register(
        "swallow.first", variants={"naive": fine, "optimized": fine}, params=pick, registry=registry
    )
    second = register(
        "swallow.second",
        variants={"naive": fine, "optimized": cancels_and_returns},
        params=pick,
        registry=registry,
    )
    third = register(
        "swallow.third", variants={"naive": fine, "optimized": fine}, params=pick, registry=registry
    )
    config = RunConfig(iterations=2, warmup=0, param_sets=1, complexity=False)

    async def run() -> object:
        main.append(asyncio.current_task())  # type: ignore[arg-type]
        return await runner.run(target_for(seeded_db), [first, second, third], config)

    with pytest.raises(RunInterrupted) as interrupted:
        asyncio.run(run())
    measured = {m.operation for m in interrupted.value.results.operations}
    assert measured == {"swallow.first"}
    assert interrupted.value.results.partial == "interrupted"


def test_sigterm_mid_load_writes_the_figures_of_the_requests_made(
    tmp_path: Path, project: Project
) -> None:
    import json
    import time

    import psycopg

    from dalperf.db.project import WORKING_DB

    signum = signal.SIGTERM
    app = make_app(tmp_path)
    (app / "shop" / "main.py").write_text(APP)
    (app / "perf" / "locustfile.py").write_text(LOCUSTFILE)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DALPERF_DATABASE_URL", "PYTHONPATH")
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dalperf",
            "load",
            "--app",
            "shop.main:app",
            "--locustfile",
            "perf/locustfile.py",
            "--users",
            "2",
            "--run-time",
            "300s",
            "--out",
            "load.json",
        ],
        cwd=app,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "DALPERF_HOME": str(project.home), "COLUMNS": "200"},
        preexec_fn=interruptible,
    )
    watched = Watched(proc)

    def served() -> bool:
        try:
            with psycopg.connect(project.server.url("postgres")) as conn:
                row = conn.execute(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                    (WORKING_DB,),
                ).fetchone()
                active = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (WORKING_DB,)
                ).fetchone()
        except psycopg.Error:
            return False
        return bool(row and active and active[0] and row[0] > 200)

    watched.wait_for(served, "requests to be served", timeout=240)
    started = time.monotonic()
    proc.send_signal(signum)
    code, _, err = watched.finish()
    assert time.monotonic() - started < 60
    assert code == 130, err
    assert "wrote load.json (the figures of an interrupted load test, marked partial)" in err
    results = json.loads((app / "load.json").read_text())
    assert results["partial"] == "interrupted"
    assert sum(v["requests"] for v in results["variants"]) > 0
    assert not watched.leftovers()
