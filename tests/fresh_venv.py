"""A fresh virtual environment with dalperf's wheel and real dependencies from the index: what
``pip install dalperf pytest`` gives a new user.

Used by tests/test_extras.py (the base install, no extra) and by
benchmarks/install_size.py (its size, distribution count and install time).  The wheel is
built from a copy of the tracked files, so the checkout stays clean.  ``uv`` installs when it
is on PATH (seconds, from its cache); otherwise the venv's own pip does.

:class:`Stranger` (tests/test_layout.py) is a stranger's machine: the same wheel installed
non-editable into a fresh venv beside an app folder whose own packages are named ``seed``,
``migrations`` and ``reports`` (names PyPI distributions use too).  Its dependencies come
from the test environment's site-packages through a ``.pth`` line, which adds that folder to
``sys.path`` without running its own ``.pth`` files, so the editable install of the
checkout is invisible there; that keeps the test to seconds instead of downloading pandas,
SciPy and matplotlib again.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import site
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALLER_DISTRIBUTIONS = frozenset({"pip", "setuptools"})  # left out of the counts
APP_FILES = {
    "seed.py": "MINE = 'seed'\n",
    "migrations/__init__.py": "MINE = 'migrations'\n",
    "reports/__init__.py": "MINE = 'reports'\n",
}


def user_env(bin_folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a user whose PATH starts at ``bin_folder`` (nothing of the test's
    own Python, venv, dalperf or pytest settings)."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "DALPERF", "PYTEST"))
    }
    return {**keep, "PATH": f"{bin_folder}:{keep.get('PATH', '')}", "COLUMNS": "200", **extra}


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
        return user_env(self.bin, VIRTUAL_ENV=str(self.path), **extra)


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


@dataclass(frozen=True)
class Stranger:
    """A stranger's machine (see the module's docstring)."""

    root: Path
    wheel: Path
    venv: Path
    app: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @classmethod
    def install(cls, root: Path) -> Stranger:
        wheel = build_wheel(root)
        venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        packages = (
            venv
            / "lib"
            / f"python{sys.version_info.major}.{sys.version_info.minor}"
            / "site-packages"
        )
        (packages / "_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(venv / "bin" / "python"),
                "install",
                "-q",
                "--no-deps",
                str(wheel),
            ],
            check=True,
        )
        app = root / "app"
        for name, text in APP_FILES.items():
            (app / name).parent.mkdir(parents=True, exist_ok=True)
            (app / name).write_text(text)
        return cls(root=root, wheel=wheel, venv=venv, app=app)

    def env(self) -> dict[str, str]:
        return user_env(self.bin, PYTHONPATH=str(self.app), DALPERF_HOME=str(self.root / "home"))

    def run(self, *command: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(c) for c in command],
            cwd=self.app,
            env=self.env(),
            capture_output=True,
            text=True,
            check=check,
            timeout=600,
        )

    def dalperf(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.bin / "dalperf", *args, check=check)

    def python(self, code: str) -> str:
        return self.run(self.bin / "python", "-c", code).stdout.strip()

    def top_level(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/top_level.txt"))
            return wheel.read(name).decode().split()

    def wheel_names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as wheel:
            return wheel.namelist()

    def install_and_remove_a_colliding_app(self) -> None:
        """Install, then uninstall, a distribution shipping top-level migrations and reports."""
        collider = make_wheel(
            self.root / "collider",
            "collider",
            {"migrations/__init__.py": "", "reports/__init__.py": "", "seed/__init__.py": ""},
        )
        pip = [sys.executable, "-m", "pip", "--python", str(self.bin / "python")]
        subprocess.run([*pip, "install", "-q", "--no-deps", str(collider)], check=True)
        subprocess.run([*pip, "uninstall", "-q", "-y", "collider"], check=True)


def make_wheel(folder: Path, name: str, files: dict[str, str]) -> Path:
    """A minimal pure-Python wheel holding ``files`` (what a build backend would write)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-1.0.dist-info"
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: dalperf-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/top_level.txt": "".join(sorted({f.split("/")[0] + "\n" for f in files})),
    }
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel
