"""Budgets: the limits an operation x variant must keep, their sources, how they are checked.

A budget is a set of *limits*, each ``None`` (not checked) or a value:

==================  =========  =====================================================
``max_queries``     int >= 0   statements sent by the worst call
``max_round_trips`` int >= 0   depth: the longest chain of queries that did not overlap
``max_network_round_trips`` int >= 0  depth counting hidden BEGIN/COMMIT/connect round trips
``max_rows_fetched`` int >= 0  rows the server sent back in the worst call
``max_buffers``     int >= 0   buffers the server touched for one call (EXPLAIN ANALYZE
                               BUFFERS of every statement: shared hit + read, temp)
``p95_ms``          number>=0  95th percentile of the wall time per call
``no_n_plus_one``   bool       ``true``: no fingerprint repeated with varying parameters
``complexity``      "O(1)"|"O(n)"  the query count's fit against the operation's size knob
``no_seq_scan_over_rows`` int >= 0  no plan (EXPLAIN) has a Seq Scan on a table of more rows
==================  =========  =====================================================

Sources, in increasing precedence, merged limit by limit:

1. code defaults, :class:`Budget` on the scenario (``register(..., budgets=...)``); a
   variant named ``optimized`` that declares none gets ``Budget()``, the summary's
   checklist (at most 4 queries, no N+1, p95 under 200 ms).  Other variants (``naive``,
   ``summary``) are measured, not gated, unless a budget names them.  The runner stores
   this budget in each measurement of the results JSON;
2. ``[tool.dalperf.budgets]`` in the project's ``pyproject.toml``;
3. a TOML file given with ``--budgets``, whose top level is the budgets table.

The TOML shape, operation then variant (in ``pyproject.toml`` the same tables go under
``tool.dalperf.budgets``: ``[tool.dalperf.budgets."render_chains.delete_chain".optimized]``)::

    ["render_chains.delete_chain".optimized]
    max_queries = 2
    p95_ms = 50

The table ``load`` (not an operation: names have a dot) gates ``dalperf load`` figures per
variant, checked by ``dalperf check --load FILE``: ``min_rps`` (requests per second at
least), ``max_p95_ms`` (p95 latency at most), ``max_failure_ratio`` (failed / all
requests at most, 0 to 1; :data:`DEFAULT_MAX_FAILURE_RATIO`, 1%, when no table sets it)::

    [load.optimized]
    min_rps = 100
    max_p95_ms = 200
    max_failure_ratio = 0

A limit can be set or tightened there, not removed (TOML has no null).  An unknown key,
operation or variant is a :class:`~dalperf.errors.UsageError` suggesting the close match;
so is a negative or non-numeric limit.  This module knows measurements only through
:class:`Figures`, so the same checks serve the results JSON and a live capture.
"""

from __future__ import annotations

import difflib
import math
import textwrap
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dalperf.errors import UsageError

DEFAULT_MAX_QUERIES = 4  # the summary's checklist: "Maximum 3-4 queries per action"
DEFAULT_P95_MS = 200.0  # the summary's checklist: "Response time < 200ms"
GATED_BY_DEFAULT = "optimized"  # the variant the checklist's defaults apply to
PYPROJECT = "pyproject.toml"
SQL_IN_MESSAGE = 160  # characters of a statement quoted in a one-line message

COUNT_LIMITS = ("max_queries", "max_round_trips", "max_network_round_trips", "max_rows_fetched")
BUFFERS_LIMIT = "max_buffers"
SEQ_SCAN_LIMIT = "no_seq_scan_over_rows"
WHOLE_LIMITS = (*COUNT_LIMITS, BUFFERS_LIMIT, SEQ_SCAN_LIMIT)  # whole numbers >= 0
LIMITS = (*COUNT_LIMITS, BUFFERS_LIMIT, "p95_ms", "no_n_plus_one", "complexity", SEQ_SCAN_LIMIT)
LOAD_TABLE = "load"  # [load.<variant>]: limits on a load test's figures
LOAD_LIMITS = ("min_rps", "max_p95_ms", "max_failure_ratio")
DEFAULT_MAX_FAILURE_RATIO = 0.01  # every load variant's, unless its [load.<variant>] sets one
COMPLEXITY_ORDER = ("O(1)", "O(n)")  # a budget of O(n) also accepts O(1)


