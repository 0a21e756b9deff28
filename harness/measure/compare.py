"""Base against head in one job: the scenario modules of a git revision and of the working
tree, measured in one process on one database, interleaved round by round.

Why in one job: two runs in two CI jobs land on different machines and moments, and their
latencies differ by far more than most changes do; two sides measured alternately on the
same machine and database share every disturbance.  :func:`plan_comparison` and
:func:`compare_revisions`

1. resolve ``--base`` in the git repository of the current folder and refuses a working
   tree with uncommitted changes to tracked files unless allowed (what is measured as the
   head would not be a commit), and a revision without the scenario modules, all before
   any database is opened;
2. import the working tree's scenario modules as ``dalperf run`` does (into
   :data:`~dalperf.measure.registry.REGISTRY`), then checks the base revision out into a
   temporary ``git worktree`` (:mod:`dalperf.measure.revision`) and import the same
   modules from there under other module names, into a registry of their own
   (:func:`~dalperf.measure.registry.registering_into`).  A base module that imports its
   siblings by absolute name would get the working tree's copy; such a base registers no
   operations of its own and is refused;
3. for each operation and variant both sides have, call each side once on its first input
   set (their normalised results must agree), then warm-up and ``iterations`` rounds, each
   round calling base then head, the next head then base (A B, B A, ...);
4. judge each pair as ``dalperf check --baseline`` judges a run against its baseline,
   the base standing in for the baseline: any rise in queries or round trips, and a latency
   rise beyond a check's tolerance that a one-sided Mann-Whitney test finds clear
   (:func:`~dalperf.gate.baseline.latency_regressions`); the head/base ratio of medians
   comes with its bootstrap interval (:func:`~dalperf.results.stats.median_ratio`).

The checkout is removed when the comparison ends, and the base modules are dropped from
``sys.modules``.  The record (:class:`RevisionComparison`) is versioned JSON of its own kind.
"""

from __future__ import annotations

import asyncio
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from dalperf.errors import DatabaseUnreachable, UsageError
from dalperf.gate.baseline import (
    DEFAULT_CHECKS,
    LatencyCheck,
    Regression,
    count_regressions,
    latency_regressions,
)
from dalperf.measure import revision
from dalperf.measure.config import DEFAULT_PARAM_SETS, DEFAULT_POOL_SIZE
from dalperf.measure.engines import Engines, open_engines
from dalperf.measure.equivalence import mismatch_report
from dalperf.measure.loader import load_modules, operations_of
from dalperf.measure.operations import Operation
from dalperf.measure.registry import Registry, registering_into
from dalperf.measure.runner import lost_reason, measure_call, server_version
from dalperf.project.settings import DEFAULT_ITERATIONS, DEFAULT_WARMUP
from dalperf.results import files
from dalperf.results.stats import Ratio, Summary, median_ratio
from dalperf.version import installed_version

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from dalperf.db.targets import Target

COMPARE_SCHEMA_VERSION = 1
COMPARE_KIND = "dalperf-compare"
SIDES = ("base", "head")

Progress = Callable[[str, int], None]


@dataclass(frozen=True, kw_only=True)
class CompareConfig:
    """How much to measure; defaults are ``dalperf run``'s."""

    iterations: int = DEFAULT_ITERATIONS
    warmup: int = DEFAULT_WARMUP
    param_sets: int = DEFAULT_PARAM_SETS
    seed: int = 0
    pool_size: int = DEFAULT_POOL_SIZE
    checks: tuple[LatencyCheck, ...] = DEFAULT_CHECKS

    def work_units(self, operations: Sequence[Operation]) -> int:
        """Calls a comparison of ``operations`` makes at most: a progress bar's total."""
        per_variant = len(SIDES) * (1 + self.warmup + self.iterations)
        return per_variant * sum(len(op.variants) for op in operations)


@dataclass(frozen=True, kw_only=True)
class Side:
    """One side of a pair: every timed call's wall time, the worst call's counts."""

    wall_ms: Summary
    queries: int
    round_trips: int
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class Pair:
    """One operation x variant, base against head."""

    operation: str
    variant: str
    base: Side
    head: Side
    ratio: Ratio | None  # head / base of the median wall times; None when a side raised
    regressions: tuple[Regression, ...] = ()
    mismatch: str | None = None  # how base and head results differ, if they do

    @property
    def passed(self) -> bool:
        """No regression, same results, and the head did not raise (a base that raised
        and a head that does not is a fix)."""
        return not (self.regressions or self.mismatch or self.head.error)


