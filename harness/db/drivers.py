"""The PostgreSQL drivers dalperf measures through, and which engine each one drives.

A run has two engines (:class:`dalperf.measure.engines.Engines`): async variants run on the
async one, sync variants on the sync one.  A driver is either sync or async, so ``--driver``
names the pair:

========== ===================== =====================
--driver   async engine          sync engine
========== ===================== =====================
psycopg    psycopg 3 (async)     psycopg 3
psycopg2   psycopg 3 (async)     psycopg2
asyncpg    asyncpg               psycopg 3
========== ===================== =====================

Light to import (standard library only): the command line checks ``--driver`` and a URL's
driver before anything heavy is loaded.  A driver that is not installed is an
:class:`~dalperf.errors.EnvironmentProblem` (exit 3) naming the extra that installs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from dalperf.errors import EnvironmentProblem, MissingExtra, UsageError
from dalperf.project.settings import SUPPORTED_DRIVERS
from dalperf.version import package_version


@dataclass(frozen=True, kw_only=True)
class Driver:
    """One DBAPI driver: its ``--driver`` name, its SQLAlchemy dialect and how to install it."""

    name: str  # --driver value, and the SQLAlchemy dialect's driver name in a URL
    module: str  # what Python imports
    distributions: tuple[str, ...]  # pip distributions that provide it, first found wins
    extra: str | None  # dalperf[extra] that installs it (None: a core dependency)
    is_async: bool
    sync_dialect: str  # the SQLAlchemy driver name of its engine when used sync
    async_dialect: str

    def version(self) -> str:
        """The installed version, e.g. ``3.3.9``, or ``unknown``."""
        for distribution in self.distributions:
            version = package_version(distribution)
            if version != "unknown":
                return version
        return "unknown"

    def require(self) -> None:
        """Raise :class:`~dalperf.errors.MissingExtra` naming the extra to install if the
        driver is missing (imports the driver: its engine will need it anyway)."""
        try:
            importlib.import_module(self.module)
        except ImportError as exc:
            if self.extra is None:
                raise EnvironmentProblem(
                    f"driver {self.name} is not installed: pip install dalperf"
                ) from exc
            raise MissingExtra(f"driver {self.name}", self.extra, self.module) from exc


PSYCOPG = Driver(
    name="psycopg",
    module="psycopg",
    distributions=("psycopg",),
    extra=None,
    is_async=True,
    sync_dialect="psycopg",
    async_dialect="psycopg_async",
)
PSYCOPG2 = Driver(
    name="psycopg2",
    module="psycopg2",
    distributions=("psycopg2-binary", "psycopg2"),
    extra="psycopg2",
    is_async=False,
    sync_dialect="psycopg2",
    async_dialect="",
)
ASYNCPG = Driver(
    name="asyncpg",
    module="asyncpg",
    distributions=("asyncpg",),
    extra="asyncpg",
    is_async=True,
    sync_dialect="",
    async_dialect="asyncpg",
)
DRIVERS: dict[str, Driver] = {d.name: d for d in (PSYCOPG, PSYCOPG2, ASYNCPG)}
DEFAULT = PSYCOPG
SUPPORTED_TEXT = SUPPORTED_DRIVERS  # the settings check --driver by these names
# SQLAlchemy's driver names in a URL (postgresql+NAME://) -> the driver
_BY_DIALECT = {
    "psycopg": PSYCOPG,
    "psycopg_async": PSYCOPG,
    "psycopg2": PSYCOPG2,
    "asyncpg": ASYNCPG,
}
DIALECT_DRIVERS = frozenset(_BY_DIALECT)  # every SQLAlchemy driver name dalperf measures


@dataclass(frozen=True, kw_only=True)
class Pairing:
    """The drivers of a run's two engines, as ``--driver`` chose them."""

    chosen: Driver
    async_driver: Driver
    sync_driver: Driver

    @property
    def async_dialect(self) -> str:
        return self.async_driver.async_dialect

    @property
    def sync_dialect(self) -> str:
        return self.sync_driver.sync_dialect

    def describe(self) -> dict[str, str]:
        """What the results JSON's ``environment["driver"]`` says."""
        return {
            "name": self.chosen.name,
            "version": self.chosen.version(),
            "async": f"{self.async_driver.name} {self.async_driver.version()}",
            "sync": f"{self.sync_driver.name} {self.sync_driver.version()}",
        }


def pairing(name: str | Driver | None = None) -> Pairing:
    """The engines' drivers for ``--driver name`` (default psycopg); checks it is installed."""
    chosen = name if isinstance(name, Driver) else by_name(name or DEFAULT.name)
    pair = Pairing(
        chosen=chosen,
        async_driver=chosen if chosen.is_async else PSYCOPG,
        sync_driver=chosen if chosen.sync_dialect else PSYCOPG,
    )
    for driver in {pair.async_driver, pair.sync_driver}:
        driver.require()
    return pair


def by_name(name: str) -> Driver:
    """The driver ``--driver name`` means; :class:`UsageError` naming the supported ones."""
    driver = DRIVERS.get(name.strip().lower())
    if driver is None:
        raise UsageError(
            f"unsupported driver {name!r}: dalperf supports {SUPPORTED_TEXT} "
            "(--driver psycopg|psycopg2|asyncpg)"
        )
    return driver


def by_dialect(backend: str, dialect_driver: str) -> Driver:
    """The driver of a SQLAlchemy ``backend+driver``; :class:`UsageError` if unsupported."""
    driver = _BY_DIALECT.get(dialect_driver) if backend == "postgresql" else None
    if driver is None:
        named = f"{backend}+{dialect_driver}" if dialect_driver else backend
        raise UsageError(
            f"unsupported database driver {named}: dalperf "
            f"supports PostgreSQL through {SUPPORTED_TEXT} "
            "(postgresql+psycopg://, postgresql+psycopg2://, postgresql+asyncpg://)"
        )
    return driver