def check_limit(name: str, value: Any, *, where: str) -> Any:
    """``value`` if it is a valid value of limit ``name``; a one-line UsageError otherwise."""
    if name not in LIMITS:
        raise UsageError(f"{where}: unknown key {name!r}{suggest(name, LIMITS)}")
    if value is None:
        return None
    if name in WHOLE_LIMITS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(f"{where}: {name} must be a whole number >= 0, not {value!r}")
    elif name == "p95_ms":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise UsageError(
                f"{where}: p95_ms must be a number of milliseconds >= 0, not {value!r}"
            )
    elif name == "no_n_plus_one":
        if not isinstance(value, bool):
            raise UsageError(f"{where}: no_n_plus_one must be true or false, not {value!r}")
    elif value not in COMPLEXITY_ORDER:
        raise UsageError(
            f"{where}: complexity must be one of {', '.join(COMPLEXITY_ORDER)}, not {value!r}"
        )
    return value


def check_load_limits(limits: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """The load-test limits ``limits``, every key and value validated (:data:`LOAD_LIMITS`)."""
    for name, value in limits.items():
        if name not in LOAD_LIMITS:
            raise UsageError(f"{where}: unknown key {name!r}{suggest(name, LOAD_LIMITS)}")
        ceiling = 1 if name == "max_failure_ratio" else math.inf
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= ceiling
        ):
            bounds = ">= 0 and <= 1" if ceiling == 1 else ">= 0"
            raise UsageError(f"{where}: {name} must be a number {bounds}, not {value!r}")
    return dict(limits)


