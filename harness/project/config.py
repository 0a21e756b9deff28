"""``[tool.dalperf]``: a project's configuration, read once and validated before anything runs.

The table lives in the nearest ``pyproject.toml`` (or the file ``--config`` names: a
``pyproject.toml``-like file with a ``[tool.dalperf]`` table, or a TOML file whose top level is
that table).  Every key is optional; flags on the command line override the file.

=====================  =====================  ===============================================
key                    type                   meaning
=====================  =====================  ===============================================
``scenarios``          string or list         modules (dotted) or ``.py`` files registering
                                              operations; set: the project is measured, not
                                              the case study
``database_url_env``   string                 environment variable holding the database URL
                                              (default ``DALPERF_DATABASE_URL``)
``schema``             string                 a folder of SQL migrations, an Alembic ``.ini``,
                                              or a metadata object ``pkg.models:Base.metadata``
``seed``               string                 the seed hook ``pkg.perf:seed``, called as
                                              ``seed(engine, scale, seed)``
``scale``              number > 0             the scale handed to the seed hook
``iterations``         int >= 1               measured calls per variant
``warmup``             int >= 0               unmeasured calls per variant first
``rtt_ms``             number or list         simulated round-trip times (``run --rtt-ms``)
``jitter_ms``          number                 each round trip takes the RTT ± this much
``call_timeout``       number > 0             seconds a variant call may take
``driver``             string or list         psycopg, psycopg2 or asyncpg (``--driver``)
``out_dir``            string                 folder for results and reports
``budgets``            table or string        budgets (operation -> variant -> limits), or a
                                              TOML file of them
``variants``           table                  ``reference`` and ``ours``: the variants the
                                              report labels so
=====================  =====================  ===============================================

Relative paths resolve against the config file's folder, the *project root*, which
:func:`activate` puts first on ``sys.path`` so the project's packages import.  Any problem
is a one-line :class:`~dalperf.errors.UsageError` naming the file and the key.
"""

from __future__ import annotations

import importlib
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dalperf.errors import UsageError, describe, suggest
from dalperf.project.budgets import PYPROJECT, BudgetSet, find_pyproject
from dalperf.project.settings import (
    FILE_KEYS,
    Settings,
    check_file_value,
    resolve,
    resolve_one,
)

DEFAULT_DATABASE_URL_ENV = "DALPERF_DATABASE_URL"
VARIANT_ROLES = ("reference", "ours")
VARIANT_ROLES_KEY = "variant_roles"  # where the results' environment records ``variants``
KEYS = ("scenarios", "database_url_env", "schema", "seed", *FILE_KEYS, "budgets", "variants")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True, kw_only=True)
class Config:
    """The validated ``[tool.dalperf]`` table; ``None`` for a key the file does not set."""

    path: Path | None = None  # the file read; None when there is none
    scenarios: tuple[str, ...] = ()
    database_url_env: str = DEFAULT_DATABASE_URL_ENV
    schema: str | None = None  # a resolved folder or .ini path, or "module:attribute"
    seed: str | None = None
    scale: float | None = None
    iterations: int | None = None
    warmup: int | None = None
    rtt_sweep_ms: tuple[float, ...] | None = None
    jitter_ms: float | None = None
    call_timeout: float | None = None
    driver: tuple[str, ...] | None = None
    out_dir: Path | None = None
    budgets: BudgetSet = field(default_factory=BudgetSet)
    variants: Mapping[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The project root: the config file's folder (the working folder without one)."""
        return self.path.parent if self.path is not None else Path.cwd().resolve()

    @property
    def is_project(self) -> bool:
        """Whether the file names the project's operations (else the case study is measured)."""
        return bool(self.scenarios)

    def where(self, key: str) -> str:
        return f"{self.path} [tool.dalperf] {key}"

    def settings(self, **flags: Any) -> Settings:
        """The settings a command runs with: its ``flags`` (None: not given) over the
        environment, over this file, over the defaults (:func:`dalperf.project.settings.resolve`)."""
        return resolve(
            flags, {name: getattr(self, name) for name in FILE_KEYS.values()}, path=self.path
        )

    def setting(self, name: str, flag: Any = None) -> Any:
        """One setting's value: the database URL (from the variable ``database_url_env``
        names) and the embedded server's folder, which the database options resolve."""
        file_value = getattr(self, name) if name in FILE_KEYS.values() else None
        env = self.database_url_env if name == "database_url" else None
        return resolve_one(name, flag, file_value, env=env)[0]


def load(config_file: Path | None = None, *, start: Path | None = None) -> Config:
    """The configuration of ``config_file``, else of the nearest ``pyproject.toml`` above
    ``start`` (the working folder); an empty :class:`Config` when neither has one."""
    if config_file is not None:
        path = config_file.expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"config file {config_file} does not exist")
        data = _read_toml(path)
        tool = data.get("tool", {})
        if isinstance(tool, Mapping) and "dalperf" in tool:
            table = tool["dalperf"]
        elif path.name == PYPROJECT or not data or set(data) == {"tool"}:
            # named on purpose: measuring the case study instead would be a silent mistake
            raise UsageError(
                f"config file {config_file} has no [tool.dalperf] table (give "
                "the file holding dalperf's settings, or a TOML file of them)"
            )
        else:
            table = data
    else:
        found = find_pyproject(start or Path.cwd())
        if found is None:
            return Config()
        path = found
        table = _read_toml(path).get("tool", {}).get("dalperf", {})
    if not isinstance(table, Mapping):
        raise UsageError(f"{path}: [tool.dalperf] must be a table")
    return parse(table, path=path)


