"""Calling user code from the event loop: sync calls on daemon threads, ``SystemExit`` kept in.

A variant or params factory that is sync runs in a worker thread (:data:`in_thread`); one
that calls ``sys.exit`` fails that call (:class:`ExitCalled`) instead of ending the run.
The runner gives each call a timeout and abandons a call that exceeds it: the daemon
threads here are what let an abandoned sync call neither keep the process alive nor hold
up the event loop's shutdown.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any


class ExitCalled(Exception):
    """User code that dalperf calls (a variant, a params factory) raised ``SystemExit``:
    that call's failure like any other exception, never the end of the run."""

    def __init__(self, exc: SystemExit) -> None:
        super().__init__(f"sys.exit({exc.code!r}) called")


class _DaemonThreads:
    """Runs sync calls on reused daemon threads.

    Unlike :func:`asyncio.to_thread`, a call that is abandoned (it timed out, or the run
    was interrupted) can neither keep the process alive at exit nor block
    ``asyncio.run`` from returning: its thread is a daemon and is never reused.
    """

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[queue.SimpleQueue[Any]] = queue.SimpleQueue()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        try:
            inbox = self._idle.get_nowait()
        except queue.Empty:
            inbox = queue.SimpleQueue()
            threading.Thread(
                target=self._work, args=(inbox,), name="dalperf-sync-call", daemon=True
            ).start()
        inbox.put((contextvars.copy_context(), fn, args, loop, future))
        return await future

    def _work(self, inbox: queue.SimpleQueue[Any]) -> None:
        while True:
            context, fn, args, loop, future = inbox.get()
            try:
                outcome: tuple[Any, BaseException | None] = (context.run(fn, *args), None)
            except BaseException as exc:
                outcome = (None, exc)
            if future.cancelled():
                return  # abandoned: this thread is not reused
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # the loop is closed: nobody waits any more
                return
            self._idle.put(inbox)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


in_thread = _DaemonThreads().run
