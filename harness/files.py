"""Reading and writing dalperf's JSON records: atomic writes, one-line errors on bad files."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dalperf.errors import UsageError

T = TypeVar("T")


def dumps(data: Any) -> str:
    """``data`` as indented JSON; NaN and infinities (which JSON lacks) become ``null``."""
    return json.dumps(finite_json(data), indent=1) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash mid-write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def read(path: Path, parse: Callable[[Any], T], *, what: str) -> T:
    """``parse`` of the JSON in ``path``; any problem is a :class:`UsageError` naming the file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise UsageError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what} {path} is not valid JSON: {exc}") from exc
    try:
        return parse(data)
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