@dataclass(frozen=True, kw_only=True)
class RevisionComparison:
    """Everything ``dalperf compare`` measured and judged."""

    base: revision.Revision
    head_commit: str | None
    head_changes: tuple[str, ...]  # uncommitted files measured as the head (--allow-dirty)
    config: CompareConfig
    environment: dict[str, Any]
    pairs: tuple[Pair, ...]
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.pairs)

    def to_dict(self) -> dict[str, Any]:
        settings = asdict(self.config)
        settings["checks"] = [str(c) for c in self.config.checks]
        return {
            "schema_version": COMPARE_SCHEMA_VERSION,
            "kind": COMPARE_KIND,
            "passed": self.passed,
            "base": asdict(self.base),
            "head": {"commit": self.head_commit, "changes": list(self.head_changes)},
            "settings": settings,
            "environment": self.environment,
            "pairs": [{**asdict(p), "passed": p.passed} for p in self.pairs],
            "notes": list(self.notes),
        }

    def save(self, path: Path) -> None:
        files.write_atomic(path, files.dumps(self.to_dict()))


@dataclass(frozen=True, kw_only=True)
class ComparePlan:
    """What :func:`compare_revisions` compares, every input checked (:func:`plan_comparison`)."""

    root: Path
    base: revision.Revision
    modules: tuple[Path, ...]  # the scenario modules, relative to ``root``
    head_operations: tuple[Operation, ...]
    changes: tuple[str, ...]  # uncommitted files of the working tree
    only: tuple[str, ...] = ()


def plan_comparison(
    *,
    base_ref: str,
    specs: Sequence[str],
    only: Sequence[str] | None = None,
    allow_dirty: bool = False,
    cwd: Path | None = None,
) -> ComparePlan:
    """Check the inputs of a comparison before any database or checkout: the repository of
    ``cwd``, the revision ``base_ref``, a clean working tree (unless ``allow_dirty``), the
    scenario modules in both, and the working tree's operations (imported here)."""
    root = revision.repository_root(cwd or Path.cwd())
    base = revision.resolve(root, base_ref)
    changes = revision.changed_files(root)
    if changes and not allow_dirty:
        raise UsageError(
            f"the working tree has uncommitted changes ({len(changes)} file(s), "
            f"e.g. {changes[0]}); commit them, or pass --allow-dirty to measure "
            "them as the head"
        )
    modules = tuple(revision.in_repository(spec, root) for spec in specs)
    for module in modules:
        revision.require_module(root, base, module)
    head_ops = operations_of(load_modules(specs), only=only or None)
    if not head_ops:
        raise UsageError(f"no operations registered by {', '.join(specs)}")
    return ComparePlan(
        root=root,
        base=base,
        modules=modules,
        head_operations=tuple(head_ops),
        changes=tuple(changes),
        only=tuple(only or ()),
    )


def compare_revisions(
    target: Target,
    plan: ComparePlan,
    config: CompareConfig | None = None,
    progress: Progress | None = None,
) -> RevisionComparison:
    """Check out the base revision, import its scenario modules and measure them against the
    working tree's on ``target`` (module docstring)."""
    config = config or CompareConfig()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with revision.checkout(plan.root, plan.base) as tree:
        registry = Registry()
        try:
            with registering_into(registry):
                modules = load_modules([str(tree / module) for module in plan.modules])
            base_ops = _own_operations(registry, modules, plan.base, plan.only)
            pairs, notes, environment = asyncio.run(
                measure_interleaved(target.url, base_ops, plan.head_operations, config, progress)
            )
        finally:
            _forget_modules(tree)
    return RevisionComparison(
        base=plan.base,
        head_commit=revision.head(plan.root),
        head_changes=plan.changes,
        config=config,
        pairs=tuple(pairs),
        notes=tuple(notes),
        environment={
            **environment,
            "started_at": started_at,
            "python": platform.python_version(),
            "dalperf": installed_version(),
            "machine": platform.machine(),
        },
    )


def _own_operations(
    registry: Registry,
    modules: Sequence[ModuleType],
    base: revision.Revision,
    only: Sequence[str] | None,
) -> list[Operation]:
    """The base revision's operations, as ``only`` selects them (names the base lacks are
    noted later, not refused)."""
    own = operations_of(modules, registry)
    if not own:
        raise UsageError(
            f"the scenario modules of revision {base.ref} register no operations "
            "of their own (modules that import each other by absolute name load "
            "the working tree's copy: use relative imports or .py paths)"
        )
    return [op for op in own if not only or op.name in only or op.area in only]


def _forget_modules(tree: Path) -> None:
    """Drop the modules imported from the checkout: their files are about to go."""
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and Path(origin).resolve().is_relative_to(tree.resolve()):
            del sys.modules[name]


