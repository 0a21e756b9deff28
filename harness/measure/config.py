"""What a run measures: the settings of :func:`dalperf.measure.runner.run`, light to import.

The command line builds a :class:`RunConfig` from its flags (and ``[tool.dalperf]``); its
defaults are the named constants below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from dalperf.db.drivers import DEFAULT as DEFAULT_DRIVER
from dalperf.db.drivers import Driver
from dalperf.errors import UsageError
from dalperf.plans.findings import DEFAULT_THRESHOLDS, PlanThresholds
from dalperf.project.settings import (
    DEFAULT_CALL_TIMEOUT_S,
    DEFAULT_ITERATIONS,
    DEFAULT_JITTER_MS,
    DEFAULT_WARMUP,
)

if TYPE_CHECKING:
    from dalperf.measure.operations import Operation

DEFAULT_PARAM_SETS = 3
DEFAULT_POOL_SIZE = 10  # connections per engine; variants that gather() use several


class IndexMode(StrEnum):
    """Which index states a run measures: as migrated, without the performance migration, both."""

    ON = "on"
    OFF = "off"
    BOTH = "both"

    @property
    def states(self) -> tuple[bool, ...]:
        return {IndexMode.ON: (True,), IndexMode.OFF: (False,), IndexMode.BOTH: (True, False)}[self]


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """How much to measure; defaults are the named constants above."""

    iterations: int = DEFAULT_ITERATIONS
    warmup: int = DEFAULT_WARMUP
    param_sets: int = DEFAULT_PARAM_SETS
    seed: int = 0
    complexity: bool = True
    indexes: bool = True
    rtt_ms: float = 0.0  # the RTT the measurements are labelled with (set per sweep step)
    rtt_sweep_ms: tuple[float, ...] = ()  # measure through the latency proxy at each
    jitter_ms: float = DEFAULT_JITTER_MS  # the proxy's jitter: each round trip takes rtt ± jitter
    explain: PlanThresholds | None = DEFAULT_THRESHOLDS  # None: no EXPLAIN, no plans
    call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S  # a longer call is a recorded failure
    read_only: bool = False  # every transaction read-only (a database dalperf does not own)
    driver: Driver = DEFAULT_DRIVER  # --driver: the engines' drivers (dalperf.db.drivers)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.call_timeout_s) and self.call_timeout_s > 0):
            raise UsageError(
                f"--call-timeout must be a number of seconds > 0, not {self.call_timeout_s:g}"
            )
        # the proxy's module (asyncio, sockets) loads with a run, not with `dalperf --help`
        from dalperf.network.proxy_child import check_delay

        for rtt in self.rtt_sweep_ms or (self.rtt_ms,):
            check_delay(rtt, self.jitter_ms)
        if len(set(self.rtt_sweep_ms)) != len(self.rtt_sweep_ms):
            raise UsageError(
                "the RTT sweep names a round-trip time twice: "
                + ", ".join(f"{r:g}" for r in self.rtt_sweep_ms)
            )

    def work_units(self, operation: Operation) -> int:
        """Calls the runner will make for ``operation``: the progress bar's total."""
        per_variant = self.param_sets + self.warmup + self.iterations
        if self.complexity and operation.size is not None:
            per_variant += 2 * len(operation.size.sweep)
        return per_variant * len(operation.variants) * max(len(self.rtt_sweep_ms), 1)
