"""Configuration that names nothing, or something unusable, is one line before anything runs:
``--config`` without ``[tool.dalperf]``, a file as the schema, the plugin's output files
that cannot be written, a ``--dalperf-metadata`` module that raises; and ``compare`` on a
project made by ``dalperf init``-style configuration.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.test_project import (
    CONFIG,
    Project,
    make_app,
    one_line_error,
    project,  # noqa: F401 (a fixture)
    project_server,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.faults
pytest_plugins = ["pytester"]

UNWRITABLE_FOLDER = Path("/proc")  # exists, and no file can be created in it, even by root


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", '[project]\nname = "app"\n'),
        ("other.toml", "[tool.ruff]\nline-length = 100\n"),
        ("empty.toml", ""),
    ],
)
def test_a_config_file_without_tool_dalperf_is_exit_2_naming_it(
    tmp_path: Path, project: Project, name: str, text: str
) -> None:
    app = make_app(tmp_path)
    (app / "settings").mkdir()
    (app / "settings" / name).write_text(text)
    proc = project.run(app, "run", "--config", f"settings/{name}", "--out", "r.json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert one_line_error(proc) == (
        f"error: config file settings/{name} has no [tool.dalperf] table (give the file "
        "holding dalperf's settings, or a TOML file of them)"
    )
    assert not (app / "r.json").exists()


def test_a_file_as_the_schema_says_what_a_schema_source_is(
    tmp_path: Path, project: Project
) -> None:
    app = make_app(
        tmp_path, config=CONFIG.replace('"shop.models:Base.metadata"', '"db/0001_init.sql"')
    )
    (app / "db").mkdir()
    (app / "db" / "0001_init.sql").write_text("CREATE TABLE authors (id int PRIMARY KEY);\n")
    proc = project.run(app, "audit")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = one_line_error(proc)
    assert "schema 'db/0001_init.sql': 0001_init.sql is a file, not a schema source" in error
    assert (
        "a folder of SQL migrations, an Alembic .ini, or 'package.module:Base.metadata'" in error
        and "db/, is one" in error
    )


def test_compare_honours_tool_dalperf_and_the_project_root(
    tmp_path: Path, project: Project
) -> None:
    app = make_app(tmp_path)
    git = ["git", "-C", str(app), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    proc = project.run(
        app, "compare", "--base", "HEAD", "--only", "authors.count", "--out", "c.json"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    compared = json.loads((app / "c.json").read_text())
    assert {(p["operation"], p["variant"]) for p in compared["pairs"]} == {
        ("authors.count", "naive"),
        ("authors.count", "optimized"),
    }
    assert compared["settings"]["iterations"] == 3  # tool.dalperf iterations
    assert (
        not subprocess.run(
            [*git, "worktree", "list", "--porcelain"], capture_output=True, text=True, check=True
        ).stdout.count("worktree ")
        > 1
    )


@pytest.mark.parametrize(
    "options",
    [
        ("--dalperf-json", str(UNWRITABLE_FOLDER / "dalperf-suite.json")),
        (
            "--dalperf-baseline",
            str(UNWRITABLE_FOLDER / "dalperf-baseline.json"),
            "--dalperf-update-baseline",
        ),
    ],
)
def test_the_plugins_unwritable_output_is_a_usage_error_before_the_tests(
    pytester: pytest.Pytester, options: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_green="def test_green():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == [
        (f"ERROR: {options[0]}: cannot write {options[1]}: No such file or directory")
    ], result.stderr.str()
    assert "test_green" not in result.stdout.str()


def test_a_metadata_module_that_raises_is_one_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        raising_models="raise RuntimeError('no models today')\n",
        test_pg="def test_a(dalperf_postgres):\n    pass\n\n"
        "def test_b(dalperf_postgres):\n    pass\n",
    )
    pytester.syspathinsert()
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--dalperf-metadata", "raising_models:Base.metadata"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line.strip()] == [
        (
            "ERROR: --dalperf-metadata raising_models:Base.metadata: raising_models raised while "
            "importing: RuntimeError: no models today"
        )
    ]
