"""Every setting a user can give three ways, declared once and resolved once.

A :class:`Setting` names its flag, its ``DALPERF_*`` environment variable, its
``[tool.dalperf]`` key, its default and its validator; :func:`resolve` turns what a command
was given into a frozen :class:`Settings`, with one precedence for all of them:

    command line  >  environment  >  [tool.dalperf]  >  default

An invalid value gets the same message whichever of the three it came from, naming where:
``--scale``, ``DALPERF_SCALE`` or ``pyproject.toml [tool.dalperf] scale``.  The module is
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


def positive_number(value: Any, where: str) -> float:
    """A finite number > 0 (a scale)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise UsageError(f"{where} must be a number > 0, not {_shown(value)}")
    return float(value)


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


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting: where a user gives it, its default, and how it is checked."""

    name: str  # the code's name, the [tool.dalperf] key and the Settings field
    flag: str
    help: str
    default: Any
    check: Callable[[Any, str], Any]
    from_text: Callable[[str], Any] = _text_number  # an environment variable's text

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def where(self, source: str, *, path: Path | None = None) -> str:
        """How a message names the place a value came from."""
        if source == "flag":
            return self.flag
        if source == "env":
            return self.env
        return f"{path} [tool.dalperf] {self.name}"


DEFAULT_SCALE = 1.0
DEFAULT_ITERATIONS = 30
DEFAULT_WARMUP = 3
DEFAULT_OUT_DIR = Path("reports/out")
DEFAULT_RTT_MS: tuple[float, ...] = ()

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
            name="rtt_ms",
            flag="--rtt-ms",
            help="Simulated round-trip times in ms, comma-separated (e.g. 0,1,5,20,50): "
            "every operation is measured through the latency proxy at each, 0 included",
            default=DEFAULT_RTT_MS,
            check=round_trip_times,
            from_text=_text_numbers,
        ),
        Setting(
            name="out_dir",
            flag="--out-dir",
            help="Folder for results and reports",
            default=DEFAULT_OUT_DIR,
            check=folder,
            from_text=str,
        ),
    )
}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The resolved settings a command runs with (each from the first place that sets it)."""

    scale: float = DEFAULT_SCALE
    iterations: int = DEFAULT_ITERATIONS
    warmup: int = DEFAULT_WARMUP
    rtt_ms: tuple[float, ...] = DEFAULT_RTT_MS
    out_dir: Path = DEFAULT_OUT_DIR
    sources: Mapping[str, str] | None = None  # name -> "flag", "env", "file" or "default"


def check_file_value(name: str, value: Any, *, path: Path) -> Any:
    """``value`` of key ``name`` in ``path``'s ``[tool.dalperf]``, validated."""
    setting = SETTINGS[name]
    return setting.check(value, setting.where("file", path=path))


def resolve(
    flags: Mapping[str, Any],
    file_values: Mapping[str, Any],
    *,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """The :class:`Settings` from the command's ``flags`` (None: not given), the
    environment and ``file_values`` (the ``[tool.dalperf]`` of ``path``, already
    validated; None: not set), in that order, else the defaults."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, setting in SETTINGS.items():
        flag = flags.get(name)
        if flag is not None:
            raw = setting.from_text(flag) if isinstance(flag, str) else flag
            values[name], sources[name] = setting.check(raw, setting.where("flag")), "flag"
        elif env.get(setting.env, "").strip():
            raw = setting.from_text(env[setting.env])
            values[name], sources[name] = setting.check(raw, setting.where("env")), "env"
        elif file_values.get(name) is not None:
            values[name], sources[name] = file_values[name], "file"
        else:
            values[name], sources[name] = setting.default, "default"
    return Settings(**values, sources=sources)
