"""The scenario API: how a module registers DAL operations for dalperf to measure.

An *operation* (``area.operation``, e.g. ``renders.get_by_ids``) has two or more
*variants*: implementations that must return equal results for equal inputs (the case
study's are ``naive``, ``summary`` and ``optimized``).  Besides its variants it declares

- a params factory that picks realistic inputs from the seeded database, deterministically
  for a given ``(seed, size)``;
- an optional size knob (chain length, number of ids, ...) for the complexity fit;
- a normaliser applied to every variant's result before the equivalence check;
- whether it writes (``mutates``), and default budgets per variant;
- optionally a one-line ``description`` and ``claims``: figures someone asserted for a
  variant (e.g. a hand-written audit's "before/after"), carried into the results JSON so a
  report can set them beside the measurements.

An async variant is called as ``await fn(db, params)`` with a :class:`Db`, a sync one as
``fn(sync_db, params)`` (in a worker thread) with a :class:`SyncDb`; params factories the
same way as ``factory(db, rng, size)``.  A variant opens its own sessions from
``db.sessions``, one per unit of work; a mutating operation's writes are rolled back
(:func:`isolated`), and a variant that tries to commit past that gets
:class:`IsolationBreach`.

A scenario module (or a test that runs one) imports what it needs from here, the stable
import path; the names live in the modules of :mod:`dalperf.measure` by job:
:mod:`~dalperf.measure.operations` (the records and the calling convention),
:mod:`~dalperf.measure.registry` (:func:`register`), :mod:`~dalperf.measure.engines` (what
a variant gets to reach the database), :mod:`~dalperf.measure.isolation` (a mutating
variant's writes rolled back), :mod:`~dalperf.measure.calls` (sync user code on daemon
threads) and :mod:`~dalperf.measure.loader` (importing scenario modules).  This module, like
those, knows nothing of the case study in ``scenarios/``.
"""

from __future__ import annotations

from dalperf.measure.engines import Db, Engines, SyncDb, open_engines
from dalperf.measure.isolation import IsolationBreach, isolated
from dalperf.measure.loader import load_module, load_modules
from dalperf.measure.operations import (
    Operation,
    ParamsFactory,
    Size,
    Variant,
    VariantFn,
    call,
    invoke,
)
from dalperf.measure.registry import REGISTRY, Registry, register, registering_into
from dalperf.project.budgets import Budget

__all__ = [
    "REGISTRY",
    "Budget",
    "Db",
    "Engines",
    "IsolationBreach",
    "Operation",
    "ParamsFactory",
    "Registry",
    "Size",
    "SyncDb",
    "Variant",
    "VariantFn",
    "call",
    "invoke",
    "isolated",
    "load_module",
    "load_modules",
    "open_engines",
    "register",
    "registering_into",
]
