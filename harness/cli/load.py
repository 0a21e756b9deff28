"""``dalperf load``: serve the case-study app or the user's, run locust headless against it, write load JSON."""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from dalperf import casestudy
from dalperf.cli.console import console, err_console, escape
from dalperf.cli.options import (
    FROM_FLAGS,
    ConfigFile,
    DatabaseOptions,
    DriverNames,
    one_driver,
    project_config,
    with_database,
)
from dalperf.cli.run import prepare_project
from dalperf.defaults import (
    DEFAULT_APP_URL_ENV,
    DEFAULT_RUN_TIME_S,
    DEFAULT_SPAWN_RATE,
    DEFAULT_USERS,
    DEFAULT_VARIANTS,
)
from dalperf.errors import LoadAborted, LoadInterrupted, UsageError
from dalperf.measure.config import DEFAULT_POOL_SIZE
from dalperf.project.config import VARIANT_ROLES
from dalperf.project.settings import DEFAULT_OUT_DIR

LOAD_NAME = "load.json"
DEFAULT_OUT = DEFAULT_OUT_DIR / LOAD_NAME
_VARIANT_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


def parse_variants(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """``--variant``: ``both`` (naive and optimized), or variant names, comma-separated."""
    if text is None:
        return default
    if text == "both":
        return DEFAULT_VARIANTS
    names = tuple(part.strip() for part in text.split(","))
    if not all(_VARIANT_RE.match(name) for name in names):
        raise UsageError(
            f"--variant {text!r}: give lower-case variant names, comma-separated, or both"
        )
    return names


@with_database()
def load(
    users: Annotated[
        int,
        typer.Option(min=1, help="Concurrent users in total (split evenly between the variants)."),
    ] = DEFAULT_USERS,
    spawn_rate: Annotated[
        float, typer.Option(help="Users started per second.")
    ] = DEFAULT_SPAWN_RATE,
    run_time: Annotated[
        str, typer.Option(help="How long to run, e.g. 60s, 2m, 1h30m.")
    ] = f"{DEFAULT_RUN_TIME_S}s",
    variant: Annotated[
        str | None,
        typer.Option(
            metavar="NAMES",
            help="Which variants the users drive, comma-separated (one locust "
            "user class each, naive -> NaiveUser); both: naive and optimized side by side. "
            "Default: both, or with --app and tool.dalperf variants, its reference and ours.",
        ),
    ] = None,
    rtt_ms: Annotated[
        float,
        typer.Option(
            "--rtt-ms",
            help="Simulated round-trip time between "
            "the app and the database (through the latency proxy).",
        ),
    ] = 0.0,
    workers: Annotated[
        int,
        typer.Option(
            min=0, help="0: one locust process; K: locust's master and K worker processes."
        ),
    ] = 0,
    pool_size: Annotated[
        int,
        typer.Option(
            min=1, help="Connections in the app's pool (a hard cap: requests wait for a free one)."
        ),
    ] = DEFAULT_POOL_SIZE,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Load results JSON to write "
            f"(default: load.json in tool.dalperf out_dir, else {DEFAULT_OUT}).",
        ),
    ] = None,
    app_spec: Annotated[
        str | None,
        typer.Option(
            "--app",
            help="Your ASGI app, as uvicorn "
            "names it (module:attribute), served unchanged inside dalperf's capture middleware. "
            "Default: the case study's app.",
        ),
    ] = None,
    app_url_env: Annotated[
        str,
        typer.Option(
            "--app-url-env",
            help="With --app: the environment variable your app reads its database URL from.",
        ),
    ] = DEFAULT_APP_URL_ENV,
    locustfile: Annotated[
        Path | None,
        typer.Option(help="Locustfile with one user class per variant. Default: the case study's."),
    ] = None,
    config_file: ConfigFile = None,
    driver: DriverNames = None,
    database: DatabaseOptions = FROM_FLAGS,
) -> None:
    """Load-test an app with locust, its variants side by side; write the load JSON.

    With --app, your app is served on the project's data (tool.dalperf schema and seed, as
    for `dalperf audit`) and every request's queries are counted by dalperf's middleware.
    """
    from dalperf.errors import require

    require("load", "locust", "uvicorn", "starlette", feature="`dalperf load`")
    from dalperf.loadtest import driver as loadtest

    config = project_config(config_file)
    settings = config.settings(driver=driver)
    database_url = database.url(config)
    user_app = app_spec is not None and app_spec != casestudy.APP
    if user_app and locustfile is None:
        raise UsageError("--app needs --locustfile: one user class per variant driving your app")
    roles = tuple(config.variants[r] for r in VARIANT_ROLES if r in config.variants)
    variants = parse_variants(variant, roles if user_app and roles else DEFAULT_VARIANTS)
    unknown = [name for name in variants if name not in DEFAULT_VARIANTS]
    if not user_app and unknown:
        raise UsageError(
            f"--variant {unknown[0]!r}: the case study's app serves "
            f"{', '.join(DEFAULT_VARIANTS)} (or both)"
        )
    load_config = loadtest.LoadConfig(
        app=app_spec or casestudy.APP,
        locustfile=locustfile or casestudy.locustfile(),
        users=users,
        spawn_rate=spawn_rate,
        run_time_s=loadtest.parse_duration(run_time),
        variants=variants,
        workers=workers,
        rtt_ms=rtt_ms,
        pool_size=pool_size,
        wrap=user_app,
        app_url_env=app_url_env,
        app_dir=config.root if user_app else None,
        driver=one_driver(settings.driver, database_url),
    )
    out = out or settings.out_dir / LOAD_NAME
    with database.target(database_url) as target, ExitStack() as turns:
        data: dict[str, object] = {}
        if user_app and config.is_project:
            target, data = prepare_project(target, config, settings.scale, turns)
        elif not user_app:
            data = casestudy.environment(target)
        environment = {"server_version": target.server_version(), **data}
        console.print(
            f"load test: {users} user(s), {load_config.run_time_s} s, "
            f"{escape(' + '.join(load_config.variants))}"
            + (f", {workers} locust workers" if workers else ""),
            soft_wrap=True,
        )
        try:
            results = loadtest.run_load(target, load_config, environment=environment)
        except LoadAborted as exc:
            exc.results.save(out)
            err_console.print(
                f"wrote {escape(str(out))} (the figures of a load test whose "
                "database went away, marked partial)",
                soft_wrap=True,
            )
            raise
        except LoadInterrupted as exc:
            exc.results.save(out)
            err_console.print(
                f"wrote {escape(str(out))} (the figures of an interrupted "
                "load test, marked partial)",
                soft_wrap=True,
            )
            raise
    results.save(out)
    for v in results.variants:
        console.print(
            f"{escape(f'{v.variant:>10}')}: {v.users} users, {v.requests} requests, "
            f"{v.rps:.1f} req/s, p50 {v.latency_ms.p50:.1f} ms, "
            f"p95 {v.latency_ms.p95:.1f} ms, p99 {v.latency_ms.p99:.1f} ms, "
            f"{v.failures} failures, {_per_request(v.queries_per_request)} "
            "queries/request",
            soft_wrap=True,
        )
    console.print(f"wrote {escape(str(out))}", soft_wrap=True)


def _per_request(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"
