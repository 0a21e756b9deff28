"""What ``pip install dalperf pytest`` costs a new user, beside the peer plugin.

Builds dalperf's wheel from the checkout, installs it with pytest (no extra) into a fresh
venv, and prints the venv's site-packages size, its distribution count (pip and setuptools
aside) and the install time; the same for the peer, ``pytest-queryguard`` with
``psycopg[binary]``.  Then, in dalperf's light venv: ``dalperf --help`` (target <= 0.3 s)
and the plugin's added cost on ``pytest --co -q`` of a generated 50-test suite (target
<= +50 ms), medians of ``--runs`` interleaved runs.  Targets of the base install: <= 120 MB
and <= 28 distributions.  Run from the repository root::

    .venv/bin/python benchmarks/install_size.py [--installer pip|uv] [--runs 10 | --quick]

``--installer pip`` (the default) is what a user runs: ``python -m venv`` and its pip, from
pip's cache when it has the wheels, byte-compiling as it installs (so the size includes
the ``.pyc`` files); ``uv`` is faster.  Install times depend on the network and the cache;
sizes and counts do not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from startup import QUICK_RUNS, measure  # benchmarks/startup.py, beside this

from tests import fresh_venv

PEER = ["pytest-queryguard", "psycopg[binary]", "pytest"]
MAX_MB = 120
MAX_DISTRIBUTIONS = 28


def describe(label: str, venv: fresh_venv.Venv) -> None:
    names = venv.distributions()
    print(
        f"{label:<46} {venv.size_bytes() / 2**20:7.1f} MB  {len(names):3d} distributions  "
        f"installed in {venv.install_s:5.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installer", choices=("pip", "uv"), default="pip")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 runs of each timing")
    parser.add_argument("--list", action="store_true", help="list each venv's distributions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dalperf-install-") as tmp:
        folder = Path(tmp)
        wheel = fresh_venv.build_wheel(folder)
        ours = fresh_venv.create(
            folder / "dalperf",
            [str(wheel), "pytest"],
            installer=args.installer,
            compile_bytecode=True,
        )
        peer = fresh_venv.create(
            folder / "peer", PEER, installer=args.installer, compile_bytecode=True
        )
        print(
            f"installer: {args.installer}; site-packages size and distributions, pip and "
            "setuptools aside"
        )
        describe("pip install dalperf pytest", ours)
        describe("pip install pytest-queryguard psycopg[binary] pytest", peer)
        print(f"targets for dalperf: <= {MAX_MB} MB, <= {MAX_DISTRIBUTIONS} distributions")
        if args.list:
            print("dalperf:", " ".join(ours.distributions()))
            print("peer:   ", " ".join(peer.distributions()))

        runs = QUICK_RUNS if args.quick else args.runs
        summary = measure(
            str(ours.bin / "python"), str(ours.bin / "dalperf"), folder / "suite", runs
        )
        size = ours.size_bytes() / 2**20
        count = len(ours.distributions())
    print(
        f"target base install <= {MAX_MB} MB: {size:.1f} MB {'met' if size <= MAX_MB else 'NOT met'}"
    )
    print(
        f"target base install <= {MAX_DISTRIBUTIONS} distributions: {count} "
        f"{'met' if count <= MAX_DISTRIBUTIONS else 'NOT met'}"
    )
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
