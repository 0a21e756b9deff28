"""Validation of the JSON files dalperf reads back against their one declared schema.

The shapes of the results file (``dalperf run``/``audit``) and of the load results file
(``dalperf load``) are declared in ``schema.json``, shipped beside this module (JSON
Schema, draft 2020-12), and checked with the ``jsonschema`` library before any record is
built, so a malformed file is refused with the JSON path of its first problem instead of
failing somewhere later.  NaN and infinities, which JSON lacks (dalperf writes ``null``),
are refused wherever they appear, and so is input nested deeper than any file dalperf
writes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from typing import Any

SCHEMA_FILE = "schema.json"
MAX_MESSAGE = 160  # characters of the library's message kept in the one-line error
MAX_DEPTH = 64  # the files dalperf writes nest some 10 levels


class SchemaError(ValueError):
    """A document that does not match its schema; ``str()`` names the JSON path."""

    def __init__(self, path: str, message: str) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        super().__init__(f"at {path}: {message}")
        self.path = path


class _NonFinite(float):
    """NaN or an infinity as read from the file, kept apart to be refused with its path."""


def loads(text: str) -> Any:
    """Parse JSON, keeping ``NaN``, ``Infinity`` and out-of-range numbers recognisable."""

    def number(literal: str) -> float:
        value = float(literal)
        return value if math.isfinite(value) else _NonFinite(value)

    return json.loads(
        text, parse_constant=lambda literal: _NonFinite(float(literal)), parse_float=number
    )


def validate(document: Any, kind: str) -> None:
    """Raise :class:`SchemaError` unless ``document`` is a valid ``kind`` ("results" or
    "load")."""
    from jsonschema.exceptions import best_match

    depth_problem = _too_deep(document)
    if depth_problem is not None:
        raise SchemaError(depth_problem, f"nested more than {MAX_DEPTH} levels deep")
    for path, value in _walk(document, "$"):
        if isinstance(value, _NonFinite):
            raise SchemaError(path, f"{value!r} is not a JSON number (dalperf writes null)")
    error = best_match(_validator(kind).iter_errors(document))
    if error is not None:
        raise SchemaError(_json_path(error.absolute_path), error.message)


@cache
def _validator(kind: str) -> Any:
    """A validator of ``kind`` for which a tuple is an array too: records built in memory
    (``Results.to_dict()``) hold tuples where the file holds lists."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "array", lambda _checker, value: isinstance(value, list | tuple)
    )
    validator = validators.extend(Draft202012Validator, type_checker=checker)
    return validator(_schema(kind))


@cache
def _schema(kind: str) -> dict[str, Any]:
    declared = json.loads(
        files("dalperf.results").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    )
    if kind not in declared["$defs"]:
        raise KeyError(f"schema.json declares no {kind!r}")
    return {**declared, "$ref": f"#/$defs/{kind}"}


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _too_deep(document: Any) -> str | None:
    """The path at which ``document`` passes :data:`MAX_DEPTH` levels, if it does."""
    stack: list[tuple[Any, str, int]] = [(document, "$", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path
        if isinstance(value, dict):
            stack.extend((item, f"{path}.{key}", depth + 1) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
    return None
