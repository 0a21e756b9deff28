"""Options shared by every command that talks to a database, and the helper that opens it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from dalperf.db.targets import Target

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="DALPERF_DATABASE_URL", show_envvar=True,
                 help="PostgreSQL URL to use instead of the embedded server (an app's own "
                 "DATABASE_URL is never read)."),
]
DbSource = Annotated[
    str | None,
    typer.Option("--db", help="Where the database comes from: embedded, url or testcontainers "
                 "(default: url when a URL is given, else embedded)."),
]
Home = Annotated[
    Path | None,
    typer.Option("--home", envvar="DALPERF_HOME", show_envvar=True,
                 help="Folder for the embedded server's data (default: ./.dalperf)."),
]
Ephemeral = Annotated[
    bool, typer.Option("--ephemeral", help="Use a throwaway embedded server, deleted afterwards."),
]
Disposable = Annotated[
    bool,
    typer.Option("--disposable", help="Allow writing into a --database-url database dalperf "
                 "did not create (its contents may be replaced)."),
]


@contextmanager
def target_from_options(
    *, database_url: str | None, db: str | None, home: Path | None, ephemeral: bool = False,
    disposable: bool = False,
) -> Iterator[Target]:
    """Provide the database the options name; anything started is stopped afterwards."""
    from dalperf.db.targets import provide

    with provide(source=db, database_url=database_url, home=home, ephemeral=ephemeral,
                 disposable=disposable) as target:
        yield target
