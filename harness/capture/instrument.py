"""Which hub serves a capture: one per engine, or the process-wide one while it is on.

:func:`attach` puts an :class:`~dalperf.capture.engine_hub.EngineHub` on an engine for its
captures; :func:`install_everywhere` turns the
:class:`~dalperf.capture.process_hub.ProcessHub` on, which then serves every capture, so
the engine hubs step aside until the last :func:`uninstall_everywhere`.  Both are counted:
every call needs its matching undo.
"""

from __future__ import annotations

import threading

from sqlalchemy.engine import Engine

from dalperf.capture.engine_hub import EngineHub
from dalperf.capture.process_hub import ProcessHub
from dalperf.capture.recorder import Hook

_hubs: dict[Engine, EngineHub] = {}
_lock = threading.Lock()
_everywhere: ProcessHub | None = None  # while process-wide mode is on
_everywhere_users = 0


def attach(engine: Engine) -> None:
    """Make sure the hooks are on ``engine``; every call needs a matching :func:`detach`."""
    with _lock:
        hub = _hubs.get(engine)
        if hub is None:
            hub = _hubs[engine] = EngineHub(engine)
            if _everywhere is None:
                hub.attach()
        hub.users += 1


def detach(engine: Engine) -> None:
    """Undo one :func:`attach`; the last one removes the hooks."""
    with _lock:
        hub = _hubs[engine]
        hub.users -= 1
        if hub.users == 0:
            del _hubs[engine]
            if hub.attached:
                hub.detach()


def install_everywhere() -> None:
    """Turn process-wide mode on (hooks on the classes); every call needs an
    :func:`uninstall_everywhere`."""
    global _everywhere, _everywhere_users
    with _lock:
        if _everywhere is None:
            for hub in _hubs.values():  # the class-level hooks serve their captures now
                if hub.attached:
                    hub.detach()
            _everywhere = ProcessHub()
            _everywhere.attach()
        _everywhere_users += 1


def uninstall_everywhere() -> None:
    """Undo one :func:`install_everywhere`; the last one takes the class-level hooks off."""
    global _everywhere, _everywhere_users
    with _lock:
        _everywhere_users -= 1
        if _everywhere_users == 0 and _everywhere is not None:
            _everywhere.detach()
            _everywhere = None
            for hub in _hubs.values():
                hub.attach()


def listeners(engine: Engine) -> tuple[Hook, ...]:
    """The event listeners of ``engine``'s hub while a capture of it is active (registered
    unless the process-wide hub serves its captures)."""
    with _lock:
        hub = _hubs.get(engine)
        return hub.hooks if hub is not None else ()
