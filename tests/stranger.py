"""A stranger's machine: dalperf's wheel installed non-editable into a fresh virtual environment,
beside an app folder of the stranger's whose own packages are named ``seed``, ``migrations``
and ``reports`` (names PyPI distributions use too).

The fresh environment gets dalperf itself from the wheel, built from a copy of the tracked
files; its dependencies come from the test environment's site-packages through a ``.pth``
line, which adds that folder to ``sys.path`` without running its own ``.pth`` files, so the
editable install of the checkout is invisible there.  That keeps the test to seconds
instead of downloading pandas, SciPy and matplotlib again.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import site
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_FILES = {
    "seed.py": "MINE = 'seed'\n",
    "migrations/__init__.py": "MINE = 'migrations'\n",
    "reports/__init__.py": "MINE = 'reports'\n",
}


@dataclass(frozen=True)
class Stranger:
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
        keep = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "VIRTUAL_ENV", "DALPERF", "PYTEST"))
        }
        return {
            **keep,
            "PATH": f"{self.bin}:{keep.get('PATH', '')}",
            "PYTHONPATH": str(self.app),
            "DALPERF_HOME": str(self.root / "home"),
            "COLUMNS": "200",
        }

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


def build_wheel(root: Path) -> Path:
    """dalperf's wheel, built from a copy of the tracked files (the checkout stays clean)."""
    source = root / "source"
    tracked = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)],
        check=True,
    )
    return next(dist.glob("dalperf-*.whl"))


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
