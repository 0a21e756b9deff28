"""Options shared by every command that talks to a database, and the helper that opens it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dalperf.errors import UsageError

if TYPE_CHECKING:
    from dalperf.db.targets import Target
    from dalperf.plans.advisor import AdvisorConfig
    from dalperf.project.config import Config

DEFAULT_ADVISE_MIN_GAIN = 0.5

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL to use instead of the embedded server. Default: the "
        "variable tool.dalperf database_url_env names (DALPERF_DATABASE_URL; an "
        "app's own DATABASE_URL only when named there).",
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="TOML file with the tool.dalperf table (default: the nearest pyproject.toml).",
    ),
]
DbSource = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Where the database comes from: embedded, url or testcontainers "
        "(default: url when a URL is given, else embedded).",
    ),
]
Home = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="DALPERF_HOME",
        show_envvar=True,
        help="Folder for the embedded server's data (default: ./.dalperf).",
    ),
]
Ephemeral = Annotated[
    bool,
    typer.Option("--ephemeral", help="Use a throwaway embedded server, deleted afterwards."),
]
Disposable = Annotated[
    bool,
    typer.Option(
        "--disposable",
        help="Allow writing into a --database-url database dalperf "
        "did not create (its contents may be replaced).",
    ),
]

Advise = Annotated[
    bool,
    typer.Option(
        "--advise/--no-advise",
        help="Propose the missing indexes: build each "
        "candidate inside a rolled-back transaction, re-run the statement under "
        "EXPLAIN (ANALYZE, BUFFERS) and price the index's writes (only on a database "
        "dalperf created or --disposable; elsewhere plans are explained only).",
    ),
]
AdviseMinGain = Annotated[
    float,
    typer.Option(
        "--advise-min-gain",
        min=0.0,
        max=1.0,
        help="With --advise: the fraction "
        "by which a candidate must cut both execution time and buffers touched.",
    ),
]


def advisor_config(advise: bool, min_gain: float, seq_scan_rows: int) -> AdvisorConfig | None:
    """The advisor's settings from the flags (``None`` without ``--advise``)."""
    if not advise:
        return None
    from dalperf.plans.advisor import AdvisorConfig
    from dalperf.plans.findings import PlanThresholds

    return AdvisorConfig(
        min_time_gain=min_gain,
        min_buffer_gain=min_gain,
        thresholds=PlanThresholds(seq_scan_rows=seq_scan_rows),
    )


def project_config(config_file: Path | None = None) -> Config:
    """The ``tool.dalperf`` configuration, with the project root put on ``sys.path``."""
    from dalperf.project import config

    loaded = config.load(config_file)
    config.activate(loaded)
    return loaded


DriverNames = Annotated[
    list[str] | None,
    typer.Option(
        "--driver",
        metavar="DRIVER",
        help="psycopg (default), psycopg2 or asyncpg: "
        "async variants run on asyncpg or psycopg 3, sync variants on psycopg2 or "
        "psycopg 3 (README: Drivers). Default: the --database-url's driver "
        "(postgresql+asyncpg://), else psycopg.",
    ),
]


def chosen_drivers(names: list[str] | None, database_url: str | None) -> list[str]:
    """The drivers ``--driver`` (repeatable) or the URL's scheme name, checked and installed.

    A ``--driver`` that contradicts the URL's ``postgresql+driver://`` is a usage error.
    """
    from dalperf.db import drivers, urls

    in_url = urls.url_driver(database_url) if database_url else None
    chosen = [drivers.by_name(name) for name in names] if names else [in_url or drivers.DEFAULT]
    if in_url is not None and any(d is not in_url for d in chosen):
        raise UsageError(
            f"--driver {' '.join(d.name for d in chosen)} contradicts the "
            f"database URL's driver ({in_url.name}); give one of them"
        )
    unique = list(dict.fromkeys(chosen))
    for driver in unique:
        drivers.pairing(driver)  # installed?
    return [d.name for d in unique]


def one_driver(names: list[str] | None, database_url: str | None) -> str:
    """:func:`chosen_drivers` for a command that runs on one driver."""
    chosen = chosen_drivers(names, database_url)
    if len(chosen) > 1:
        raise UsageError("this command runs on one driver; give --driver once")
    return chosen[0]


def require_target_extras(
    *, database_url: str | None, db: str | None, config: Config | None = None
) -> None:
    """Fail now, in one line naming the extra, when the database the options name needs
    one that is missing (the embedded server without ``dalperf[server]``)."""
    from dalperf.db.targets import require_source
    from dalperf.project.config import database_url as configured_url

    require_source(db, configured_url(database_url, config or project_config()))


@contextmanager
def target_from_options(
    *,
    database_url: str | None,
    db: str | None,
    home: Path | None,
    ephemeral: bool = False,
    disposable: bool = False,
    config: Config | None = None,
) -> Iterator[Target]:
    """Provide the database the options name (the URL from ``--database-url`` or the
    configured variable); anything started is stopped afterwards."""
    from dalperf.db.targets import provide, require_source
    from dalperf.project.config import database_url as configured_url

    url = configured_url(database_url, config or project_config())
    require_source(db, url)
    with provide(
        source=db, database_url=url, home=home, ephemeral=ephemeral, disposable=disposable
    ) as target:
        yield target
