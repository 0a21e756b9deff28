"""Every setting a user can give three ways, declared once and resolved once.

A :class:`Setting` names its flag, its ``DALPERF_*`` environment variable, its
``[tool.dalperf]`` key, its default and its validator; :func:`resolve` turns what a command
was given into a frozen :class:`Settings`, with one precedence for all of them:

    command line  >  environment  >  [tool.dalperf]  >  default

An invalid value gets the same message whichever of the three it came from, naming where:
``--scale``, ``DALPERF_SCALE`` or ``pyproject.toml [tool.dalperf] scale``.  A setting with
no ``[tool.dalperf]`` key (the database URL, the embedded server's folder) skips the file;
those two are the command line's database options, resolved one at a time (:func:`resolve_one`),
and the database URL's variable is the one ``database_url_env`` names.  The module is
standard library only (the engine, the pytest plugin and ``dalperf --help`` import it);
:mod:`dalperf.project.config` validates the file's keys with the validators declared here, and the
command line builds its options from the same declarations (:mod:`dalperf.cli.options`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dalperf.errors import UsageError

ENV_PREFIX = "DALPERF_"
MAX_DELAY_MS = 10_000.0  # the largest simulated round-trip time or jitter the proxy takes


def _shown(value: Any) -> str:
    """A refused value as a message shows it: ``-1`` whether it came as text, int or float."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    return repr(value)


def positive(what: str) -> Callable[[Any, str], float]:
    """A validator of finite numbers > 0, ``what`` naming them in its message."""

    def check(value: Any, where: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise UsageError(f"{where} must be {what} > 0, not {_shown(value)}")
        return float(value)

    return check


positive_number = positive("a number")  # a scale
seconds = positive("a number of seconds")  # a timeout


def whole(least: int) -> Callable[[Any, str], int]:
    """A validator of whole numbers >= ``least``."""

    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UsageError(f"{where} must be a whole number >= {least}, not {_shown(value)}")
        return value

    return check


def round_trip_times(value: Any, where: str) -> tuple[float, ...]:
    """A simulated round-trip time in ms or a list of them, each one the latency proxy can
    delay by (from 0 to its maximum)."""
    bound = f"a number of milliseconds from 0 to {MAX_DELAY_MS:,.0f}"
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise UsageError(f"{where}: {item!r} is not a number (give {bound})")
        if not (math.isfinite(item) and 0 <= item <= MAX_DELAY_MS):
            raise UsageError(f"{where} must be {bound}, not {item:g}")
    return tuple(float(item) for item in items)


def delay(value: Any, where: str) -> float:
    """One delay in ms the latency proxy can add (a jitter): from 0 to its maximum."""
    if isinstance(value, list | tuple):
        raise UsageError(f"{where} must be one number of milliseconds, not a list")
    (one,) = round_trip_times(value, where)
    return one


def driver_names(value: Any, where: str) -> tuple[str, ...]:
    """Driver names (one, or a list of them), each one dalperf measures through."""
    items = value if isinstance(value, list | tuple) else [value]
    names = []
    for item in items:
        name = item.strip().lower() if isinstance(item, str) else item
        if name not in DRIVER_NAMES:
            raise UsageError(
                f"{where}: unsupported driver {item!r}: dalperf supports {SUPPORTED_DRIVERS}"
            )
        names.append(name)
    return tuple(names)


def text(value: Any, where: str) -> str:
    """A non-empty string (a URL, checked where it is parsed: :mod:`dalperf.db.urls`)."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where} must be a non-empty string, not {value!r}")
    return value


def folder(value: Any, where: str) -> Path:
    """A non-empty path."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where} must be a string, not {value!r}")
    return Path(value)


