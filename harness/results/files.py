"""Reading and writing dalperf's JSON records: atomic writes, one-line errors on bad files."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dalperf.errors import EnvironmentProblem, UsageError

T = TypeVar("T")


def dumps(data: Any) -> str:
    """``data`` as indented JSON; NaN and infinities (which JSON lacks) become ``null``."""
    return json.dumps(finite_json(data), indent=1) + "\n"


def write_atomic(path: Path, text: str, *, what: str = "file") -> None:
    """Write ``text`` to ``path`` so that a crash or a full disk never leaves half a file.

    The text goes to a temporary file in the same folder (so the final rename is atomic),
    which is removed again on any failure: the old ``path``, if any, stays intact and no
    ``.tmp`` is left behind.  A ``path`` that is a folder is a :class:`UsageError`; a write
    the machine refuses (disk full, quota, file size limit, read-only or forbidden folder)
    is an :class:`EnvironmentProblem` naming the file.
    """
    if path.is_dir():
        raise UsageError(f"{what} {path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(name)
        try:
            with open(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fchmod(handle.fileno(), _mode_for(path))
                os.fsync(handle.fileno())
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except NotADirectoryError as exc:
        raise UsageError(f"cannot write {what} {path}: {exc.strerror} ({exc.filename})") from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise EnvironmentProblem(f"cannot write {what} {path}: {reason}") from exc


def _mode_for(path: Path) -> int:
    """The permissions a new ``path`` gets: the old file's, else what the umask allows
    (a temporary file is created private, 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def read(path: Path, parse: Callable[[Any], T], *, what: str) -> T:
    """``parse`` of the JSON in ``path``; any problem is a :class:`UsageError` naming the file.

    ``NaN``, ``Infinity`` and numbers too large for a float are kept recognisable (see
    :func:`dalperf.results.schema.loads`) for ``parse`` to refuse with their JSON path.
    """
    from dalperf.results.schema import SchemaError, loads

    try:
        data = loads(path.read_text())
    except FileNotFoundError as exc:
        raise UsageError(f"{what} {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"{what} {path} is a folder, not a file") from exc
    except RecursionError as exc:
        raise UsageError(f"{what} {path} is not valid JSON: nested too deeply") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what} {path} is not valid JSON: {exc}") from exc
    try:
        return parse(data)
    except SchemaError as exc:
        raise UsageError(f"{what} {path} is malformed {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{what} {path} is malformed: {type(exc).__name__}: {exc}") from exc


def as_float(value: Any) -> float:
    """A JSON number back to float; ``null`` (how NaN is written) becomes NaN."""
    return float("nan") if value is None else float(value)


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value
