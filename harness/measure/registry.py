"""The registry: operations by name, and :func:`register`, which scenario modules call.

Modules register their operations when imported; by default into :data:`REGISTRY`, or into
the registry :func:`registering_into` names for a block (how ``dalperf compare`` keeps the
base revision's operations apart from the head's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from dalperf.errors import UsageError, suggest
from dalperf.measure.operations import (
    Operation,
    ParamsFactory,
    Size,
    Variant,
    VariantFn,
    identity,
)
from dalperf.project.budgets import Budget


class Registry:
    """Operations by name, in registration order."""

    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    def add(self, operation: Operation) -> Operation:
        existing = self._operations.get(operation.name)
        if existing is not None and existing is not operation:
            raise UsageError(
                f"operation {operation.name} is registered twice "
                f"(by {existing.module or '?'} and {operation.module or '?'})"
            )
        self._operations[operation.name] = operation
        return operation

    def get(self, name: str) -> Operation:
        try:
            return self._operations[name]
        except KeyError:
            raise UsageError(f"no operation {name!r}{suggest(name, self._names())}") from None

    def select(self, only: Iterable[str] | None = None) -> list[Operation]:
        """All operations, or those named in ``only`` (an ``area`` selects the whole area)."""
        if only is None:
            return list(self._operations.values())
        wanted = list(only)
        for name in wanted:
            if name not in self._operations and not any(o.area == name for o in self):
                self.get(name)  # raises with the list of known names
        return [o for o in self if o.name in wanted or o.area in wanted]

    def _names(self) -> list[str]:
        return [*self._operations, *dict.fromkeys(o.area for o in self)]

    def __iter__(self) -> Iterator[Operation]:
        return iter(list(self._operations.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._operations


REGISTRY = Registry()
_ACTIVE_REGISTRY: ContextVar[Registry] = ContextVar("dalperf_registry", default=REGISTRY)


@contextmanager
def registering_into(registry: Registry) -> Iterator[Registry]:
    """Within the block, :func:`register` without a ``registry`` adds to ``registry``: how
    ``dalperf compare`` keeps the base revision's operations apart from the head's."""
    token = _ACTIVE_REGISTRY.set(registry)
    try:
        yield registry
    finally:
        _ACTIVE_REGISTRY.reset(token)


def register(
    name: str,
    *,
    variants: Mapping[str, VariantFn],
    params: ParamsFactory,
    size: Size | None = None,
    normalise: Callable[[Any], Any] = identity,
    mutates: bool = False,
    budgets: Mapping[str, Budget] | None = None,
    description: str = "",
    claims: Mapping[str, Mapping[str, Any]] | None = None,
    registry: Registry | None = None,
) -> Operation:
    """Declare an operation and add it to ``registry`` (default: :data:`REGISTRY`, or the
    one :func:`registering_into` names); the first variant is the reference.

    ``claims`` maps a variant to figures asserted elsewhere, e.g.
    ``{"naive": {"wall_ms": 800, "queries": "4-5"}}``; they are reported, never checked.
    """
    first = next(iter(variants.values()), None)
    operation = Operation(
        name=name,
        variants=tuple(Variant(name=n, fn=fn) for n, fn in variants.items()),
        params=params,
        size=size,
        normalise=normalise,
        mutates=mutates,
        budgets=budgets or {},
        module=getattr(first, "__module__", "") or "",
        description=description,
        claims=claims or {},
    )
    return (registry or _ACTIVE_REGISTRY.get()).add(operation)