def _text_number(text: str) -> Any:
    """An environment variable's text as the number it spells (else the text, refused by
    the validator with the same message as a wrong value in the file)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def _text_numbers(text: str) -> Any:
    """``0,1,5``: comma-separated numbers (as ``--rtt-ms`` and ``DALPERF_RTT_MS`` take them)."""
    return [_text_number(part.strip()) for part in text.split(",")]


def _text_list(text: str) -> list[str]:
    """``psycopg,asyncpg``: comma-separated words (as ``DALPERF_DRIVER`` takes them)."""
    return [part.strip() for part in text.split(",")]


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting: where a user gives it, its default, and how it is checked."""

    name: str  # the code's name: the Settings field
    flag: str
    help: str
    default: Any
    check: Callable[[Any, str], Any]
    from_text: Callable[[str], Any] = _text_number  # an environment variable's text
    in_file: bool = True  # whether [tool.dalperf] has a key for it
    shown: str | None = None  # how help shows the default, when not as the value itself
    user_name: str | None = None  # the key and variable's name, when not the code's

    @property
    def key(self) -> str:
        """The ``[tool.dalperf]`` key (and the ``DALPERF_*`` variable's suffix)."""
        return self.user_name or self.name

    @property
    def default_text(self) -> str:
        """The default as ``--help`` and the commands page show it."""
        if self.shown is not None:
            return self.shown
        values = self.default if isinstance(self.default, tuple) else (self.default,)
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)

    @property
    def env(self) -> str:
        """The variable by default (the database URL's is the one the file names)."""
        return ENV_PREFIX + self.key.upper()

    def where(self, source: str, *, path: Path | None = None, env: str | None = None) -> str:
        """How a message names the place a value came from."""
        if source == "flag":
            return self.flag
        if source == "env":
            return env or self.env
        return f"{path} [tool.dalperf] {self.key}"


DEFAULT_SCALE = 1.0
DEFAULT_ITERATIONS = 30
DEFAULT_WARMUP = 3
DEFAULT_OUT_DIR = Path("reports/out")
DEFAULT_RTT_SWEEP_MS: tuple[float, ...] = ()
DEFAULT_JITTER_MS = 0.0
DEFAULT_CALL_TIMEOUT_S = 30.0  # one variant call, client-side and as statement_timeout
DEFAULT_DRIVERS: tuple[str, ...] = ()  # none chosen: the database URL's, else psycopg
DEFAULT_HOME = Path(".dalperf")
DRIVER_NAMES = ("psycopg", "psycopg2", "asyncpg")  # dalperf.db.drivers.DRIVERS, by name
SUPPORTED_DRIVERS = "psycopg (3), psycopg2 and asyncpg"

