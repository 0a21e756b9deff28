"""Budgets: the limits an operation x variant must keep, and where they are declared.

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
so is a negative or non-numeric limit.  Checking figures against these limits is
:mod:`dalperf.gate.budgets`; the declarations live here, below every layer that reads them
(scenarios, the project's configuration, the gate, the report).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dalperf.errors import UsageError, suggest

DEFAULT_MAX_QUERIES = 4  # the summary's checklist: "Maximum 3-4 queries per action"
DEFAULT_P95_MS = 200.0  # the summary's checklist: "Response time < 200ms"
GATED_BY_DEFAULT = "optimized"  # the variant the checklist's defaults apply to
PYPROJECT = "pyproject.toml"

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
