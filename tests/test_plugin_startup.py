"""The plugin's load, installed from the wheel as users have it: pytest's assertion rewriting
stops at the plugin module, so the rest of dalperf loads through Python's own loader.

pytest marks every module of a distribution with a ``pytest11`` entry point for rewriting;
from a wheel that is all of ``dalperf``, and a rewritten module is parsed and compiled again
whenever pytest cannot cache it (``PYTHONDONTWRITEBYTECODE``, a read-only site-packages).
An editable install is not marked at all, so only the wheel shows the difference.
"""

from __future__ import annotations

import ast
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
