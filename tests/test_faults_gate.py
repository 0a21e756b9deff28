"""Faults that would turn a CI gate green on nothing: user code calling ``sys.exit``,
incomplete or mixed shard sets, an advisor cut short, configuration that names nothing.

Each test runs the real ``dalperf`` in a subprocess on a small project of its own (the
models, seed hook and operations of :mod:`tests.test_project`) against one embedded
PostgreSQL server kept for the module, and asserts the exit code, the one line, and what
was written.
"""

from __future__ import annotations

import json
import textwrap
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

EXITING_OPS = OPS + '''

import sys


def exits_zero(db, params):
    sys.exit(0)


async def exits_three(db, params):
    sys.exit(3)


register("exits.sync", variants={"naive": count_naive, "optimized": exits_zero},
         params=no_params)
register("exits.async", variants={"naive": exits_three, "optimized": count_optimized},
         params=no_params)
'''


def test_a_variant_calling_sys_exit_is_that_variants_failure(tmp_path: Path,
                                                             project: Project) -> None:
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


@pytest.mark.parametrize(("where", "expected"), [
    ("perf/ops.py", "perf/ops.py': SystemExit: sys.exit(0) called"),
    ("shop/models.py", "'shop.models:Base.metadata' does not import: SystemExit: sys.exit(0)"),
    ("perf/seed.py", "'perf.seed:seed' does not import: SystemExit: sys.exit(0)"),
])
def test_sys_exit_while_importing_user_code_is_exit_2_naming_the_module(
        tmp_path: Path, project: Project, where: str, expected: str) -> None:
    app = make_app(tmp_path)
    path = app / where
    path.write_text("import sys\nsys.exit(0)\n" + path.read_text())
    proc = project.run(app, "audit")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in one_line_error(proc)


def test_sys_exit_from_the_seed_hook_is_exit_2_naming_it(tmp_path: Path,
                                                         project: Project) -> None:
    exiting = SEED + "\n\ndef leaves(engine, scale, seed):\n    raise SystemExit(0)\n"
    app = make_app(tmp_path, config=CONFIG.replace('"perf.seed:seed"', '"perf.seed:leaves"'),
                   seed=exiting)
    proc = project.run(app, "audit")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[-1] == ("error: seed hook perf.seed:leaves raised "
                                            "SystemExit: sys.exit(0) called")
    assert "dalperf_project_template" not in project.databases()
