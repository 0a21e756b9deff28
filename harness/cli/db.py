"""``dalperf db start|stop|status|url``: the embedded server's lifecycle."""

from __future__ import annotations

import typer

from dalperf.cli.console import console
from dalperf.cli.options import Home

db_app = typer.Typer(help="Start, stop and inspect the embedded PostgreSQL server.",
                     no_args_is_help=True)


@db_app.command()
def start(home: Home = None) -> None:
    """Start the embedded server (kept running until `dalperf db stop`)."""
    from dalperf.db.embedded import EmbeddedServer
    from dalperf.db.targets import data_dir

    server = EmbeddedServer(data_dir(home))
    running = server.status()
    if running is not None:
        console.print(f"already running: pid {running.pid}, {running.url()}")
        return
    status = server.start()
    console.print(f"started: pid {status.pid}, {status.url()}")


@db_app.command()
def stop(home: Home = None) -> None:
    """Stop the embedded server if it runs."""
    from dalperf.db.embedded import EmbeddedServer
    from dalperf.db.targets import data_dir

    stopped = EmbeddedServer(data_dir(home)).stop()
    console.print("stopped" if stopped else "not running")


@db_app.command()
def status(home: Home = None) -> None:
    """Say whether the embedded server runs, with its pid, URL and data folder."""
    from dalperf.db.embedded import EmbeddedServer
    from dalperf.db.targets import data_dir

    running = EmbeddedServer(data_dir(home)).status()
    if running is None:
        console.print(f"not running (data: {data_dir(home)})")
        raise typer.Exit(3)
    console.print(f"running: pid {running.pid}, {running.url()} (data: {running.data_dir})")


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
