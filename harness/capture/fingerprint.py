"""Statement fingerprints, computed with PostgreSQL's own parser (pglast / libpg_query).

Two statements share a fingerprint when they have the same parse tree once constants and
parameters are taken out: ``WHERE id = 1`` and ``WHERE id = $1`` collide, as do ``IN``
lists and ``ARRAY[...]`` constructors of any length, while whitespace and comments never
matter.  Identifiers, operators and structure do.  pglast's fingerprint implements exactly
that (it is pg_query's, the scheme pg_stat_statements-like tools share).

The driver's SQL uses psycopg's placeholders (``%(name)s``, ``%s``); they are turned into
``$n`` before parsing.  The same text repeats constantly in a benchmark, so results are
cached by text.  Transaction control (BEGIN, COMMIT, SAVEPOINT ...) is recognised here as
well, because it comes out of the same parse.  Text the parser rejects (the statement
then fails on the server too) is fingerprinted by its whitespace-normalised text.

pglast is imported by the first fingerprint, not with this module: the capture hooks only
need :func:`control_kind`, which parses nothing unless the text starts with a
transaction-control keyword, so a test suite whose captures never need a fingerprint
never loads the parser.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dalperf.capture.records import HiddenKind

CACHE_SIZE = 4096
UNPARSED_PREFIX = "raw:"

_PLACEHOLDER = re.compile(r"%%|%(?:\(([^)]*)\))?[sbt]")
_WHITESPACE = re.compile(r"\s+")
_COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
# the first keyword of every transaction-control statement, after comments and blanks; the
# repetition is possessive, so indentation never makes the match backtrack (linear time)
_CONTROL_START = re.compile(
    r"(?:\s+|--[^\n]*|/\*.*?\*/)*+"
    r"(?:BEGIN|START|COMMIT|END|ABORT|ROLLBACK|SAVEPOINT|RELEASE|PREPARE)\b",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Shape:
    """What the parser says about one SQL text."""

    fingerprint: str
    normalized: str  # constants as $n, comments dropped, whitespace collapsed: for display
    control: HiddenKind | None  # the transaction-control kind, None for anything else


def fingerprint(sql: str) -> str:
    """The fingerprint of ``sql`` (PostgreSQL or psycopg placeholder syntax)."""
    return shape(sql).fingerprint


@lru_cache(maxsize=CACHE_SIZE)
def control_kind(sql: str) -> HiddenKind | None:
    """The transaction-control kind of ``sql``, None for anything else; cached by text, and
    parsed only when it starts with a transaction-control keyword."""
    return shape(sql).control if _CONTROL_START.match(sql) else None


@lru_cache(maxsize=CACHE_SIZE)
def shape(sql: str) -> Shape:
    """Fingerprint, display form and transaction-control kind of ``sql``; cached by text."""
    from pglast import parser

    text = to_dollar_params(sql)
    try:
        statements = parser.parse_sql(text)
        print_form = _strip_comments(parser.normalize(text))
        return Shape(parser.fingerprint(text), print_form, _control_kind(statements))
    except parser.ParseError:
        collapsed = _WHITESPACE.sub(" ", sql).strip()
        digest = hashlib.blake2b(collapsed.encode(), digest_size=8).hexdigest()
        return Shape(UNPARSED_PREFIX + digest, collapsed, None)


def to_dollar_params(sql: str) -> str:
    """psycopg's ``%(name)s``/``%s``/``%b``/``%t`` placeholders as ``$1, $2 ...``; ``%%`` as ``%``."""
    numbers: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        key = f"#{len(numbers)}" if name is None else name
        return f"${numbers.setdefault(key, len(numbers) + 1)}"

    return _PLACEHOLDER.sub(replace, sql)


def _control_kind(statements: tuple[object, ...]) -> HiddenKind | None:
    from pglast.ast import TransactionStmt
    from pglast.enums.parsenodes import TransactionStmtKind as Kind

    from dalperf.capture.records import HiddenKind

    if len(statements) != 1:
        return None
    stmt = getattr(statements[0], "stmt", None)
    if not isinstance(stmt, TransactionStmt):
        return None
    return (
        {
            Kind.TRANS_STMT_BEGIN: HiddenKind.BEGIN,
            Kind.TRANS_STMT_START: HiddenKind.BEGIN,
            Kind.TRANS_STMT_COMMIT: HiddenKind.COMMIT,
            Kind.TRANS_STMT_PREPARE: HiddenKind.COMMIT,
            Kind.TRANS_STMT_COMMIT_PREPARED: HiddenKind.COMMIT,
            Kind.TRANS_STMT_ROLLBACK: HiddenKind.ROLLBACK,
            Kind.TRANS_STMT_ROLLBACK_PREPARED: HiddenKind.ROLLBACK,
            Kind.TRANS_STMT_SAVEPOINT: HiddenKind.SAVEPOINT,
            Kind.TRANS_STMT_RELEASE: HiddenKind.RELEASE_SAVEPOINT,
            Kind.TRANS_STMT_ROLLBACK_TO: HiddenKind.ROLLBACK_TO_SAVEPOINT,
        }.get(stmt.kind)
        if stmt.kind is not None
        else None
    )


def _strip_comments(sql: str) -> str:
    from pglast import parser

    pieces: list[str] = []
    position = 0
    for token in parser.scan(sql):
        if token.name in _COMMENT_TOKENS:
            pieces.append(sql[position : token.start])
            position = token.end + 1
    pieces.append(sql[position:])
    return _WHITESPACE.sub(" ", " ".join(pieces)).strip()