SETTINGS: Mapping[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            name="scale",
            flag="--scale",
            help="Data size: for the case study 1 is ~1,000 users, 100,000 renders; for a "
            "project, what its seed hook is given",
            default=DEFAULT_SCALE,
            check=positive_number,
        ),
        Setting(
            name="iterations",
            flag="--iterations",
            help="Measured calls per variant",
            default=DEFAULT_ITERATIONS,
            check=whole(1),
        ),
        Setting(
            name="warmup",
            flag="--warmup",
            help="Unmeasured calls per variant first",
            default=DEFAULT_WARMUP,
            check=whole(0),
        ),
        Setting(
            name="rtt_sweep_ms",
            user_name="rtt_ms",  # the flag, key and variable predate the code's name
            flag="--rtt-ms",
            help="Simulated round-trip times in ms, comma-separated (e.g. 0,1,5,20,50): "
            "every operation is measured through the latency proxy at each, 0 included",
            default=DEFAULT_RTT_SWEEP_MS,
            check=round_trip_times,
            from_text=_text_numbers,
        ),
        Setting(
            name="jitter_ms",
            flag="--jitter-ms",
            help="With --rtt-ms: each round trip takes the RTT ± this much (uniform)",
            default=DEFAULT_JITTER_MS,
            check=delay,
        ),
        Setting(
            name="call_timeout",
            flag="--call-timeout",
            help="A variant call (or params factory) still running after this many seconds "
            "is a recorded failure and the run goes on; also the statement_timeout of every "
            "connection",
            default=DEFAULT_CALL_TIMEOUT_S,
            check=seconds,
        ),
        Setting(
            name="driver",
            flag="--driver",
            help="psycopg, psycopg2 or asyncpg, repeatable (the variable: comma-separated): "
            "async variants run on asyncpg or psycopg 3, sync variants on psycopg2 or "
            "psycopg 3 (README: Drivers)",
            default=DEFAULT_DRIVERS,
            shown="the database URL's driver (postgresql+asyncpg://), else psycopg",
            check=driver_names,
            from_text=_text_list,
        ),
        Setting(
            name="out_dir",
            flag="--out-dir",
            help="Folder for results and reports",
            default=DEFAULT_OUT_DIR,
            check=folder,
            from_text=str,
        ),
        Setting(
            name="database_url",
            flag="--database-url",
            help="PostgreSQL URL to use instead of the embedded server (the variable: the one "
            "tool.dalperf database_url_env names; an app's own DATABASE_URL only when named "
            "there)",
            default=None,
            shown="the embedded server",
            check=text,
            from_text=str,
            in_file=False,  # a URL may hold a password: the file names its variable instead
        ),
        Setting(
            name="home",
            flag="--home",
            help="Folder for the embedded server's data",
            default=DEFAULT_HOME,
            shown="./.dalperf",
            check=folder,
            from_text=str,
            in_file=False,  # a folder of this machine's
        ),
    )
}
# resolved one at a time by the command line's database options (resolve_one), not in Settings
BUNDLED = ("database_url", "home")
FILE_KEYS: Mapping[str, str] = {  # [tool.dalperf] key -> setting
    setting.key: name for name, setting in SETTINGS.items() if setting.in_file
}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The resolved settings a command runs with (each from the first place that sets it)."""

    scale: float = DEFAULT_SCALE
    iterations: int = DEFAULT_ITERATIONS
    warmup: int = DEFAULT_WARMUP
    rtt_sweep_ms: tuple[float, ...] = DEFAULT_RTT_SWEEP_MS
    jitter_ms: float = DEFAULT_JITTER_MS
    call_timeout: float = DEFAULT_CALL_TIMEOUT_S
    driver: tuple[str, ...] = DEFAULT_DRIVERS
    out_dir: Path = DEFAULT_OUT_DIR
    sources: Mapping[str, str] | None = None  # name -> "flag", "env", "file" or "default"


def check_file_value(key: str, value: Any, *, path: Path) -> Any:
    """``value`` of ``key`` in ``path``'s ``[tool.dalperf]``, validated."""
    setting = SETTINGS[FILE_KEYS[key]]
    return setting.check(value, setting.where("file", path=path))


def resolve_one(
    name: str,
    flag: Any,
    file_value: Any,
    *,
    environ: Mapping[str, str] | None = None,
    env: str | None = None,
) -> tuple[Any, str]:
    """Setting ``name``'s value and where it came from: ``flag`` (None: not given), else the
    environment variable (``env``, else the setting's own), else ``file_value`` (already
    validated; None: not set), else the default."""
    setting = SETTINGS[name]
    variables = os.environ if environ is None else environ
    variable = env or setting.env
    if flag is not None:
        raw = setting.from_text(flag) if isinstance(flag, str) else flag
        return setting.check(raw, setting.where("flag")), "flag"
    if variables.get(variable, "").strip():
        raw = setting.from_text(variables[variable])
        return setting.check(raw, setting.where("env", env=variable)), "env"
    if file_value is not None:
        return file_value, "file"
    return setting.default, "default"


def resolve(
    flags: Mapping[str, Any],
    file_values: Mapping[str, Any],
    *,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """The :class:`Settings` from the command's ``flags`` (None: not given), the
    environment and ``file_values`` (the ``[tool.dalperf]`` of ``path``, already
    validated; None: not set), in that order, else the defaults (all but the
    :data:`BUNDLED` ones)."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in (n for n in SETTINGS if n not in BUNDLED):
        values[name], sources[name] = resolve_one(
            name,
            flags.get(name),
            file_values.get(name),
            environ=environ,
        )
    return Settings(**values, sources=sources)
