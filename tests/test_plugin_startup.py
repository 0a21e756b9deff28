"""The plugin's load, installed from the wheel as users have it: pytest's assertion rewriting
stops at the plugin module, so the rest of dalperf loads through Python's own loader.

pytest marks every module of a distribution with a ``pytest11`` entry point for rewriting;
from a wheel that is all of ``dalperf``, and a rewritten module is parsed and compiled again
whenever pytest cannot cache it (``PYTHONDONTWRITEBYTECODE``, a read-only site-packages).
An editable install is not marked at all, so only the wheel shows the difference.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fresh_venv import Stranger

PROBE = """
import sys

from _pytest.assertion.rewrite import AssertionRewritingHook


def test_loaders():
    import dalperf.capture.session  # what the plugin imports for the first captured test
    import dalperf.pytest_support.suite

    rewritten = sorted(
        name
        for name, module in sys.modules.items()
        if name.partition(".")[0] == "dalperf"
        and isinstance(getattr(module, "__loader__", None), AssertionRewritingHook)
    )
    plain = sorted(name for name in sys.modules if name.partition(".")[0] == "dalperf")
    print("REWRITTEN", rewritten)
    print("LOADED", plain)
"""


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Stranger:
    return Stranger.install(tmp_path_factory.mktemp("stranger"))


def _printed(stdout: str, label: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if line.startswith(label + " "))
    names = ast.literal_eval(line.removeprefix(label + " "))
    assert isinstance(names, list)
    return names


def test_only_the_plugin_module_goes_through_assertion_rewriting(stranger: Stranger) -> None:
    probe: Path = stranger.app / "test_probe_loaders.py"
    probe.write_text(PROBE)
    done = stranger.run(
        stranger.bin / "python",
        "-m",
        "pytest",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        probe.name,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rewritten = _printed(done.stdout, "REWRITTEN")
    loaded = _printed(done.stdout, "LOADED")
    # pytest did mark the wheel's package (the plugin module came through its hook) ...
    assert "dalperf.pytest_plugin" in rewritten
    # ... and nothing imported after the plugin registered did
    assert set(rewritten) <= {"dalperf", "dalperf.pytest_plugin"}
    assert {"dalperf.capture.session", "dalperf.capture.recorder"} <= set(loaded)
    assert "dalperf.pytest_support.settings" in loaded


LOADED_AT_END = """
import json
import os
import sys


def pytest_unconfigure(config):
    with open(os.environ["LOADED_AT_END"], "w") as out:
        json.dump(sorted(name for name in sys.modules if name.startswith("dalperf.")), out)
"""


def _collect_only(tmp_path: Path, *args: str) -> list[str]:
    """The dalperf modules loaded by the end of ``pytest --co`` of two plain tests."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(LOADED_AT_END)
    (project / "test_plain.py").write_text("def test_a():\n    pass\n\n\ndef test_b():\n    pass\n")
    loaded = tmp_path / "loaded.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env={**os.environ, "LOADED_AT_END": str(loaded)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 tests collected" in done.stdout
    names = json.loads(loaded.read_text())
    assert isinstance(names, list)
    return names


def test_collecting_loads_only_the_settings(tmp_path: Path) -> None:
    loaded = _collect_only(tmp_path)
    assert "dalperf.pytest_support.settings" in loaded
    assert not [name for name in loaded if name.startswith(("dalperf.capture", "dalperf.results"))]
    assert "dalperf.pytest_support.suite" not in loaded


def test_a_report_asked_for_makes_the_suite_at_configure(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    loaded = _collect_only(tmp_path, f"--dalperf-json={report}")
    assert "dalperf.pytest_support.suite" in loaded
    assert report.is_file()  # written at the end, though no test ran
