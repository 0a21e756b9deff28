"""Start-up cost: ``dalperf --help`` beside ``python -c pass``, and the pytest plugin's load.

Targets (issue "One dalperf import name"): ``dalperf --help`` median of 10 runs at most
0.3 s; the plugin adds at most 50 ms (median) to ``pytest --co -q`` of a 50-test project
that does not use it, measured against ``-p no:dalperf``, the two interleaved::

    .venv/bin/python benchmarks/startup.py [--runs 10 | --quick]

dalperf and the environment's packages are byte-compiled first, as ``pip install`` leaves
them (:func:`byte_compile`).
benchmarks/install_size.py runs the same measures in a fresh venv installed from the wheel
(:func:`measure`).
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

TESTS = 50
HELP_MS = 300
PLUGIN_MS = 50
QUICK_RUNS = 3


def byte_compile() -> None:
    """Byte-compile dalperf (an editable checkout too) and the packages of this environment,
    as ``pip install`` leaves them.  uv does not compile, and under ``PYTHONDONTWRITEBYTECODE``
    nothing writes a ``.pyc`` later, so every run would compile what it imports from source:
    the side that imports more (the CLI; the plugin's dalperf modules, and in a test run
    pglast and the capture layer in every xdist worker) would be timed compiling."""
    import dalperf

    paths = sysconfig.get_paths()
    for folder in sorted({paths["purelib"], paths["platlib"], str(Path(dalperf.__file__).parent)}):
        compileall.compile_dir(folder, quiet=2)


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


def measure(python: str, dalperf: str, folder: Path, runs: int) -> list[str]:
    """Print ``dalperf --help`` beside ``python -c pass``, and the plugin's added cost on
    ``pytest --co -q`` of a generated project in ``folder``, both with ``python`` (the
    environment dalperf is installed in), medians of ``runs`` interleaved runs; return
    the summary lines of the two targets."""
    python_pass, help_runs = [], []
    for _ in range(runs):  # interleaved, so that drift hits both alike
        python_pass.append(timed([python, "-c", "pass"]))
        help_runs.append(timed([dalperf, "--help"]))
    helped = statistics.median(help_runs) * 1000
    print(f"python -c pass   median {statistics.median(python_pass) * 1000:7.1f} ms")
    print(f"dalperf --help   median {helped:7.1f} ms ({runs} runs)")

    suite = project(folder)
    collect = [python, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
    with_plugin, without = [], []
    for _ in range(runs):
        with_plugin.append(timed(collect, cwd=suite))
        without.append(timed([*collect, "-p", "no:dalperf"], cwd=suite))
    added = (statistics.median(with_plugin) - statistics.median(without)) * 1000
    print(
        f"pytest --co -q ({TESTS} tests) with the plugin  median "
        f"{statistics.median(with_plugin) * 1000:7.1f} ms"
    )
    print(
        f"pytest --co -q ({TESTS} tests) -p no:dalperf    median "
        f"{statistics.median(without) * 1000:7.1f} ms"
    )
    return [
        f"target dalperf --help <= {HELP_MS} ms: {helped:.1f} ms "
        f"{'met' if helped <= HELP_MS else 'NOT met'}",
        f"target the plugin adds to pytest --co <= +{PLUGIN_MS} ms: {added:+.1f} ms "
        f"{'met' if added <= PLUGIN_MS else 'NOT met'}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 runs of each")
    args = parser.parse_args()
    dalperf = shutil.which("dalperf", path=str(Path(sys.executable).parent))
    if dalperf is None:
        sys.exit("dalperf is not installed in this Python's environment")
    byte_compile()
    with tempfile.TemporaryDirectory() as tmp:
        summary = measure(
            sys.executable, dalperf, Path(tmp), QUICK_RUNS if args.quick else args.runs
        )
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
