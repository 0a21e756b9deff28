"""Start-up cost: ``dalperf --help`` beside ``python -c pass``, and the pytest plugin's load.

Targets (issue "One dalperf import name"): ``dalperf --help`` median of 10 runs at most
0.3 s; the plugin adds at most 50 ms (median) to ``pytest --co -q`` of a 50-test project
that does not use it, measured against ``-p no:dalperf``, the two interleaved::

    .venv/bin/python benchmarks/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 50


def timed(command: list[str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def project(folder: Path) -> Path:
    """A project of ``TESTS`` plain tests that never touches dalperf."""
    (folder / "tests").mkdir(parents=True)
    for i in range(TESTS // 5):
        (folder / "tests" / f"test_m{i}.py").write_text(
            "".join(f"def test_{j}():\n    assert {j} + 1 == {j + 1}\n\n" for j in range(5))
        )
    (folder / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    dalperf = shutil.which("dalperf", path=str(Path(sys.executable).parent))
    if dalperf is None:
        sys.exit("dalperf is not installed in this Python's environment")
    python_pass, help_runs = [], []
    for _ in range(args.runs):  # interleaved, so that drift hits both alike
        python_pass.append(timed([sys.executable, "-c", "pass"]))
        help_runs.append(timed([dalperf, "--help"]))
    print(f"python -c pass   median {statistics.median(python_pass) * 1000:7.1f} ms")
    print(
        f"dalperf --help   median {statistics.median(help_runs) * 1000:7.1f} ms "
        f"(target <= 300 ms; {args.runs} runs)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = project(Path(tmp))
        collect = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
        with_plugin, without = [], []
        for _ in range(args.runs):
            with_plugin.append(timed(collect, cwd=folder))
            without.append(timed([*collect, "-p", "no:dalperf"], cwd=folder))
    added = (statistics.median(with_plugin) - statistics.median(without)) * 1000
    print(
        f"pytest --co -q ({TESTS} tests) with the plugin    median "
        f"{statistics.median(with_plugin) * 1000:7.1f} ms"
    )
    print(
        f"pytest --co -q ({TESTS} tests) -p no:dalperf      median "
        f"{statistics.median(without) * 1000:7.1f} ms"
    )
    print(f"the plugin adds {added:+.1f} ms (target <= +50 ms)")


if __name__ == "__main__":
    main()