def check_limits(limits: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """The limits that are set (``None`` dropped), every key and value validated."""
    checked = {name: check_limit(name, value, where=where) for name, value in limits.items()}
    return {name: value for name, value in checked.items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Code-level default limits of one variant; ``None`` means not checked."""

    max_queries: int | None = DEFAULT_MAX_QUERIES
    max_round_trips: int | None = None
    max_network_round_trips: int | None = None
    max_rows_fetched: int | None = None
    max_buffers: int | None = None
    p95_ms: float | None = DEFAULT_P95_MS
    no_n_plus_one: bool = True
    complexity: str | None = None
    no_seq_scan_over_rows: int | None = None

    def __post_init__(self) -> None:
        for name in LIMITS:
            check_limit(name, getattr(self, name), where="Budget")


def default_budget(variant: str) -> Budget | None:
    """The budget of a variant that declares none: the checklist's for ``optimized`` only."""
    return Budget() if variant == GATED_BY_DEFAULT else None


# --------------------------------------------------------------------------------------
# Checking figures against limits
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Figures:
    """What a budget is checked against; ``None`` for a figure that was not measured."""

    queries: int
    round_trips: int
    rows_fetched: int
    network_round_trips: int = 0
    p95_ms: float | None = None
    n_plus_one: tuple[Mapping[str, Any], ...] = ()
    complexity: str | None = None
    buffers: int | None = None  # None: not explained
    # every Seq Scan of the plans ({"relation", "table_rows"}, largest first); None: no plans
    seq_scans: tuple[Mapping[str, Any], ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Breach:
    """One limit exceeded."""

    limit: str
    allowed: Any
    measured: Any
    message: str


_FIGURE_OF = {
    "max_queries": "queries",
    "max_round_trips": "round_trips",
    "max_network_round_trips": "network_round_trips",
    "max_rows_fetched": "rows_fetched",
}
_NOUN = {
    "max_queries": "queries",
    "max_round_trips": "round trips (depth)",
    "max_network_round_trips": "network round trips",
    "max_rows_fetched": "rows fetched",
}


def breaches(limits: Mapping[str, Any], figures: Figures) -> list[Breach]:
    """Every limit in ``limits`` that ``figures`` exceed, in :data:`LIMITS` order."""
    found = []
    for name in LIMITS:
        allowed = limits.get(name)
        if allowed is None or allowed is False:
            continue
        breach = _breach(name, allowed, figures)
        if breach is not None:
            found.append(breach)
    return found


def _breach(name: str, allowed: Any, figures: Figures) -> Breach | None:
    if name in _FIGURE_OF:
        measured = getattr(figures, _FIGURE_OF[name])
        if measured <= allowed:
            return None
        return Breach(
            limit=name,
            allowed=allowed,
            measured=measured,
            message=f"{measured} {_NOUN[name]}, budget {allowed}",
        )
    if name == BUFFERS_LIMIT:
        if figures.buffers is None:
            return Breach(
                limit=name,
                allowed=allowed,
                measured=None,
                message="no buffers measured to check max_buffers against (run with --explain)",
            )
        if figures.buffers <= allowed:
            return None
        return Breach(
            limit=name,
            allowed=allowed,
            measured=figures.buffers,
            message=f"{figures.buffers:,} buffers per call, budget {allowed:,}",
        )
    if name == "p95_ms":
        p95 = figures.p95_ms
        if p95 is None or math.isnan(p95):
            return Breach(
                limit=name,
                allowed=allowed,
                measured=None,
                message="no timing samples to check p95 against",
            )
        if p95 <= allowed:
            return None
        return Breach(
            limit=name,
            allowed=allowed,
            measured=round(p95, 3),
            message=f"p95 {p95:.1f} ms, budget {allowed:g} ms",
        )
    if name == "no_n_plus_one":
        if not figures.n_plus_one:
            return None
        worst = figures.n_plus_one[0]
        where = f" at {worst['call_site']}" if worst.get("call_site") else ""
        return Breach(
            limit=name,
            allowed=True,
            measured=int(worst["count"]),
            message=f"N+1: {worst['count']}x {shorten_sql(worst['sql'])}{where}",
        )
    if name == SEQ_SCAN_LIMIT:
        if figures.seq_scans is None:
            return Breach(
                limit=name,
                allowed=allowed,
                measured=None,
                message="no plans to check for sequential scans (run with --explain)",
            )
        over = [s for s in figures.seq_scans if (s["table_rows"] or 0) > allowed]
        if not over:
            return None
        return Breach(
            limit=name,
            allowed=allowed,
            measured=int(over[0]["table_rows"]),
            message=f"Seq Scan on {over[0]['relation']} "
            f"({over[0]['table_rows']:,.0f} rows), budget: none over "
            f"{allowed:,} rows",
        )
    verdict = figures.complexity
    if verdict is None:
        return Breach(
            limit=name,
            allowed=allowed,
            measured=None,
            message="complexity not measured (needs a size knob, run without --no-complexity)",
        )
    if verdict in COMPLEXITY_ORDER[: COMPLEXITY_ORDER.index(allowed) + 1]:
        return None
    return Breach(
        limit=name,
        allowed=allowed,
        measured=verdict,
        message=f"query count grows {verdict}, budget {allowed}",
    )


# --------------------------------------------------------------------------------------
# Budget sets from TOML
# --------------------------------------------------------------------------------------

Limits = Mapping[str, Any]


@dataclass(frozen=True)
class BudgetSet:
    """Limits by ``(operation, variant)`` from one or more TOML sources, later ones winning."""

    entries: Mapping[tuple[str, str], Limits] = field(default_factory=dict)
    origins: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", MappingProxyType(dict(self.entries)))
        object.__setattr__(self, "origins", MappingProxyType(dict(self.origins)))

    @classmethod
    def parse(cls, table: Any, *, source: str) -> BudgetSet:
        """Validate a budgets table (operation -> variant -> limits) read from ``source``."""
        if not isinstance(table, Mapping):
            raise UsageError(f"{source}: budgets must be a table of operations")
        entries: dict[tuple[str, str], Limits] = {}
        for operation, variants in table.items():
            if not isinstance(variants, Mapping) or not all(
                isinstance(v, Mapping) for v in variants.values()
            ):
                raise UsageError(
                    f"{source}: budgets for {operation!r} must be tables of "
                    f'limits per variant, e.g. ["{operation}".optimized]'
                )
            check = check_load_limits if operation == LOAD_TABLE else check_limits
            for variant, limits in variants.items():
                where = f'{source}: ["{operation}".{variant}]'
                entries[(operation, variant)] = check(limits, where=where)
        return cls(entries, dict.fromkeys(entries, source))

    def over(self, other: BudgetSet) -> BudgetSet:
        """This set with ``other`` laid on top: ``other``'s limits win, limit by limit."""
        entries = dict(self.entries)
        for key, limits in other.entries.items():
            entries[key] = {**entries.get(key, {}), **limits}
        return BudgetSet(entries, {**self.origins, **other.origins})

    def validate(
        self, known: Mapping[str, Collection[str]], measured: Collection[str] | None = None
    ) -> list[str]:
        """Every operation and variant named must be in ``known`` (operation -> variants of
        every loaded module); an operation known but not in ``measured`` (outside a shard or
        an ``--only`` subset) is skipped: the notes saying so are returned."""
        notes = []
        for operation, variant in self.entries:
            source = self.origins[(operation, variant)]
            if operation == LOAD_TABLE:  # checked against the load results (dalperf.gate.check)
                continue
            if operation not in known:
                raise UsageError(
                    f"{source}: no operation {operation!r} in the results"
                    f"{suggest(operation, list(known))}"
                )
            if variant not in known[operation]:
                raise UsageError(
                    f"{source}: operation {operation} has no variant {variant!r}"
                    f"{suggest(variant, list(known[operation]))}"
                )
            if measured is not None and operation not in measured:
                notes.append(
                    f"budget of {operation} [{variant}] skipped: not measured in this "
                    "run (a shard or an --only subset)"
                )
        return notes

    def limits(self, operation: str, variant: str, base: Limits | None = None) -> dict[str, Any]:
        """``base`` (the code default) overlaid with this set's limits for the pair."""
        return {**(base or {}), **self.entries.get((operation, variant), {})}

    def __len__(self) -> int:
        return len(self.entries)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` or a folder above it."""
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / PYPROJECT
        if candidate.is_file():
            return candidate
    return None


def read_budgets(pyproject: Path | None, budgets_file: Path | None) -> BudgetSet:
    """``[tool.dalperf.budgets]`` of ``pyproject`` overlaid with ``budgets_file``; either may
    be ``None``.  The code defaults stay in the results and go under both (see
    :meth:`BudgetSet.limits`)."""
    budgets = BudgetSet()
    if pyproject is not None:
        table = _read_toml(pyproject).get("tool", {}).get("dalperf", {}).get("budgets", {})
        budgets = budgets.over(BudgetSet.parse(table, source=f"{pyproject} [tool.dalperf.budgets]"))
    if budgets_file is not None:
        budgets = budgets.over(BudgetSet.parse(_read_toml(budgets_file), source=str(budgets_file)))
    return budgets


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise UsageError(f"budgets file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc


def shorten_sql(sql: str, width: int = SQL_IN_MESSAGE) -> str:
    """``sql`` on one line, cut at a word boundary to at most ``width`` characters."""
    return textwrap.shorten(sql, width=width, placeholder=" ...")


def suggest(name: str, known: Collection[str]) -> str:
    """``"; did you mean X?"`` for the close matches of ``name``, else the known names."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    if close:
        return f"; did you mean {', '.join(close)}?"
    return f"; known: {', '.join(known) or 'none'}"
