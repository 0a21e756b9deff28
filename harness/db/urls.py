"""Database URLs: parse, validate, normalise to the drivers dalperf uses, and mask for display.

Users give libpq-style URLs (``postgresql://user:pw@host:5432/db``, the password also as
``?password=``) or libpq keyword strings (``host=... password='...' dbname=...``);
SQLAlchemy wants a driver in the scheme (``postgresql+psycopg://``) and psycopg wants none.
Everything that prints a URL goes through :func:`masked`, and every message the command
line prints goes through :func:`redact`, so that a password never reaches a terminal or a
report, whichever form it came in (and even when a driver's error text echoes it).
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote, urlencode

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from dalperf.db import drivers
from dalperf.errors import UsageError

SQLALCHEMY_DRIVER = "postgresql+psycopg"
MASK = "***"
_PLAIN_SCHEMES = {"postgres", "postgresql"}
# libpq keyword -> the URL part it fills; other keywords stay as query parameters
_KEYWORD_PARTS = {
    "user": "username",
    "password": "password",
    "host": "host",
    "port": "port",
    "dbname": "database",
}
# up to the line's last "@": a password may hold "@", "/" and spaces (masking more is safe)
_USERINFO_RE = re.compile(r"(?P<head>[a-z][\w+.-]*://[^:@/\s]*):(?P<secret>[^\n]*)@", re.IGNORECASE)
_PASSWORD_PAIR_RE = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'?|\"[^\"]*\"?|[^\s&;'\"]+)",
    re.IGNORECASE,
)
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SECRETS: set[str] = set()  # every password parse() has seen in this process


class ParsedUrl(NamedTuple):
    """A database URL parsed once, where it enters: the URL in dalperf's form (:func:`normalise`)
    and the driver its scheme named (``postgresql+asyncpg://``; None for plain
    ``postgresql://`` and for a libpq keyword string, which name none)."""

    url: URL
    driver: drivers.Driver | None


def parse(url: str) -> URL:
    """Parse and validate a PostgreSQL URL or libpq keyword string; raise
    :class:`UsageError` if it is malformed (the message never shows the password)."""
    return parse_with_driver(url).url


def parse_with_driver(url: str) -> ParsedUrl:
    """:func:`parse`, keeping the driver the scheme named; :class:`UsageError` for a driver
    dalperf does not support."""
    if "://" not in url and "=" in url:
        return ParsedUrl(_parse_keywords(url), None)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        _remember(*(m["secret"] for m in _USERINFO_RE.finditer(url)))
        raise UsageError(f"malformed database URL {redact(url)!r}: {redact(str(exc))}") from exc
    _remember(parsed.password, parsed.query.get("password"))
    driver = driver_of(parsed)
    if not parsed.database:
        raise UsageError(f"malformed database URL {masked(parsed)!r}: no database name")
    return ParsedUrl(normalise(parsed), driver)


def normalise(url: URL) -> URL:
    """``url`` in dalperf's form: psycopg's scheme (each driver gets its own back from
    :func:`sqlalchemy_url`) and TLS as libpq's ``sslmode``; its password is remembered for
    :func:`redact`."""
    _remember(url.password, url.query.get("password"))
    return _libpq_ssl(url.set(drivername=SQLALCHEMY_DRIVER))


def _libpq_ssl(url: URL) -> URL:
    """``url`` with its TLS setting in libpq's form, ``sslmode``: asyncpg's ``ssl=``
    (``require``, ``true``...) is translated, so that one URL works for every driver
    (:func:`sqlalchemy_url` gives asyncpg its own form back); an unknown mode, or ``ssl``
    and ``sslmode`` that disagree, is a :class:`UsageError`."""
    query = dict(url.query)
    if "ssl" not in query and "sslmode" not in query:
        return url
    given = query.pop("ssl", None)
    mode = query.get("sslmode")
    if given is not None:
        text = str(given).lower()
        translated = {"true": "require", "1": "require", "false": "disable", "0": "disable"}.get(
            text, text
        )
        if mode is not None and mode != translated:
            raise UsageError(
                f"database URL {masked(url)!r}: ssl={given} and sslmode={mode} "
                "disagree; give one of them"
            )
        mode = translated
    if mode not in SSL_MODES:
        raise UsageError(
            f"database URL {masked(url)!r}: sslmode {mode!r} is not one of {', '.join(SSL_MODES)}"
        )
    query["sslmode"] = mode
    return url.set(query=query)


def driver_of(url: URL) -> drivers.Driver | None:
    """The driver a URL's scheme names (``postgresql+asyncpg://``), None for plain
    ``postgresql://``; :class:`UsageError` naming the supported drivers for any other."""
    if url.drivername in _PLAIN_SCHEMES:
        return None
    backend, _, dialect_driver = url.drivername.partition("+")
    return drivers.by_dialect(backend, dialect_driver)


def sqlalchemy_url(url: URL, dialect_driver: str = "psycopg") -> str:
    """The URL for ``create_engine``/``create_async_engine`` through ``dialect_driver``
    (a SQLAlchemy driver name: psycopg, psycopg_async, psycopg2, asyncpg), password kept."""
    if dialect_driver == "asyncpg" and "sslmode" in url.query:  # asyncpg's own form
        query = dict(url.query)
        query["ssl"] = query.pop("sslmode")
        url = url.set(query=query)
    return url.set(drivername=f"postgresql+{dialect_driver}").render_as_string(hide_password=False)


def libpq_url(url: URL) -> str:
    """The URL for ``psycopg.connect`` and the PostgreSQL command-line tools.

    Every part is percent-encoded, so a password with spaces or ``@:/?#`` reaches libpq
    intact (SQLAlchemy's own rendering leaves spaces as they are, which libpq refuses).
    """
    netloc = ""
    if url.username is not None:
        netloc = quote(url.username, safe="")
        if url.password is not None:
            netloc += ":" + quote(str(url.password), safe="")
        netloc += "@"

    if url.host:
        netloc += f"[{url.host}]" if ":" in url.host else quote(url.host, safe="")
    if url.port:
        netloc += f":{url.port}"
    query = urlencode(dict(url.query), doseq=True, quote_via=quote)
    return f"postgresql://{netloc}/{quote(url.database or '', safe='')}" + (
        f"?{query}" if query else ""
    )


def masked(url: str | URL) -> str:
    """The URL with its password (userinfo or ``?password=``) replaced by ``***``; safe to print."""
    if isinstance(url, str):
        text = url
        try:
            url = make_url(text)
        except (ArgumentError, ValueError):
            return redact(text)
    in_query = url.query.get("password")
    if in_query is not None:
        url = url.difference_update_query(["password"]).set(password=MASK)
    return url.render_as_string(hide_password=True)


def redact(text: str) -> str:
    """``text`` with every password masked: URL userinfo, ``password=...`` pairs (quoted
    or not) and any password parsed in this process, wherever it appears."""
    text = _USERINFO_RE.sub(lambda m: f"{m['head']}:{MASK}@", text)
    text = _PASSWORD_PAIR_RE.sub(lambda m: f"{m['head']}{MASK}", text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
        encoded = quote(secret, safe="")
        if encoded != secret:
            text = text.replace(encoded, MASK)
    return text


def _remember(*passwords: object) -> None:
    for password in passwords:
        if isinstance(password, tuple):
            _remember(*password)
        elif password:
            _SECRETS.add(str(password))


def _parse_keywords(conninfo: str) -> URL:
    """A libpq keyword string (``host=h port=5432 dbname=d password='p w'``) as a URL."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    for match in _PASSWORD_PAIR_RE.finditer(conninfo):
        _remember(match["secret"].strip("'\""))
    try:
        values = {k: str(v) for k, v in conninfo_to_dict(conninfo).items()}
    except psycopg.ProgrammingError:
        # neither libpq's message (it quotes the text around the mistake) nor the string
        # (which part of it is the password is what went wrong) can be shown
        raise UsageError(
            "malformed connection string (not shown: it may hold a password): "
            "expected keyword=value pairs, a value holding spaces in single "
            "quotes"
        ) from None
    _remember(values.get("password"))
    parts = {_KEYWORD_PARTS[k]: v for k, v in values.items() if k in _KEYWORD_PARTS}
    if "port" in parts:
        try:
            parts["port"] = int(parts["port"])  # type: ignore[assignment]
        except ValueError:
            raise UsageError(
                f"malformed connection string {redact(conninfo)!r}: port "
                f"{parts['port']!r} is not a number"
            ) from None
    if not parts.get("database"):
        raise UsageError(f"malformed connection string {redact(conninfo)!r}: no dbname")
    query = {k: v for k, v in values.items() if k not in _KEYWORD_PARTS}
    if "username" not in parts and "password" in parts:  # a URL has no password without a user
        query["password"] = parts.pop("password")
    return URL.create(SQLALCHEMY_DRIVER, query=query, **parts)  # type: ignore[arg-type]


def endpoint(url: URL) -> str:
    """``host:port`` (or the unix socket directory) for one-line error messages."""
    host = url.host or url.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = host[0]
    return f"{host}:{url.port or 5432}"