def parse(table: Mapping[str, Any], *, path: Path) -> Config:
    """Validate ``table`` (the ``[tool.dalperf]`` of ``path``) key by key."""
    for key in table:
        if key not in KEYS:
            raise UsageError(f"{path} [tool.dalperf]: unknown key {key!r}{suggest(key, KEYS)}")
    root = path.parent
    where = f"{path} [tool.dalperf]"
    values: dict[str, Any] = {}
    if "scenarios" in table:
        specs = _strings(table["scenarios"], where=f"{where} scenarios")
        values["scenarios"] = tuple(_resolve_spec(spec, root) for spec in specs)
    if "database_url_env" in table:
        name = table["database_url_env"]
        if not isinstance(name, str) or not _ENV_NAME_RE.match(name):
            raise UsageError(
                f"{where} database_url_env must be the name of an environment "
                f"variable, not {name!r}"
            )
        values["database_url_env"] = name
    if "schema" in table:
        values["schema"] = _schema(
            _string(table["schema"], where=f"{where} schema"), root, where=f"{where} schema"
        )
    if "seed" in table:
        hook = _string(table["seed"], where=f"{where} seed")
        if not _TARGET_RE.match(hook):
            raise UsageError(
                f"{where} seed must name a function as 'package.module:function', not {hook!r}"
            )
        values["seed"] = hook
    for key, name in FILE_KEYS.items():
        if key in table:
            values[name] = check_file_value(key, table[key], path=path)
    if "out_dir" in values:
        values["out_dir"] = root / values["out_dir"]
    if "budgets" in table:
        values["budgets"] = _budgets(table["budgets"], root=root, path=path)
    if "variants" in table:
        values["variants"] = _variants(table["variants"], where=f"{where} variants")
    return Config(path=path, **values)


def activate(config: Config) -> None:
    """Put the project root first on ``sys.path``, so the project's own packages import."""
    root = str(config.root)
    if root not in sys.path:
        sys.path.insert(0, root)


def import_target(spec: str, *, what: str) -> Any:
    """The object ``module:attribute.path`` names; a one-line UsageError when it does not
    import (``what`` says which key or flag named it)."""
    module_name, _, attribute = spec.partition(":")
    found: Any = import_module(module_name, what=f"{what} {spec!r}")
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError as exc:
            raise UsageError(
                f"{what} {spec!r}: {module_name} has no attribute {attribute!r}"
            ) from exc
    return found


def import_module(name: str, *, what: str) -> ModuleType:
    """Module ``name``; a one-line UsageError (``what`` first) when it does not import."""
    try:
        return importlib.import_module(name)
    except (Exception, SystemExit) as exc:  # whatever the user's module raises, exit too
        raise UsageError(f"{what} does not import: {describe(exc)}") from exc


def seed_hook(config: Config) -> Callable[..., Any] | None:
    """The configured seed function, imported and checked to be callable."""
    if config.seed is None:
        return None
    hook = import_target(config.seed, what=config.where("seed"))
    if not callable(hook):
        raise UsageError(f"{config.where('seed')} {config.seed!r} is not a function")
    return hook


# --------------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc


def _string(value: Any, *, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where} must be a string, not {value!r}")
    return value


def _strings(value: Any, *, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(v, str) and v.strip() for v in items)
    ):
        raise UsageError(f"{where} must be a string or a list of strings, not {value!r}")
    return list(items)


def _is_path(spec: str) -> bool:
    return spec.endswith((".py", ".ini")) or "/" in spec or "\\" in spec


def _resolve_spec(spec: str, root: Path) -> str:
    """A ``.py`` path resolved against ``root``; a dotted module name as it is."""
    return str((root / spec).resolve()) if _is_path(spec) else spec


_SCHEMA_SOURCES = (
    "give a folder of SQL migrations, an Alembic .ini, or 'package.module:Base.metadata'"
)


def _schema(spec: str, root: Path, *, where: str) -> str:
    if _TARGET_RE.match(spec):
        return spec
    path = (root / spec).resolve()
    if not path.exists():
        raise UsageError(f"{where} {spec!r}: {path} does not exist ({_SCHEMA_SOURCES})")
    if path.is_file() and path.suffix != ".ini":
        hint = (
            (f"; the folder holding it, {path.parent.name}/, is one if it holds the migrations")
            if path.suffix == ".sql"
            else ""
        )
        raise UsageError(
            f"{where} {spec!r}: {path.name} is a file, not a schema source "
            f"({_SCHEMA_SOURCES}){hint}"
        )
    return str(path)


def _budgets(value: Any, *, root: Path, path: Path) -> BudgetSet:
    if isinstance(value, str):
        file = root / value
        if not file.is_file():
            raise UsageError(f"{path} [tool.dalperf] budgets: {file} does not exist")
        return BudgetSet.parse(_read_toml(file), source=str(file))
    return BudgetSet.parse(value, source=f"{path} [tool.dalperf.budgets]")


def _variants(value: Any, *, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise UsageError(
            f'{where} must be a table like {{reference = "naive", '
            f'ours = "optimized"}}, not {value!r}'
        )
    for key, name in value.items():
        if key not in VARIANT_ROLES:
            raise UsageError(f"{where}: unknown key {key!r}{suggest(key, VARIANT_ROLES)}")
        _string(name, where=f"{where}.{key}")
    return dict(value)
