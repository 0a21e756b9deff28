"""The checks a well-kept Python project runs, as tests: ruff's rules and format, mypy, and
the import contracts of the layers (import-linter).

They run in the suite so that the README's test command (and so CI) fails on a lint error,
an unformatted file or a type error, with the tool's own report as the failure message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["harness", "scenarios", "seed", "tests", "benchmarks"]


def _tool(name: str) -> str:
    """The tool installed beside this interpreter (the test extra brings ruff and mypy)."""
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]'"
    return found


def _run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_ruff_rules() -> None:
    result = _run(_tool("ruff"), "check", "--no-fix", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = _run(_tool("ruff"), "format", "--check", "--diff", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def _package_tree(into: Path) -> Path:
    """The ``dalperf`` package as installed, made of links to the repository's folders.

    The folders of the product card map onto one import name (``harness/`` is ``dalperf``,
    ``scenarios/`` is ``dalperf.scenarios``…) through setuptools' ``package-dir``, which an
    editable install resolves with an import hook that mypy cannot follow; a tree of links
    gives mypy the installed layout while it reads the repository's own files.
    """
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(package_dir.items()):
        target = into.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for entry in (ROOT / folder).iterdir():
            if entry.name != "__pycache__" and not (target / entry.name).exists():
                (target / entry.name).symlink_to(entry)
    return into


@pytest.mark.timeout(600)
def test_mypy(tmp_path: Path) -> None:
    tree = _package_tree(tmp_path / "tree")
    result = _run(
        _tool("mypy"),
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(tmp_path / "cache"),
        cwd=tree,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's contracts of ``pyproject.toml`` over the package in ``tree``."""
    return subprocess.run(
        [_tool("lint-imports"), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_import_contracts(tmp_path: Path) -> None:
    result = _lint_imports(_package_tree(tmp_path / "tree"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_import_contracts_refuse_an_import_that_points_up(tmp_path: Path) -> None:
    """The contracts bite: a module of the base layer importing the commands breaks them."""
    tree = _package_tree(tmp_path / "tree")
    version = tree / "dalperf" / "version.py"
    text = version.read_text()
    version.unlink()
    version.write_text(text + "\nimport dalperf.cli  # points up\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert "layers point down BROKEN" in result.stdout
    assert "dalperf.version -> dalperf.cli" in result.stdout
