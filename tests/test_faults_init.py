"""``dalperf init`` writes all of its files or none: a full disk (``RLIMIT_FSIZE``, which
holds for root too) at any of its writes leaves the project as it was, the original
``pyproject.toml`` included, so that ``init`` can simply be run again; ``perf`` being a file
is one line, exit 3.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_project import MODELS

pytestmark = pytest.mark.faults

# a pyproject.toml longer than any file perf/ gets, so that a file size limit between the
# two lets perf/ be written and fails the pyproject.toml, the last write
PYPROJECT = '[project]\nname = "shop"\n' + "".join(f"# note {i:04d}\n" for i in range(400))


def _app(root: Path) -> Path:
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "models.py").write_text(MODELS)
    (root / "pyproject.toml").write_text(PYPROJECT)
    return root


def _init(root: Path, *, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    preexec: Callable[[], None] = limited
    env = {**os.environ, "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "dalperf", "init", "shop.models"],
        cwd=root,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
        preexec_fn=preexec,
    )


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize(
    ("limit", "failing"),
    [
        (16, "perf/"),  # every write fails: the first perf/ file
        (len(PYPROJECT) - 1, "pyproject.toml"),  # perf/ is written, the pyproject.toml fails
    ],
)
def test_a_failed_write_leaves_the_project_as_it_was(
    tmp_path: Path, limit: int, failing: str
) -> None:
    root = _app(tmp_path / "app")
    before = _files(root)
    proc = _init(root, limit=limit)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: dalperf init: cannot write file "), (
        proc.stderr
    )
    assert lines[0].endswith("File too large; nothing written")
    assert f"cannot write file {root / failing}" in lines[0]
    assert _files(root) == before
    assert not (root / "perf").exists()
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]

    again = _init(root)
    assert again.returncode == 0, again.stderr
    assert (root / "pyproject.toml").read_text().startswith(PYPROJECT)
    assert "[tool.dalperf]" in (root / "pyproject.toml").read_text()
    assert (root / "perf" / "ops.py").is_file()


def test_perf_being_a_file_is_one_line_exit_3(tmp_path: Path) -> None:
    root = _app(tmp_path / "app")
    (root / "perf").write_text("notes\n")
    before = _files(root)
    proc = _init(root)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [
        f"error: dalperf init: {root / 'perf'} is a file, not a folder; nothing written"
    ]
    assert _files(root) == before