async def measure_interleaved(
    url: URL,
    base_ops: Sequence[Operation],
    head_ops: Sequence[Operation],
    config: CompareConfig,
    progress: Progress | None = None,
) -> tuple[list[Pair], list[str], dict[str, Any]]:
    """Each operation of both sides, interleaved, on engines for ``url``: the judged pairs,
    notes on what one side lacks, and the server version.  Also measures one revision
    against itself (the noise benchmark passes the same operations twice)."""
    by_name = {op.name: op for op in base_ops}
    head_names = {op.name for op in head_ops}
    notes = [
        f"{op.name}: not in the base revision, measured nowhere"
        for op in head_ops
        if op.name not in by_name
    ]
    notes += [
        f"{op.name}: in the base revision only" for op in base_ops if op.name not in head_names
    ]
    pairs: list[Pair] = []
    async with open_engines(url, pool_size=config.pool_size) as engines:
        environment = {"server_version": await server_version(engines)}
        for head_op in head_ops:
            base_op = by_name.get(head_op.name)
            if base_op is not None:
                pairs += await _compare_operation(
                    base_op, head_op, engines, config, progress or (lambda _what, _n: None), notes
                )
    return pairs, notes, environment


@dataclass(kw_only=True)
class _Calls:
    """What one side of one variant has measured so far."""

    walls: list[float] = field(default_factory=list)
    queries: int = 0
    round_trips: int = 0
    error: str | None = None
    first: Any = None


async def _compare_operation(
    base_op: Operation,
    head_op: Operation,
    engines: Engines,
    config: CompareConfig,
    tick: Progress,
    notes: list[str],
) -> list[Pair]:
    ops = {"base": base_op, "head": head_op}
    base_variants = {v.name for v in base_op.variants}
    variants = [v.name for v in head_op.variants if v.name in base_variants]
    notes += [
        f"{head_op.name} [{name}]: in one revision only"
        for name in sorted({v.name for v in head_op.variants} ^ base_variants)
    ]
    inputs = {
        side: [
            await op.draw_params(engines, seed=config.seed + i) for i in range(config.param_sets)
        ]
        for side, op in ops.items()
    }
    calls = {(side, name): _Calls() for side in SIDES for name in variants}
    for round_no in range(-1, config.warmup + config.iterations):  # -1: the results check
        order = SIDES if round_no % 2 == 0 else SIDES[::-1]
        for name in variants:
            for side in order:
                made = calls[(side, name)]
                if made.error is not None:
                    continue
                params = inputs[side][max(round_no, 0) % config.param_sets]
                op = ops[side]
                try:
                    call = await measure_call(op, op.variant(name), engines, params)
                except Exception as exc:  # a variant's bug must not stop the comparison
                    reason = await lost_reason(engines, exc)
                    if reason is not None:
                        raise DatabaseUnreachable(reason) from exc
                    made.error = f"{type(exc).__name__}: {exc}"
                    continue
                finally:
                    tick(head_op.name, 1)
                if round_no < 0:
                    made.first = op.normalise(call.result)
                elif round_no >= config.warmup:
                    made.walls.append(call.wall_ms)
                    made.queries = max(made.queries, call.capture.queries)
                    made.round_trips = max(made.round_trips, call.capture.round_trips)
    return [
        _pair(head_op.name, name, calls[("base", name)], calls[("head", name)], config)
        for name in variants
    ]


def _pair(operation: str, variant: str, base: _Calls, head: _Calls, config: CompareConfig) -> Pair:
    sides = {
        side: Side(
            wall_ms=Summary.of(c.walls), queries=c.queries, round_trips=c.round_trips, error=c.error
        )
        for side, c in (("base", base), ("head", head))
    }
    if base.error or head.error:
        return Pair(
            operation=operation, variant=variant, ratio=None, base=sides["base"], head=sides["head"]
        )
    where = {"operation": operation, "variant": variant}
    counts = {
        "queries": (head.queries, base.queries),
        "round_trips": (head.round_trips, base.round_trips),
    }
    regressions = [
        *count_regressions(counts, where),
        *latency_regressions(sides["head"].wall_ms, sides["base"].wall_ms, config.checks, where),
    ]
    return Pair(
        operation=operation,
        variant=variant,
        base=sides["base"],
        head=sides["head"],
        ratio=median_ratio(head.walls, base.walls),
        regressions=tuple(regressions),
        mismatch=mismatch_report(
            f"{operation} [{variant}]", {"base": base.first, "head": head.first}
        ),
    )
