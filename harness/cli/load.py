"""``dalperf load``: serve the case-study app, run locust headless against it, write load JSON."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dalperf import casestudy
from dalperf.cli.console import console, escape
from dalperf.cli.options import (
    DatabaseUrl,
    DbSource,
    DriverNames,
    Ephemeral,
    Home,
    one_driver,
    target_from_options,
)
from dalperf.defaults import DEFAULT_RUN_TIME_S, DEFAULT_SPAWN_RATE, DEFAULT_USERS, DEFAULT_VARIANTS
from dalperf.measure.config import DEFAULT_POOL_SIZE

DEFAULT_OUT = Path("reports/out/load.json")


class VariantChoice(StrEnum):
    NAIVE = "naive"
    OPTIMIZED = "optimized"
    BOTH = "both"

    @property
    def variants(self) -> tuple[str, ...]:
        return DEFAULT_VARIANTS if self is VariantChoice.BOTH else (self.value,)


def load(
    users: Annotated[int, typer.Option(min=1, help="Concurrent users in total (split evenly "
        "between the variants with --variant both).")] = DEFAULT_USERS,
    spawn_rate: Annotated[float, typer.Option(help="Users started per second.")]
        = DEFAULT_SPAWN_RATE,
    run_time: Annotated[str, typer.Option(help="How long to run, e.g. 60s, 2m, 1h30m.")]
        = f"{DEFAULT_RUN_TIME_S}s",
    variant: Annotated[VariantChoice, typer.Option(help="Which variant the users drive; both: "
        "half the users each, side by side in one run.")] = VariantChoice.BOTH,
    rtt_ms: Annotated[float, typer.Option("--rtt-ms", help="Simulated round-trip time between "
        "the app and the database (through the latency proxy).")] = 0.0,
    workers: Annotated[int, typer.Option(min=0, help="0: one locust process; K: locust's "
        "master and K worker processes.")] = 0,
    pool_size: Annotated[int, typer.Option(min=1, help="Connections in the app's pool (a hard "
        "cap: requests wait for a free one).")] = DEFAULT_POOL_SIZE,
    out: Annotated[Path, typer.Option("--out", "-o", help="Load results JSON to write.")]
        = DEFAULT_OUT,
    app_spec: Annotated[str, typer.Option("--app", help="ASGI app to serve, as uvicorn names it "
        "(module:attribute).")] = casestudy.APP,
    locustfile: Annotated[Path | None, typer.Option(help="Locustfile with one user class per "
        "variant. Default: the case study's.")] = None,
    driver: DriverNames = None,
    database_url: DatabaseUrl = None,
    db: DbSource = None,
    home: Home = None,
    ephemeral: Ephemeral = False,
) -> None:
    """Load-test the app with locust, naive and optimized side by side; write the load JSON.

    Mutating requests run in transactions that are rolled back: the data is unchanged afterwards.
    """
    from dalperf.loadtest import driver as loadtest

    config = loadtest.LoadConfig(
        app=app_spec, locustfile=locustfile or casestudy.locustfile(), users=users,
        spawn_rate=spawn_rate, run_time_s=loadtest.parse_duration(run_time),
        variants=variant.variants, workers=workers, rtt_ms=rtt_ms, pool_size=pool_size,
        driver=one_driver(driver, database_url))
    with target_from_options(database_url=database_url, db=db, home=home,
                             ephemeral=ephemeral) as target:
        environment = {"server_version": target.server_version(),
                       **(casestudy.environment(target) if app_spec == casestudy.APP else {})}
        console.print(f"load test: {users} user(s), {config.run_time_s} s, "
                      f"{' + '.join(config.variants)}"
                      + (f", {workers} locust workers" if workers else ""))
        results = loadtest.run_load(target.libpq_url, config, environment=environment)
    results.save(out)
    for v in results.variants:
        console.print(f"{v.variant:>10}: {v.users} users, {v.requests} requests, "
                      f"{v.rps:.1f} req/s, p50 {v.latency_ms.p50:.1f} ms, "
                      f"p95 {v.latency_ms.p95:.1f} ms, p99 {v.latency_ms.p99:.1f} ms, "
                      f"{v.failures} failures, {_per_request(v.queries_per_request)} "
                      "queries/request")
    console.print(f"wrote {escape(str(out))}", soft_wrap=True)


def _per_request(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"
