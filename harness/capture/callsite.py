"""The application's call site of a statement: the first stack frame of the user's code.

The user's code is every frame that is not machinery.  Machinery is dalperf itself (not its
case study, ``dalperf.scenarios``), the standard library, and every installed distribution
(SQLAlchemy, the drivers, pytest and pluggy, SQLModel, pydantic, jinja2, anyio, starlette,
fastapi, factory_boy, greenlet...): files under the interpreter's ``stdlib``, ``purelib`` or
``platlib`` paths or a site-packages folder, and code without a file (``<string>``,
``<frozen ...>``).  A distribution installed editable (``direct_url.json`` with
``dir_info.editable``), code under the project's root and the packages the user names as
theirs (:func:`configure`, the plugin's ``dalperf_app_packages``) are the user's.

Each code object's file is classified once (cached by ``co_filename``), so the walk costs a
dict lookup per frame.  On an AsyncEngine, SQLAlchemy runs its synchronous core in a
greenlet whose stack ends at the greenlet's start, so the walk continues in the parent
greenlet, where the awaiting application coroutine is suspended.
"""

from __future__ import annotations

import json
import os
import site
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from types import FrameType

import greenlet

# module names that are machinery wherever their files are (a driver outside site-packages)
_MACHINERY = frozenset(
    {
        "dalperf",
        "sqlalchemy",
        "psycopg",
        "psycopg_binary",
        "psycopg2",
        "asyncpg",
        "greenlet",
        "asyncio",
        "concurrent",
        "threading",
        "contextlib",
        "selectors",
        "pytest",
        "_pytest",
        "pluggy",
        "anyio",
        "starlette",
        "fastapi",
        "sqlmodel",
        "pydantic",
        "pydantic_core",
        "jinja2",
        "factory",
        "flask",
        "flask_sqlalchemy",
        "werkzeug",
        "httpx",
        "httpcore",
    }
)
_CASE_STUDY = "dalperf.scenarios"  # installed inside dalperf, but application code

_user_files: dict[str, bool] = {}  # co_filename -> the user's code
_user_dirs: tuple[str, ...] = ()  # dalperf_app_packages' folders
_folders: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # see _prefixes


def configure(app_dirs: Iterable[str]) -> None:
    """Treat files under ``app_dirs`` (the folders of packages the user names) as the user's
    code, wherever they are installed."""
    global _user_dirs
    _user_dirs = tuple(_folder(d) for d in app_dirs)
    _user_files.clear()


Site = tuple[str, str | None]  # (the call site, its caller's "path:line"), see call_site


def call_site() -> Site | None:
    """``("path:line in function", caller)`` of the innermost user frame, or None if there
    is none.  ``caller`` is the ``path:line`` of the next user frame above it (None when the
    stack has none: a worker thread's or an asyncio task's own stack), which tells a loop
    (one caller line) from separate calls of a helper (one caller line each)."""
    frame: FrameType | None = sys._getframe(1)
    current: greenlet.greenlet | None = greenlet.getcurrent()
    files = _user_files
    site: str | None = None
    while True:
        while frame is not None:
            code = frame.f_code
            user = files.get(code.co_filename)
            if user is None:
                user = files[code.co_filename] = _classify(
                    code.co_filename, frame.f_globals.get("__name__", "")
                )
            if user:
                if site is not None:
                    return site, f"{code.co_filename}:{frame.f_lineno}"
                site = f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
            frame = frame.f_back
        current = current.parent if current is not None else None
        if current is None:
            return (site, None) if site is not None else None
        frame = current.gr_frame


def _classify(filename: str, module: str) -> bool:
    """Whether code in ``filename`` (module ``module``) is the user's: the most specific
    folder that holds it decides (a project's ``.venv`` inside an editable project is
    machinery; the case study inside dalperf is the user's)."""
    if not filename or filename.startswith("<"):
        return False
    path = _folder(filename)
    if _user_dirs and path.startswith(_user_dirs):
        return True
    if module == _CASE_STUDY or module.startswith(_CASE_STUDY + "."):
        return True
    if module.partition(".")[0] in _MACHINERY:
        return False
    machinery, user = _prefixes()
    return _longest(path, user) >= _longest(path, machinery)


def _longest(path: str, prefixes: tuple[str, ...]) -> int:
    return max((len(p) for p in prefixes if path.startswith(p)), default=-1)


def _prefixes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(machinery folders, user folders), found once: the interpreter's library and
    site-packages paths and dalperf's own folder; editable installs and the case study."""
    global _folders
    if _folders is None:
        import dalperf

        paths = {
            sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")
        }
        paths.update(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
        paths.add(site.getusersitepackages())
        paths.update(
            p for p in sys.path if p.rstrip(os.sep).endswith(("site-packages", "dist-packages"))
        )
        own = _folder(os.path.dirname(dalperf.__file__))
        machinery = tuple(sorted({_folder(p) for p in paths if p} | {own}))
        _folders = (machinery, tuple(_editable_dirs()))
    return _folders


def _editable_dirs() -> list[str]:
    """The source folders of distributions installed editable (``direct_url.json``)."""
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    found = []
    for distribution in metadata.distributions():
        text = distribution.read_text("direct_url.json")
        if not text:
            continue
        try:
            data = json.loads(text)
        except ValueError:
            continue
        url = str(data.get("url", "")) if isinstance(data, dict) else ""
        info = data.get("dir_info") if isinstance(data, dict) else None
        if isinstance(info, dict) and info.get("editable") and url.startswith("file:"):
            found.append(_folder(unquote(urlparse(url).path)))
    return found


def _folder(path: str) -> str:
    """``path`` resolved, ending with a separator (so that a prefix test matches folders)."""
    return str(Path(path).resolve()).rstrip(os.sep) + os.sep
