"""``dalperf db start|stop|status|url|ls``: the embedded server's lifecycle, and the
throwaway servers of other runs."""

from __future__ import annotations

from typing import Annotated

import typer

from dalperf.cli.console import console, escape
from dalperf.cli.options import Home
from dalperf.cli.typer_classes import App

db_app = App(help="Start, stop and inspect the embedded PostgreSQL server.", no_args_is_help=True)


@db_app.command()
def start(home: Home = None) -> None:
    """Start the embedded server (kept running until `dalperf db stop`)."""
    from dalperf.db.embedded import EmbeddedServer
    from dalperf.db.targets import data_dir

    status, started = EmbeddedServer(data_dir(home)).ensure_started()
    said = "started" if started else "already running"
    console.print(f"{said}: pid {status.pid}, {escape(status.url())}", soft_wrap=True)


@db_app.command()
def stop(
    home: Home = None,
    all_orphans: Annotated[
        bool,
        typer.Option(
            "--all-orphans",
            help="Instead: stop every throwaway server (of --ephemeral, of the "
            "pytest plugin) whose owner process is gone, and delete its folder.",
        ),
    ] = False,
) -> None:
    """Stop the embedded server if it runs."""
    from dalperf.db.embedded import EmbeddedServer, reap_orphans
    from dalperf.db.targets import data_dir

    if all_orphans:
        reaped = reap_orphans()
        for folder in reaped:
            console.print(f"stopped the orphaned server of {escape(str(folder))}", soft_wrap=True)
        console.print(f"{len(reaped)} orphaned server(s) stopped")
        return
    stopped = EmbeddedServer(data_dir(home)).stop()
    console.print("stopped" if stopped else "not running")


@db_app.command("ls")
def list_servers() -> None:
    """List the throwaway servers (of --ephemeral, of the pytest plugin) on this machine:
    folder, owner pid, and whether the owner is gone (`db stop --all-orphans` stops those)."""
    from dalperf.db.embedded import throwaway_servers

    servers = throwaway_servers()
    for folder, owner, gone, running in servers:
        state = f"running, pid {running.pid}, port {running.port}" if running else "not running"
        whose = f"owner {owner} gone: orphaned" if gone else f"owner {owner}"
        console.print(f"{escape(str(folder))}: {state}; {whose}", soft_wrap=True)
    if not servers:
        console.print("no throwaway servers")


@db_app.command()
def status(home: Home = None) -> None:
    """Say whether the embedded server runs, with its pid, URL and data folder."""
    from dalperf.db.embedded import EmbeddedServer
    from dalperf.db.targets import data_dir

    data = data_dir(home)
    running = EmbeddedServer(data).status()
    if running is None:
        console.print(f"not running (data: {escape(str(data))})", soft_wrap=True)
        raise typer.Exit(3)
    console.print(
        f"running: pid {running.pid}, {escape(running.url())} "
        f"(data: {escape(str(running.data_dir))})",
        soft_wrap=True,
    )


@db_app.command()
def url(home: Home = None) -> None:
    """Print the running embedded server's URL (exit 3 when it is not running)."""
    from dalperf.db.embedded import EmbeddedServer
    from dalperf.db.targets import data_dir

    running = EmbeddedServer(data_dir(home)).status()
    if running is None:
        console.print("not running; start it with `dalperf db start`", style="red")
        raise typer.Exit(3)
    print(running.url())
