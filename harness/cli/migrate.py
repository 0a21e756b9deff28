"""``dalperf migrate [--to VERSION]``: apply or roll back the numbered SQL migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dalperf.cli.console import console, escape
from dalperf.cli.options import FROM_FLAGS, DatabaseOptions, with_database
from dalperf.defaults import DEFAULT_JOBS

To = Annotated[
    str | None,
    typer.Option(
        "--to",
        metavar="VERSION",
        help="Four-digit version to end at, e.g. 0005; newer applied migrations are "
        "reverted with their down files; 0000 reverts all (default: the newest).",
    ),
]
MigrationsFolder = Annotated[
    Path | None,
    typer.Option(
        "--migrations",
        metavar="DIR",
        exists=True,
        file_okay=False,
        dir_okay=True,
        help="Folder of NNNN_name.sql migrations (and NNNN_name.down.sql) to use "
        "instead of the case study's.",
    ),
]
Jobs = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        metavar="N",
        min=1,
        help="Connections that build a migration made only of CREATE INDEX "
        "statements (such as 0006) at once, like pg_restore --jobs.",
    ),
]

HELP = (
    "Bring the database to a migration version (default: the newest) and print what was done."
    "\n\n"
    "Every migration runs in its own transaction and is recorded, with its checksum, in "
    "schema_migrations. A migration file edited after it was applied, or an unknown version, "
    "is refused (exit 2) before anything changes."
)


@with_database()
def migrate_command(
    to: To = None,
    migrations: MigrationsFolder = None,
    jobs: Jobs = DEFAULT_JOBS,
    database: DatabaseOptions = FROM_FLAGS,
) -> None:
    """Migrate the target database to ``to`` and print each applied or reverted file."""
    from dalperf.db.migrations import discover, latest_version, migrate

    with database.target(database.url()) as target:
        done = migrate(target, to=to, folder=migrations, jobs=jobs)
    if not done:
        current = to if to is not None else latest_version(discover(migrations))
        console.print(f"already at {escape(str(current))}", soft_wrap=True)
    for line in done:
        console.print(escape(line), soft_wrap=True)
