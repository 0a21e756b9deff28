"""Database URLs: parse, validate, normalise to the drivers dalperf uses, and mask for display.

Users give libpq-style URLs (``postgresql://user:pw@host:5432/db``); SQLAlchemy wants a
driver in the scheme (``postgresql+psycopg://``) and psycopg wants none.  Everything that
prints a URL goes through :func:`masked` so that a password never reaches a terminal or a
report.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from dalperf.db import drivers
from dalperf.errors import UsageError

SQLALCHEMY_DRIVER = "postgresql+psycopg"
_PLAIN_SCHEMES = {"postgres", "postgresql"}


def parse(url: str) -> URL:
    """Parse and validate a PostgreSQL URL; raise :class:`UsageError` if it is malformed."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise UsageError(f"malformed database URL {_mask_text(url)!r}: {exc}") from exc
    driver_of(parsed)
    if not parsed.database:
        raise UsageError(f"malformed database URL {masked(parsed)!r}: no database name")
    return parsed.set(drivername=SQLALCHEMY_DRIVER)


def driver_of(url: URL) -> drivers.Driver | None:
    """The driver a URL's scheme names (``postgresql+asyncpg://``), None for plain
    ``postgresql://``; :class:`UsageError` naming the supported drivers for any other."""
    if url.drivername in _PLAIN_SCHEMES:
        return None
    backend, _, dialect_driver = url.drivername.partition("+")
    return drivers.by_dialect(backend, dialect_driver)


def url_driver(url: str) -> drivers.Driver | None:
    """:func:`driver_of` for a URL as the user typed it (validated by :func:`parse`)."""
    parse(url)
    return driver_of(make_url(url))


def sqlalchemy_url(url: str | URL, dialect_driver: str = "psycopg") -> str:
    """The URL for ``create_engine``/``create_async_engine`` through ``dialect_driver``
    (a SQLAlchemy driver name: psycopg, psycopg_async, psycopg2, asyncpg), password kept."""
    parsed = parse(url) if isinstance(url, str) else url
    return parsed.set(drivername=f"postgresql+{dialect_driver}").render_as_string(
        hide_password=False)


def libpq_url(url: str | URL) -> str:
    """The URL for ``psycopg.connect`` and the PostgreSQL command-line tools."""
    parsed = parse(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def masked(url: str | URL) -> str:
    """The URL with its password replaced by ``***``; safe to print."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except (ArgumentError, ValueError):
            return _mask_text(url)
    return url.render_as_string(hide_password=True)


def endpoint(url: URL) -> str:
    """``host:port`` (or the unix socket directory) for one-line error messages."""
    host = url.host or url.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = host[0]
    return f"{host}:{url.port or 5432}"


def _mask_text(text: str) -> str:
    """Best-effort masking of ``user:password@`` in a string that did not parse."""
    if "@" not in text or "://" not in text:
        return text
    scheme, rest = text.split("://", 1)
    credentials, _, tail = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}" if ":" in credentials else text
