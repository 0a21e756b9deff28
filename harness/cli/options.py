"""Options shared by the commands: the settings of :mod:`dalperf.project.settings` as flags, and the
database bundle every command that talks to a database takes.

The database options are one bundle, :class:`DatabaseOptions`: a command declares one
parameter of that type and :func:`with_database` puts the five flags in its place (typer
sees them in the command's signature, so ``--help``, completion and the generated commands
page list them as before), then hands the command one frozen object that opens the target.
A decorator rather than a typer callback: a callback belongs to a group and runs before
the command's own options are parsed, while the bundle must sit among each command's
options, with the variant of the commands that never throw a database away.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from dalperf.errors import UsageError
from dalperf.project.settings import SETTINGS

if TYPE_CHECKING:
    from dalperf.db.drivers import Driver
    from dalperf.db.targets import Target
    from dalperf.db.urls import ParsedUrl
    from dalperf.plans.advisor import AdvisorConfig
    from dalperf.project.config import Config

DEFAULT_ADVISE_MIN_GAIN = 0.5

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


def chosen_drivers(names: Sequence[str], database_url: ParsedUrl | None) -> list[Driver]:
    """The drivers the resolved ``driver`` setting names (checked there), else the URL's
    scheme's, installed.

    A ``--driver`` that contradicts the URL's ``postgresql+driver://`` is a usage error.
    """
    from dalperf.db import drivers

    in_url = database_url.driver if database_url is not None else None
    chosen = [drivers.by_name(name) for name in names] if names else [in_url or drivers.DEFAULT]
    if in_url is not None and any(d is not in_url for d in chosen):
        raise UsageError(
            f"--driver {' '.join(d.name for d in chosen)} contradicts the "
            f"database URL's driver ({in_url.name}); give one of them"
        )
    unique = list(dict.fromkeys(chosen))
    for driver in unique:
        drivers.pairing(driver)  # installed?
    return unique


def one_driver(names: Sequence[str], database_url: ParsedUrl | None) -> Driver:
    """:func:`chosen_drivers` for a command that runs on one driver."""
    chosen = chosen_drivers(names, database_url)
    if len(chosen) > 1:
        raise UsageError("this command runs on one driver; give --driver once")
    return chosen[0]


def setting_option(name: str, *, help: str | None = None, **extra: Any) -> Any:
    """The ``typer.Option`` of setting ``name`` (:data:`dalperf.project.settings.SETTINGS`): its
    flag, and its help followed by where else it comes from and its default.  ``help``
    replaces the declared text where a command means something narrower by it."""
    setting = SETTINGS[name]
    file = f", else tool.dalperf {setting.key}" if setting.in_file else ""
    return typer.Option(
        setting.flag,
        help=f"{help or setting.help} (default: ${setting.env}{file}, else "
        f"{setting.default_text or 'none'}).",
        **extra,
    )


Scale = Annotated[float | None, setting_option("scale")]
Iterations = Annotated[int | None, setting_option("iterations")]
Warmup = Annotated[int | None, setting_option("warmup")]
RttSweep = Annotated[str | None, setting_option("rtt_sweep_ms")]
JitterMs = Annotated[float | None, setting_option("jitter_ms")]
CallTimeout = Annotated[float | None, setting_option("call_timeout", metavar="SECONDS")]
DriverNames = Annotated[list[str] | None, setting_option("driver", metavar="DRIVER")]
DatabaseUrl = Annotated[str | None, setting_option("database_url")]
Home = Annotated[Path | None, setting_option("home")]


@dataclass(frozen=True, kw_only=True)
class DatabaseOptions:
    """The database a command's options name: ``--database-url``, ``--db``, ``--home``,
    and (for commands that may throw one away) ``--ephemeral`` and ``--disposable``."""

    database_url: str | None = None
    db: str | None = None
    home: Path | None = None
    ephemeral: bool = False
    disposable: bool = False

    def url(self, config: Config | None = None) -> ParsedUrl | None:
        """``--database-url``, else the variable the configuration names, parsed: the one
        place a command parses it (:func:`chosen_drivers` and :meth:`target` take the
        result)."""
        from dalperf.db import urls

        text = (config or project_config()).setting("database_url", self.database_url or None)
        return urls.parse_with_driver(text) if text else None

    def require_extras(self, database_url: ParsedUrl | None) -> None:
        """Fail now, in one line naming the extra, when the database needs one that is
        missing (the embedded server without ``dalperf[server]``)."""
        from dalperf.db.targets import require_source

        require_source(self.db, database_url)

    @contextmanager
    def target(self, database_url: ParsedUrl | None) -> Iterator[Target]:
        """Provide the database (``database_url``: :meth:`url`); anything started is
        stopped afterwards."""
        from dalperf.db.targets import provide

        self.require_extras(database_url)
        with provide(
            source=self.db,
            database_url=database_url,
            home=self.home,
            ephemeral=self.ephemeral,
            disposable=self.disposable,
        ) as target:
            yield target


FROM_FLAGS = DatabaseOptions()  # a command's default for its bundle; with_database fills it in
_THROWAWAY = ("ephemeral", "disposable")
_DATABASE_FLAGS: dict[str, tuple[Any, Any]] = {
    "database_url": (DatabaseUrl, None),
    "db": (DbSource, None),
    "home": (Home, None),
    "ephemeral": (Ephemeral, False),
    "disposable": (Disposable, False),
}
Command = TypeVar("Command", bound=Callable[..., Any])


def with_database(*, throwaway: bool = True) -> Callable[[Command], Command]:
    """Replace the command's :class:`DatabaseOptions` parameter by the database flags
    (without ``--ephemeral`` and ``--disposable`` when ``throwaway`` is false)."""

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        (bundle,) = (p for p in signature.parameters.values() if p.annotation is DatabaseOptions)
        names = [n for n in _DATABASE_FLAGS if throwaway or n not in _THROWAWAY]
        flags = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_DATABASE_FLAGS[name][0],
                default=_DATABASE_FLAGS[name][1],
            )
            for name in names
        ]
        params: list[inspect.Parameter] = []
        for param in signature.parameters.values():
            params += flags if param is bundle else [param]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            options = DatabaseOptions(**{name: kwargs.pop(name) for name in names})
            return command(*args, **kwargs, **{bundle.name: options})

        run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run  # type: ignore[return-value]

    return decorate
