"""Which eagerly loaded relationships the code read: the other half of the N+1 trade-off.

Opt-in (the plugin's ``dalperf_unused_eager_load``): while :func:`install` is in effect,
``InstrumentedAttribute.__get__`` is wrapped so that reading a relationship that a
``selectinload``/``subqueryload`` statement (or a ``joinedload`` option) filled during a capture (:func:`watch`, called
by :mod:`dalperf.capture.orm` when it tags such a statement) is noted in the captures
recording (``Sink.reads``).  A relationship loaded eagerly and never read is an
``unused-eager-load`` finding (:mod:`dalperf.capture.findings`).  A ``joinedload`` fills its
relationship from the parent's own statement: while installed, :mod:`dalperf.capture.orm`
tags that statement with the relationships its options join, and watches them the same way.
Every attribute read of a mapped object pays one set lookup while installed, which is why it
is not on by default.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm.attributes import InstrumentedAttribute

from dalperf.capture import sinks

_watched: dict[Any, str] = {}  # relationship property -> its label, once an eager load filled it
_lock = threading.Lock()
_original: Any = None


def install() -> None:
    """Wrap ``InstrumentedAttribute.__get__`` (until :func:`uninstall`)."""
    global _original
    with _lock:
        if _original is not None:
            return
        original = _original = InstrumentedAttribute.__get__

        def __get__(self: Any, instance: Any, owner: Any) -> Any:
            if instance is not None and _watched:
                label = _watched.get(self.prop)
                if label is not None:
                    for sink in sinks.current():
                        sink.reads.add(label)
            return original(self, instance, owner)

        InstrumentedAttribute.__get__ = __get__  # type: ignore[method-assign]


def uninstall() -> None:
    global _original
    with _lock:
        if _original is not None:
            InstrumentedAttribute.__get__ = _original  # type: ignore[method-assign]
            _original = None
            _watched.clear()


def installed() -> bool:
    return _original is not None


def watch(prop: Any, label: str) -> None:
    """Note reads of relationship ``prop`` from now on (an eager load filled it)."""
    if _original is not None and prop not in _watched:
        _watched[prop] = label
