"""What a repeated statement's runs have in common: which parameters vary, and whether they
are already batches (pages, ``IN`` chunks) rather than one row at a time.

Read from the SQL text as the driver got it (psycopg's ``%(name)s``, asyncpg's ``$1``) and
the parameters, when a group of statements could make a finding; nothing here runs while
recording.

- Pages: the statement has a LIMIT (or FETCH FIRST), and only parameters in its LIMIT or
  OFFSET or in a range comparison (a keyset bound: ``id > %(id_1)s``, ``(created, id) <
  ($1, $2)``) change from run to run.  Ascending or descending, the same export paged
  twice: pages all the same.
- Chunks: every changing parameter sits in an ``IN (...)`` list or is a list itself (``=
  ANY(%(ids)s)``), and the runs carry at least :data:`CHUNK_KEYS` keys each (median: a
  DataLoader's ``max_batch_size``, ``IN`` chunks of 500 keys); one or two keys per run are
  a loop in disguise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from statistics import median
from typing import Any

_PARAM = r"(?:%\((\w+)\)s|\$(\d+))(?:::\w+)?"
_PAGE = re.compile(rf"\b(?:LIMIT|OFFSET|FETCH\s+FIRST|FETCH\s+NEXT)\s+{_PARAM}", re.IGNORECASE)
_RANGE = re.compile(rf"(?:<=|>=|<(?!>)|(?<!<)>)\s*{_PARAM}")
_LIST = r"\(((?:[^()]|\(\w+\))*)\)"  # a parenthesised list; psycopg's %(name)s inside
_RANGE_TUPLE = re.compile(rf"(?:<=|>=|<(?!>)|(?<!<)>)\s*{_LIST}")
_IN_LIST = re.compile(rf"\bIN\s*{_LIST}", re.IGNORECASE)
_ANY = re.compile(rf"\b(?:ANY|ALL)\s*\(\s*{_PARAM}", re.IGNORECASE)
_ANY_PARAM = re.compile(_PARAM)
_LIMITED = re.compile(r"\b(?:LIMIT|FETCH\s+FIRST|FETCH\s+NEXT)\b", re.IGNORECASE)
_VALUES_ROWS = re.compile(r"\)\s*,\s*\(")
_MISSING = object()
CHUNK_KEYS = 5  # keys per run from which IN lists are batches (fewer: a loop at a discount)


def varying(statements: Sequence[Any]) -> set[Any]:
    """The parameter keys (names, or positions from 1 for ``$n``) whose values differ
    between the runs (a key some runs lack differs too); empty when they are all the same."""
    runs = [dict(_items(s.parameters)) for s in statements]
    keys = set().union(*runs) if runs else set()
    return {key for key in keys if len({repr(run.get(key, _MISSING)) for run in runs}) > 1}


def pages(statements: Sequence[Any], changing: set[Any]) -> bool:
    """Whether the runs are pages of one query (see the module docstring)."""
    sql = statements[0].sql
    if not changing or not _LIMITED.search(sql):
        return False
    paging = _keys(_PAGE, sql) | _keys(_RANGE, sql)
    for match in _RANGE_TUPLE.finditer(sql):
        paging |= _keys(_ANY_PARAM, match.group(1))
    return changing <= paging


def chunks(statements: Sequence[Any], changing: set[Any]) -> bool:
    """Whether the runs are batches of keys (see the module docstring)."""
    if not changing:
        return False
    sizes = []
    for statement in statements:
        listed: set[Any] = set()
        size = 0
        for match in _IN_LIST.finditer(statement.sql):
            inside = _keys(_ANY_PARAM, match.group(1))
            listed |= inside
            size = max(size, len(inside))
        for key in _keys(_ANY, statement.sql):
            listed.add(key)
            value = dict(_items(statement.parameters)).get(key)
            if isinstance(value, list | tuple):
                size = max(size, len(value))
        if not changing <= listed | _expanded(changing, listed):
            return False
        sizes.append(size)
    return median(sizes) >= CHUNK_KEYS


def multirow_insert(sql: str) -> bool:
    """Whether an INSERT sends several rows at once (``VALUES (...), (...)``: SQLAlchemy's
    insertmanyvalues batches of one flush)."""
    return _VALUES_ROWS.search(sql) is not None


def _expanded(changing: set[Any], listed: set[Any]) -> set[Any]:
    """Changing keys that are one expanding IN parameter's members (``id_1_1`` when the list
    of another run rendered ``id_1_1 .. id_1_7``): names sharing a listed key's stem."""
    stems = {str(k).rsplit("_", 1)[0] for k in listed if isinstance(k, str)}
    return {k for k in changing if isinstance(k, str) and k.rsplit("_", 1)[0] in stems}


def _keys(pattern: re.Pattern[str], sql: str) -> set[Any]:
    return {name if name else int(number) for name, number in pattern.findall(sql)}


def _items(parameters: Any) -> list[tuple[Any, Any]]:
    if isinstance(parameters, Mapping):
        return list(parameters.items())
    if isinstance(parameters, list | tuple):
        return [(position, value) for position, value in enumerate(parameters, 1)]
    return []
