"""The render app over HTTP: the endpoints a dashboard calls, each answered by a chosen variant.

``dalperf load`` serves this app with uvicorn (``dalperf.scenarios.app:app``) and points locust at
it.  The variant is the first part of the path::

    GET    /naive/user-stats          profile_stats.get_user_stats
    GET    /optimized/render-context  renders.get_with_context
    GET    /{variant}/credits         billing.get_user_credits_with_reset
    GET    /{variant}/projects        projects.list_with_render_counts (20 projects)
    GET    /{variant}/gallery         gallery.list_public (page 50)
    DELETE /{variant}/chain           render_chains.delete_chain (a chain of 50 renders)
    POST   /{variant}/renders/status  renders.update_status_batch (20 renders)
    GET    /_dalperf/health           200 once the inputs are drawn

Each endpoint calls the registered operation's variant through
:func:`dalperf.measure.runner.measure_call`, exactly as ``dalperf run`` measures it: under a fresh
:class:`~dalperf.capture.session.Capture`, whose query count and round trips come back in the
headers ``X-Dalperf-Queries`` and ``X-Dalperf-Round-Trips``.  The body is the variant's
result as JSON; a variant that raises gives a 500 with the error.

Inputs: at start-up the app draws :data:`INPUT_SETS` inputs per operation from the seeded
database with the operation's own params factory (seeds 0, 1, ...), duplicates dropped;
each request takes one at random, or the one ``?input=k`` names.

Writes leave no trace.  The mutating endpoints run inside
:func:`dalperf.measure.isolation.isolated` (via ``measure_call``): one transaction per request,
rolled back after the variant returns, its own commits turned into savepoints.  The data
is the same after any number of requests, and never runs out: the same chain can be
deleted a thousand times.  Two open transactions that write the same rows would wait on
each other's row locks, and a naive and an optimized variant that lock a chain's renders
in different orders could deadlock; so the inputs of mutating operations are kept only
when they touch rows no other kept input touches (:data:`ROWS_WRITTEN`), are dealt out
between the variants, and each is used by one request at a time (an asyncio lock taken
before a connection is).  Requests therefore never wait on each other inside the database.
A request takes a free input (one no other request holds) whenever there is one, and
:data:`MUTATING_INPUT_SETS` are drawn so that there is one for every connection of the
pool: a request waits for an input only when more requests of its variant are in flight
than the pool could serve anyway.  The time it waited for its input is answered in the
header :data:`INPUT_WAIT_HEADER` (milliseconds), apart from the time of the request.

Configuration (set by ``dalperf load``): ``DALPERF_LOAD_DATABASE_URL`` (required) and
``DALPERF_LOAD_POOL_SIZE``, the size of the app's connection pool, a hard cap (no
overflow): a request waits for a free connection when all are in use.  Run it as one
process (the locks are per process).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import dalperf.scenarios  # noqa: F401  (registers the case-study operations)
from dalperf.capture import instrument
from dalperf.db import urls
from dalperf.loadtest.locust_side import (
    DATABASE_URL_ENV,
    DRIVER_ENV,
    HEALTH_PATH,
    POOL_SIZE_ENV,
    QUERIES_HEADER,
    ROUND_TRIPS_HEADER,
)
from dalperf.measure.config import DEFAULT_POOL_SIZE
from dalperf.measure.engines import Db, Engines, open_engines
from dalperf.measure.operations import Operation
from dalperf.measure.registry import REGISTRY
from dalperf.measure.runner import measure_call
from dalperf.scenarios.render_chains import ChainParams
from dalperf.scenarios.renders import StatusBatchParams
from dalperf.seed.schema import renders

INPUT_SETS = 16
MUTATING_INPUT_SETS = 64  # drawn for a mutating operation: enough free inputs per variant
INPUT_WAIT_HEADER = "X-Dalperf-Input-Wait-Ms"  # how long a request waited for its input


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One dashboard call: its path after the variant, its method, the operation behind it."""

    path: str
    method: str
    operation: str


ENDPOINTS = (
    Endpoint(path="user-stats", method="GET", operation="profile_stats.get_user_stats"),
    Endpoint(path="render-context", method="GET", operation="renders.get_with_context"),
    Endpoint(path="credits", method="GET", operation="billing.get_user_credits_with_reset"),
    Endpoint(path="projects", method="GET", operation="projects.list_with_render_counts"),
    Endpoint(path="gallery", method="GET", operation="gallery.list_public"),
    Endpoint(path="chain", method="DELETE", operation="render_chains.delete_chain"),
    Endpoint(path="renders/status", method="POST", operation="renders.update_status_batch"),
)

Rows = frozenset[tuple[str, int]]


async def _chain_rows(db: Db, p: ChainParams) -> Rows:
    async with db.sessions() as session:
        ids = (
            await session.execute(select(renders.c.id).where(renders.c.chain_id == p.chain_id))
        ).scalars()
        return frozenset({("render_chains", p.chain_id), *(("renders", i) for i in ids)})


async def _status_rows(_db: Db, p: StatusBatchParams) -> Rows:
    return frozenset(("renders", i) for i in p.ids)


# The rows each mutating operation writes for given inputs (table, primary key).
ROWS_WRITTEN: dict[str, Callable[[Db, Any], Coroutine[Any, Any, Rows]]] = {
    "render_chains.delete_chain": _chain_rows,
    "renders.update_status_batch": _status_rows,
}


