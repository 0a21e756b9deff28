"""A fresh virtual environment with dalperf's wheel and real dependencies from the index: what
``pip install dalperf pytest`` gives a new user.

Used by tests/test_extras.py (the base install, no extra) and by
benchmarks/install_size.py (its size, distribution count and install time).  The wheel is
built from a copy of the tracked files, so the checkout stays clean.  ``uv`` installs when it
is on PATH (seconds, from its cache); otherwise the venv's own pip does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALLER_DISTRIBUTIONS = frozenset({"pip", "setuptools"})  # left out of the counts


def copy_tracked(destination: Path) -> Path:
    """The tracked (and untracked, not ignored) files of the checkout, copied."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    return destination


def build_wheel(folder: Path) -> Path:
    """dalperf's wheel, built from a copy of the checkout into ``folder``."""
    source = copy_tracked(folder / "source")
    dist = folder / "dist"
    if shutil.which("uv"):
        command = ["uv", "build", "--wheel", "--quiet", "--out-dir", str(dist), str(source)]
    else:
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(dist),
            str(source),
        ]
    subprocess.run(command, check=True, capture_output=True)
    return next(dist.glob("dalperf-*.whl"))


@dataclass(frozen=True)
class Venv:
    """A virtual environment made by :func:`create`."""

    path: Path
    install_s: float

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def site_packages(self) -> Path:
        return next((self.path / "lib").glob("python3*/site-packages"))

    def distributions(self) -> list[str]:
        """Installed distributions (normalised names), pip and setuptools aside."""
        names = {
            p.name.split("-")[0].lower().replace("_", "-")
            for p in self.site_packages.glob("*.dist-info")
        }
        return sorted(names - INSTALLER_DISTRIBUTIONS)

    def size_bytes(self) -> int:
        """Bytes under site-packages, pip and setuptools (and their metadata) aside."""
        skip = (
            *tuple(INSTALLER_DISTRIBUTIONS),
            "_distutils_hack",
            "distutils-precedence.pth",
            "pkg_resources",
        )
        total = 0
        for entry in self.site_packages.iterdir():
            if entry.name.split("-")[0].lower() in skip or entry.name in skip:
                continue
            files = entry.rglob("*") if entry.is_dir() else [entry]
            total += sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink())
        return total

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a user who activated this venv (nothing of the test's own)."""
        keep = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "VIRTUAL_ENV", "DALPERF", "PYTEST"))
        }
        return {
            **keep,
            "PATH": f"{self.bin}:{keep.get('PATH', '')}",
            "COLUMNS": "200",
            "VIRTUAL_ENV": str(self.path),
            **extra,
        }


def create(
    path: Path,
    requirements: list[str],
    *,
    installer: str | None = None,
    compile_bytecode: bool = False,
) -> Venv:
    """A new venv at ``path`` with ``requirements`` installed (``installer``: ``uv`` or
    ``pip``; by default uv when it is on PATH); :attr:`Venv.install_s` times the install.

    ``compile_bytecode`` writes the ``.pyc`` files at install, as pip does for a user (what
    start-up timings need; uv skips it unless asked, and so does pip under
    ``PYTHONDONTWRITEBYTECODE``, which is then left out of the install's environment).
    """
    installer = installer or ("uv" if shutil.which("uv") else "pip")
    env = {
        k: v
        for k, v in os.environ.items()
        if not (compile_bytecode and k == "PYTHONDONTWRITEBYTECODE")
    }
    if installer == "uv":
        subprocess.run(
            ["uv", "venv", "--quiet", "--python", sys.executable, str(path)],
            check=True,
            capture_output=True,
        )
        command = [
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            str(path / "bin" / "python"),
            *(["--compile-bytecode"] if compile_bytecode else []),
            *requirements,
        ]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
        command = [
            str(path / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *([] if compile_bytecode else ["--no-compile"]),
            *requirements,
        ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return Venv(path=path, install_s=time.perf_counter() - started)
