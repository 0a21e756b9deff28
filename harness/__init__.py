"""dalperf: measure how many queries and round trips each DAL operation makes, and how long it takes.

The public API, importable from here::

    from dalperf import Capture                          # count an engine's statements
    with Capture(engine) as cap:
        operation()
    cap.queries, cap.round_trips, cap.network_round_trips

    from dalperf import Budget, Db, Size, register       # declare operations to measure
    register("items.get_by_ids", variants={"naive": naive, "optimized": optimized},
             params=pick_ids, budgets={"optimized": Budget(max_queries=1)})

Names resolve on first use (PEP 562), so ``import dalperf`` and the command line stay
instant: SQLAlchemy and the drivers load only when a capture or a scenario is touched.
Subpackages follow the data flow: :mod:`dalperf.db` (provisioning), :mod:`dalperf.capture`,
:mod:`dalperf.measure`, :mod:`dalperf.plans`, :mod:`dalperf.network`,
:mod:`dalperf.loadtest`, :mod:`dalperf.gate`, :mod:`dalperf.report`, :mod:`dalperf.cli`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dalperf.capture import (
        Capture,
        FingerprintTotal,
        HiddenKind,
        HiddenRoundTrip,
        NPlusOne,
        Statement,
        bind_context,
        captured,
        suspended,
    )
    from dalperf.capture.fingerprint import fingerprint
    from dalperf.measure.engines import Db, SyncDb
    from dalperf.measure.operations import Size
    from dalperf.measure.registry import register
    from dalperf.project.budgets import Budget

_EXPORTS = {
    "Capture": "dalperf.capture",
    "FingerprintTotal": "dalperf.capture",
    "HiddenKind": "dalperf.capture",
    "HiddenRoundTrip": "dalperf.capture",
    "NPlusOne": "dalperf.capture",
    "Statement": "dalperf.capture",
    "bind_context": "dalperf.capture",
    "captured": "dalperf.capture",
    "fingerprint": "dalperf.capture",
    "suspended": "dalperf.capture",
    "Budget": "dalperf.project.budgets",
    "Db": "dalperf.measure.engines",
    "Size": "dalperf.measure.operations",
    "SyncDb": "dalperf.measure.engines",
    "register": "dalperf.measure.registry",
}

__all__ = [
    "Budget",
    "Capture",
    "Db",
    "FingerprintTotal",
    "HiddenKind",
    "HiddenRoundTrip",
    "NPlusOne",
    "Size",
    "Statement",
    "SyncDb",
    "bind_context",
    "captured",
    "fingerprint",
    "register",
    "suspended",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dalperf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