@dataclass(frozen=True, kw_only=True)
class Input:
    """One drawn input; ``lock`` keeps a mutating one to one request at a time."""

    params: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True, kw_only=True)
class Served:
    """An endpoint's operation and the inputs each of its variants draws from."""

    operation: Operation
    inputs: dict[str, tuple[Input, ...]]


async def draw_inputs(
    engines: Engines, operation: Operation, *, count: int = INPUT_SETS
) -> dict[str, tuple[Input, ...]]:
    """Inputs per variant: shared for a read, disjoint and dealt out for a write."""
    drawn = list(
        dict.fromkeys([await operation.draw_params(engines, seed=s) for s in range(count)])
    )
    variants = [v.name for v in operation.variants]
    if not operation.mutates:
        shared = tuple(Input(params=p) for p in drawn)
        return dict.fromkeys(variants, shared)
    rows_of = ROWS_WRITTEN[operation.name]  # a new mutating endpoint must say what it writes
    taken: set[tuple[str, int]] = set()
    kept = []
    for params in drawn:
        rows = await rows_of(engines.db, params)
        if taken.isdisjoint(rows):
            taken |= rows
            kept.append(Input(params=params))
    # one input per variant in turn; with fewer inputs than variants they share (the locks
    # still keep each input to one request at a time)
    return {v: tuple(kept[i :: len(variants)]) or tuple(kept) for i, v in enumerate(variants)}


def pick(inputs: Sequence[Input], rng: random.Random) -> Input:
    """A random input that no request holds, if there is one (else any: its lock waits).
    The event loop runs nothing between this choice and taking the lock, so two requests
    never pick the same free input."""
    free = [i for i in inputs if not i.lock.locked()]
    return rng.choice(free or list(inputs))


class Dashboard:
    """The engines and the drawn inputs of a running app."""

    def __init__(self, engines: Engines, served: dict[str, Served]) -> None:
        self.engines = engines
        self.served = served
        self.rng = random.Random()

    @classmethod
    async def open(cls, engines: Engines, endpoints: Sequence[Endpoint] = ENDPOINTS) -> Dashboard:
        served = {}
        for endpoint in endpoints:
            operation = REGISTRY.get(endpoint.operation)
            count = MUTATING_INPUT_SETS if operation.mutates else INPUT_SETS
            served[endpoint.path] = Served(
                operation=operation, inputs=await draw_inputs(engines, operation, count=count)
            )
        return cls(engines, served)

    async def answer(self, endpoint: Endpoint, request: Request) -> Response:
        served = self.served[endpoint.path]
        name = request.path_params["variant"]
        inputs = served.inputs.get(name)
        if inputs is None:
            return JSONResponse(
                {"error": f"{endpoint.operation} has no variant {name!r}"}, status_code=404
            )
        chosen = request.query_params.get("input")
        try:
            drawn = inputs[int(chosen) % len(inputs)] if chosen else pick(inputs, self.rng)
        except ValueError:
            return JSONResponse(
                {"error": f"input must be a number, not {chosen!r}"}, status_code=400
            )
        operation = served.operation
        async with AsyncExitStack() as stack:
            asked = time.perf_counter()
            if operation.mutates:
                await stack.enter_async_context(drawn.lock)
            waited_ms = (time.perf_counter() - asked) * 1000
            try:
                made = await measure_call(
                    operation, operation.variant(name), self.engines, drawn.params
                )
            except Exception as exc:
                return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=500)
        return Response(
            json.dumps(made.result, default=str),
            media_type="application/json",
            headers={
                QUERIES_HEADER: str(made.capture.queries),
                ROUND_TRIPS_HEADER: str(made.capture.round_trips),
                INPUT_WAIT_HEADER: f"{waited_ms:.3f}",
            },
        )


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ.get(DATABASE_URL_ENV)
    if not url:
        raise RuntimeError(f"set {DATABASE_URL_ENV} to the database to serve")
    pool_size = int(os.environ.get(POOL_SIZE_ENV, DEFAULT_POOL_SIZE))
    async with open_engines(
        urls.parse(url), pool_size=pool_size, max_overflow=0, driver=os.environ.get(DRIVER_ENV)
    ) as engines:
        hooked = engines.async_engine.sync_engine
        instrument.attach(hooked)  # keep the capture hooks on between requests
        try:
            app.state.dashboard = await Dashboard.open(engines)
            yield
        finally:
            instrument.detach(hooked)


async def health(request: Request) -> Response:
    """Ready, the endpoints, and how many inputs each variant of each endpoint has."""
    dashboard: Dashboard = request.app.state.dashboard
    inputs = {
        path: {variant: len(drawn) for variant, drawn in served.inputs.items()}
        for path, served in dashboard.served.items()
    }
    return JSONResponse({"ok": True, "endpoints": [e.path for e in ENDPOINTS], "inputs": inputs})


def _route(endpoint: Endpoint) -> Route:
    async def handle(request: Request) -> Response:
        dashboard: Dashboard = request.app.state.dashboard
        return await dashboard.answer(endpoint, request)

    return Route(
        f"/{{variant}}/{endpoint.path}", handle, methods=[endpoint.method], name=endpoint.path
    )


app = Starlette(
    routes=[Route(HEALTH_PATH, health), *(_route(e) for e in ENDPOINTS)], lifespan=lifespan
)
