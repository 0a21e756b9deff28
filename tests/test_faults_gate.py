"""Faults that would turn a CI gate green on nothing: user code calling ``sys.exit``,
incomplete or mixed shard sets, an advisor cut short, configuration that names nothing.

Each test runs the real ``dalperf`` in a subprocess on a small project of its own (the
models, seed hook and operations of :mod:`tests.test_project`) against one embedded
PostgreSQL server kept for the module, and asserts the exit code, the one line, and what
was written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_project import (
    CONFIG,
    OPS,
    SEED,
    Project,
    make_app,
    one_line_error,
    project,  # noqa: F401 (a fixture)
    project_server,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.faults


def _results(path: Path) -> dict[str, object]:
    return json.loads(path.read_text())


# --------------------------------------------------------------------------------------
# SystemExit from user code
# --------------------------------------------------------------------------------------

EXITING_OPS = (
    OPS
    + """

import sys


def exits_zero(db, params):
    sys.exit(0)


async def exits_three(db, params):
    sys.exit(3)


register("exits.sync", variants={"naive": count_naive, "optimized": exits_zero},
         params=no_params)
register("exits.async", variants={"naive": exits_three, "optimized": count_optimized},
         params=no_params)
"""
)


def test_a_variant_calling_sys_exit_is_that_variants_failure(
    tmp_path: Path, project: Project
) -> None:
    app = make_app(tmp_path, ops=EXITING_OPS)
    proc = project.run(app, "run", "--out", "r.json", "--no-explain")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = _results(app / "r.json")
    failures = {(f["operation"], f["variant"]): f["message"] for f in results["failures"]}
    assert set(failures) == {("exits.sync", "optimized"), ("exits.async", "naive")}
    assert "sys.exit(0) called" in failures["exits.sync", "optimized"]
    assert "sys.exit(3) called" in failures["exits.async", "naive"]
    measured = {m["operation"] for m in results["operations"] if not m.get("error")}
    assert {"authors.count", "books.by_authors", "exits.sync", "exits.async"} <= measured
    assert "sys.exit(0) called" in proc.stderr


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("perf/ops.py", "perf/ops.py': SystemExit: sys.exit(0) called"),
        ("shop/models.py", "'shop.models:Base.metadata' does not import: SystemExit: sys.exit(0)"),
        ("perf/seed.py", "'perf.seed:seed' does not import: SystemExit: sys.exit(0)"),
    ],
)
def test_sys_exit_while_importing_user_code_is_exit_2_naming_the_module(
    tmp_path: Path, project: Project, where: str, expected: str
) -> None:
    app = make_app(tmp_path)
    path = app / where
    path.write_text("import sys\nsys.exit(0)\n" + path.read_text())
    proc = project.run(app, "audit")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in one_line_error(proc)


def test_sys_exit_from_the_seed_hook_is_exit_2_naming_it(tmp_path: Path, project: Project) -> None:
    exiting = SEED + "\n\ndef leaves(engine, scale, seed):\n    raise SystemExit(0)\n"
    app = make_app(
        tmp_path, config=CONFIG.replace('"perf.seed:seed"', '"perf.seed:leaves"'), seed=exiting
    )
    proc = project.run(app, "audit")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "error: seed hook perf.seed:leaves raised SystemExit: sys.exit(0) called"
    )
    assert "dalperf_project_template" not in project.databases()


# --------------------------------------------------------------------------------------
# Shard sets
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shard_app(tmp_path_factory: pytest.TempPathFactory, project_server: Project) -> Path:
    """A project whose shards 1/3, 2/3, 3/3 and 2/2 were measured, each into s<I>of<N>.json
    (read by the tests, never changed)."""
    app = make_app(tmp_path_factory.mktemp("shards"))
    for shard in ("1/3", "2/3", "3/3", "2/2"):
        index, _, count = shard.partition("/")
        proc = project_server.run(
            app,
            "run",
            "--shard",
            shard,
            "--out",
            f"s{index}of{count}.json",
            "--no-explain",
            "--iterations",
            "2",
        )
        assert proc.returncode == 0, proc.stderr
    project_server.drop_project_databases()
    return app


def _variant(app: Path, name: str, changed: str, change: object) -> str:
    """A copy of results file ``name`` with environment entry ``changed`` replaced."""
    results = _results(app / name)
    results["environment"][changed] = change  # type: ignore[index]
    copy = f"{changed}-{name}"
    (app / copy).write_text(json.dumps(results))
    return copy


def test_an_incomplete_shard_set_is_refused_or_marked_partial(
    shard_app: Path, project_server: Project
) -> None:
    app = shard_app
    for files, expected in (
        (["s1of3.json", "s3of3.json"], "shard(s) 2/3 missing"),
        (["s1of3.json", "s2of2.json"], "different shard counts"),
        (
            ["s1of3.json", "s1of3.json", "s2of3.json", "s3of3.json"],
            "shard 1/3 is in both s1of3.json and s1of3.json",
        ),
    ):
        proc = project_server.run(app, "merge", *files, "--out", "merged.json")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert expected in one_line_error(proc)
        assert not (app / "merged.json").exists()

    proc = project_server.run(
        app, "merge", "s1of3.json", "s3of3.json", "--allow-incomplete", "--out", "partial.json"
    )
    assert proc.returncode == 0, proc.stderr
    assert "marked partial" in proc.stdout
    assert "2/3 missing" in _results(app / "partial.json")["partial"]  # type: ignore[operator]
    gate = project_server.run(app, "check", "partial.json")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "the results are partial" in gate.stderr

    complete = project_server.run(
        app, "merge", "s1of3.json", "s2of3.json", "s3of3.json", "--out", "all.json"
    )
    assert complete.returncode == 0, complete.stderr
    assert _results(app / "all.json")["partial"] is None
    assert project_server.run(app, "check", "all.json").returncode == 0


@pytest.mark.parametrize(
    ("changed", "change", "shown"),
    [
        (
            "driver",
            {
                "name": "asyncpg",
                "version": "0.30.0",
                "async": "asyncpg 0.30.0",
                "sync": "psycopg 3.2",
            },
            "driver asyncpg",
        ),
        ("iterations", 50, "iterations 50"),
        ("proxy", {"rtt_ms": [0, 5]}, "RTT sweep [0, 5]"),
    ],
)
def test_shards_measured_in_different_ways_are_refused_naming_both(
    shard_app: Path,
    project_server: Project,
    changed: str,
    change: object,
    shown: str,
) -> None:
    app = shard_app
    other = _variant(app, "s2of3.json", changed, change)
    proc = project_server.run(app, "merge", "s1of3.json", other, "s3of3.json", "--out", "m.json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = one_line_error(proc)
    assert "s1of3.json" in error and other in error and shown in error
    assert not (app / "m.json").exists()


def test_check_of_results_that_measured_nothing_fails(tmp_path: Path, project: Project) -> None:
    from dalperf.results.shards import Shard

    app = make_app(tmp_path)
    empty = next(
        f"{i}/5" for i in range(1, 6) if not Shard(index=i, count=5).holds("authors.count")
    )
    proc = project.run(
        app, "run", "--only", "authors.count", "--shard", empty, "--out", "r.json", "--no-explain"
    )
    assert proc.returncode == 0, proc.stderr
    assert _results(app / "r.json")["operations"] == []
    gate = project.run(app, "check", "r.json")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "measured no operation x variant pair" in gate.stderr


# --------------------------------------------------------------------------------------
# Another session on the template
# --------------------------------------------------------------------------------------


def test_a_session_on_the_template_is_one_line_naming_it(tmp_path: Path, project: Project) -> None:
    import psycopg

    from dalperf.db.project import TEMPLATE_DB

    app = make_app(tmp_path)
    first = project.run(app, "run", "--only", "authors.count", "--no-explain", "--out", "a.json")
    assert first.returncode == 0, first.stderr
    with psycopg.connect(project.server.url(TEMPLATE_DB), application_name="holder") as held:
        pid = held.info.backend_pid
        proc = project.run(app, "run", "--only", "authors.count", "--no-explain", "--out", "b.json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    error = proc.stderr.splitlines()[-1]
    assert error.startswith(
        f"error: cannot copy template database {TEMPLATE_DB}: another "
        f"session is connected to it (pid {pid} (application 'holder'"
    ), proc.stderr
    assert "Traceback" not in proc.stderr and not (app / "b.json").exists()


# --------------------------------------------------------------------------------------
# Runs on one server take turns with the project databases
# --------------------------------------------------------------------------------------


def test_a_second_run_on_one_server_waits_for_the_first_and_says_so(
    tmp_path: Path, project: Project
) -> None:
    import os
    import queue
    import subprocess
    import sys
    import threading

    from dalperf.db import urls
    from dalperf.db.project import WORKING_DB
    from dalperf.db.targets import Source, Target
    from dalperf.db.turns import taking_turns

    app = make_app(tmp_path)
    target = Target(
        url=urls.parse(project.server.url("postgres")), source=Source.EMBEDDED, writable=True
    )
    said: list[str] = []
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DALPERF_DATABASE_URL", "PYTHONPATH")
    }
    with taking_turns(target, say=said.append):  # the first run, as far as the second knows
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dalperf",
                "run",
                "--only",
                "authors.count",
                "--no-explain",
                "--out",
                "r.json",
            ],
            cwd=app,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, "DALPERF_HOME": str(project.home), "COLUMNS": "200"},
        )
        lines: queue.Queue[str] = queue.Queue()
        stderr = proc.stderr
        assert stderr is not None
        threading.Thread(target=lambda: [lines.put(line) for line in stderr], daemon=True).start()
        try:
            first = lines.get(timeout=120)
        except queue.Empty:
            proc.kill()
            raise
        assert first.startswith(
            f"note: waiting for another dalperf run (pid {os.getpid()}) "
            "to finish with the project databases on 127.0.0.1:"
        ), first
        assert proc.poll() is None and WORKING_DB not in project.databases()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert said == [] and (app / "r.json").is_file()
