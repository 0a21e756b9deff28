"""Serve a user's ASGI app for ``dalperf load`` with the capture protocol, the app unchanged.

``dalperf load --app pkg.main:app`` runs uvicorn on :func:`from_environment` (a factory),
which imports the user's app and wraps it in :class:`CaptureMiddleware`:

- ``GET /_dalperf/health`` is answered by the middleware (the driver waits for it);
- every other HTTP request runs inside a :class:`~dalperf.capture.session.Capture` of each
  engine the app created, and the response carries the totals in the headers
  ``X-Dalperf-Queries`` and ``X-Dalperf-Round-Trips`` that the locust side records.

The engines are found without the app's help: the database URL handed to the app (in the
environment variable it reads, ``DATABASE_URL`` unless told otherwise) carries
``?plugin=dalperf_capture``, so SQLAlchemy calls :class:`EnginePlugin` for every engine
created from it, before its first statement.  The middleware can also wrap an app by hand:
``app = CaptureMiddleware(app)``, after :func:`track` of the app's engine.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, cast

from dalperf.loadtest.locust_side import HEALTH_PATH, QUERIES_HEADER, ROUND_TRIPS_HEADER

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

APP_ENV = "DALPERF_LOAD_APP"  # the user's app, "module:attribute", for from_environment
APP_ERROR_ENV = "DALPERF_LOAD_APP_ERROR"  # where from_environment writes why the app is bad
PLUGIN_NAME = "dalperf_capture"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def track(engine: Engine | AsyncEngine) -> None:
    """Count ``engine``'s statements in every request from now on."""
    _ENGINES.add(cast("Engine", getattr(engine, "sync_engine", engine)))


class EnginePlugin:
    """SQLAlchemy ``CreateEnginePlugin``: :func:`track` each engine made from a URL naming it."""

    def __init__(self, url: URL, kwargs: dict[str, Any]) -> None:
        self.url = url

    def update_url(self, url: URL) -> URL:
        return url

    def handle_dialect_kwargs(self, dialect_cls: Any, dialect_args: dict[str, Any]) -> None:
        """Nothing to change: the plugin only watches."""

    def handle_pool_kwargs(self, pool_cls: Any, pool_args: dict[str, Any]) -> None:
        """Nothing to change: the plugin only watches."""

    def engine_created(self, engine: Engine) -> None:
        track(engine)


def register_plugin() -> None:
    """Make ``?plugin=dalperf_capture`` known to SQLAlchemy in this process."""
    from sqlalchemy.dialects import plugins

    plugins.register(PLUGIN_NAME, __name__, EnginePlugin.__name__)


class CaptureMiddleware:
    """ASGI middleware: the health check, and the query counts of each request in headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") == HEALTH_PATH:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "http.response.body", "body": b"ok"})
            return
        from dalperf.capture.session import Capture

        with ExitStack() as stack:
            captures = [stack.enter_context(Capture(engine)) for engine in list(_ENGINES)]

            async def send_with_counts(message: Message) -> None:
                if message["type"] == "http.response.start":
                    counts = [
                        (QUERIES_HEADER, sum(c.queries for c in captures)),
                        (ROUND_TRIPS_HEADER, sum(c.round_trips for c in captures)),
                    ]
                    message = {
                        **message,
                        "headers": [
                            *message.get("headers", ()),
                            *(
                                (name.lower().encode(), str(value).encode())
                                for name, value in counts
                            ),
                        ],
                    }
                await send(message)

            await self.app(scope, receive, send_with_counts)


def from_environment() -> CaptureMiddleware:
    """The uvicorn factory: the app :data:`APP_ENV` names, wrapped, with the plugin known.

    An app that does not import or is no ASGI app raises :class:`~dalperf.errors.UsageError`
    after writing its one line to the file :data:`APP_ERROR_ENV` names, which ``dalperf
    load`` reports (exit 2) when the server exits before it was ready.
    """
    from dalperf.errors import UsageError
    from dalperf.project.config import import_target

    register_plugin()
    spec = os.environ[APP_ENV]
    try:
        app = import_target(spec, what="--app")
        check_asgi(app, spec)
    except UsageError as exc:
        if os.environ.get(APP_ERROR_ENV):
            with open(os.environ[APP_ERROR_ENV], "w", encoding="utf-8") as report:
                report.write(str(exc))
        raise
    return CaptureMiddleware(app)


def check_asgi(app: Any, spec: str) -> None:
    """Raise :class:`~dalperf.errors.UsageError` unless ``app`` looks like an ASGI 3 app:
    a callable taking (scope, receive, send), and a coroutine function when it is a plain
    function (an object's ``__call__`` may return an awaitable without being one); an
    ASGI 2 class is accepted as uvicorn accepts it."""
    import inspect

    from dalperf.errors import UsageError

    if isinstance(app, type):
        return
    plain = inspect.isfunction(app) or inspect.ismethod(app)
    if not callable(app) or (plain and not inspect.iscoroutinefunction(app)):
        raise UsageError(
            f"--app {spec!r} is not an ASGI app (a {type(app).__name__}, not an "
            "async callable taking scope, receive, send)"
        )
    try:
        inspect.signature(app).bind(None, None, None)
    except TypeError:
        raise UsageError(
            f"--app {spec!r} is not an ASGI app: it does not take (scope, receive, send)"
        ) from None
    except ValueError:  # no signature to inspect (a builtin): let uvicorn try it
        return


def plugin_url(url: URL) -> str:
    """``url`` (parsed) for SQLAlchemy with ``plugin=dalperf_capture`` in its query, as text:
    it crosses into the app server's environment."""
    from dalperf.db.urls import sqlalchemy_url

    return sqlalchemy_url(url.update_query_dict({"plugin": PLUGIN_NAME}))
