"""``dalperf init``: a commented ``[tool.dalperf]`` block and a ``perf/`` skeleton for a project.

From the module holding the project's SQLAlchemy models it finds the ``MetaData`` (a
``MetaData`` attribute, or a declarative base's ``.metadata``) and writes:

- ``[tool.dalperf]`` into ``pyproject.toml`` (created if absent; refused if the table
  exists already: nothing is clobbered);
- ``perf/ops.py``: one sync and one async operation against the first table, each with a
  ``naive`` and an ``optimized`` variant that return equal results;
- ``perf/seed.py``: the seed hook skeleton, ``seed(engine, scale, seed)``.

Every file is checked before any is written, so a refusal writes nothing; each is written
atomically, and a write that fails (a full disk, a read-only folder) removes what was
written before it: all or nothing, the original ``pyproject.toml`` kept.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dalperf.errors import DalperfError, EnvironmentProblem, UsageError
from dalperf.project.budgets import PYPROJECT
from dalperf.project.config import import_module
from dalperf.results.files import write_atomic

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table

PERF_DIR = "perf"


@dataclass(frozen=True, kw_only=True)
class Written:
    """What ``init`` wrote."""

    files: tuple[Path, ...]
    schema: str  # the metadata spec put into [tool.dalperf] schema
    table: str


def find_metadata(module: str) -> tuple[str, MetaData]:
    """``("module:Base.metadata", metadata)`` for the models in ``module``."""
    from sqlalchemy import MetaData

    namespace = vars(import_module(module, what=f"dalperf init: {module}"))
    for name, value in namespace.items():
        if isinstance(value, MetaData) and value.tables:
            return f"{module}:{name}", value
    for name, value in namespace.items():
        found = getattr(value, "metadata", None)
        if isinstance(value, type) and isinstance(found, MetaData) and found.tables:
            return f"{module}:{name}.metadata", found
    raise UsageError(
        f"dalperf init: {module} holds no SQLAlchemy MetaData with tables "
        "(a declarative Base or a MetaData object)"
    )


def init(module: str, root: Path) -> Written:
    """Write the configuration and the skeleton for the models of ``module`` into ``root``."""
    schema, metadata = find_metadata(module)
    table = _first_table(metadata, module)
    pyproject = root / PYPROJECT
    perf = root / PERF_DIR
    files = {
        perf / "__init__.py": "",
        perf / "ops.py": ops_source(module, schema, table),
        perf / "seed.py": SEED_SOURCE,
    }
    text = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{pyproject} is not valid TOML: {exc}; nothing written") from exc
    if "dalperf" in parsed.get("tool", {}):
        raise UsageError(f"{pyproject} has a [tool.dalperf] table already; nothing written")
    existing = [p for p in files if p.exists() and p.name != "__init__.py"]
    if existing:
        raise UsageError(f"dalperf init: {existing[0]} exists already; nothing written")
    if perf.exists() and not perf.is_dir():
        raise EnvironmentProblem(f"dalperf init: {perf} is a file, not a folder; nothing written")
    block = config_block(schema, _area(table))
    separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
    written = _write_all(
        {path: source for path, source in files.items() if not path.exists()},
        pyproject=(pyproject, text + separator + block),
    )
    return Written(files=(pyproject, *written), schema=schema, table=table.name)


def _write_all(files: dict[Path, str], *, pyproject: tuple[Path, str]) -> list[Path]:
    """Write ``files``, then ``pyproject``, each atomically; all or nothing.

    ``pyproject.toml`` goes last: its ``[tool.dalperf]`` table is what marks a project as
    configured.  When any write fails (a full disk, a read-only folder), the files written
    before are removed again, and the ``perf/`` folder if this call made it; the original
    ``pyproject.toml`` is left as it was.
    """
    folders = {path.parent for path in files}
    made = [folder for folder in sorted(folders) if not folder.exists()]
    written: list[Path] = []
    try:
        for path, source in files.items():
            write_atomic(path, source, what="file")
            written.append(path)
        write_atomic(*pyproject, what="file")
    except BaseException as exc:
        for path in written:
            path.unlink(missing_ok=True)
        for folder in reversed(made):
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, DalperfError):
            raise type(exc)(f"dalperf init: {exc}; nothing written") from exc
        raise
    return written


def _first_table(metadata: MetaData, module: str) -> Table:
    for table in metadata.sorted_tables:
        if table.primary_key.columns:
            return table
    raise UsageError(f"dalperf init: no table of {module} has a primary key to order by")


def _area(table: Table) -> str:
    area = re.sub(r"[^a-z0-9_]", "_", table.name.lower())
    return area if re.match(r"^[a-z_]", area) else f"t_{area}"


def config_block(schema: str, area: str) -> str:
    """The commented ``[tool.dalperf]`` table ``init`` writes."""
    return f'''[tool.dalperf]
# Modules (dotted names) or .py files registering operations; paths are relative to this file,
# whose folder goes on sys.path (so your packages import).
scenarios = ["perf/ops.py"]
# The schema: a folder of SQL migrations, an Alembic .ini, or a SQLAlchemy MetaData.
schema = "{schema}"
# Fills the schema: called as seed(engine, scale, seed); its data is kept in a template
# database and reused while scale, seed and schema are unchanged.
seed = "perf.seed:seed"
scale = 1
# iterations = 30           # measured calls per variant
# warmup = 3                # unmeasured calls first
# rtt_ms = [0, 5]           # simulated round-trip times (dalperf run)
# out_dir = "reports/out"   # results.json, report.html, report.md
# database_url_env = "DALPERF_DATABASE_URL"  # where a --database-url comes from
# budgets = "perf/budgets.toml"              # or [tool.dalperf.budgets."{area}.count".optimized]
variants = {{ reference = "naive", ours = "optimized" }}
'''


def ops_source(module: str, schema: str, table: Table) -> str:
    """``perf/ops.py``: a sync and an async operation on ``table``; the table's name only
    ever appears as a Python string literal (``repr``), so that any name PostgreSQL allows
    (quotes, backslashes, a schema: ``shop.orders`` is the metadata's key) gives valid
    code."""
    area = _area(table)
    target = schema.partition(":")[2]
    return f'''"""dalperf operations for {module} (written by `dalperf init`: edit them freely).

Each operation has variants that must return equal results; the first is the reference.
Sync variants get a SyncDb (db.sessions is a sessionmaker), async ones a Db
(db.sessions is an async_sessionmaker). A params factory picks the inputs from the seeded
database the same way; open a session from db.sessions there for any set-up query.
"""

from sqlalchemy import func, select

from dalperf import register
from {module} import {target.partition(".")[0]}

TABLE = {target}.tables[{table.key!r}]
ORDER = list(TABLE.primary_key.columns)


def count_params(db, rng, size):
    return None


def count_naive(db, params):
    """Loads every row to count them."""
    with db.sessions() as session:
        return len(session.execute(select(TABLE)).all())


def count_optimized(db, params):
    """Lets the database count."""
    with db.sessions() as session:
        return session.execute(select(func.count()).select_from(TABLE)).scalar_one()


register("{area}.count", variants={{"naive": count_naive, "optimized": count_optimized}},
         params=count_params, description={f"How many {table.fullname} rows there are (sync)."!r})


async def page_params(db, rng, size):
    return 20


async def page_naive(db, limit):
    """Fetches the whole table, keeps the first page."""
    async with db.sessions() as session:
        rows = (await session.execute(select(TABLE).order_by(*ORDER))).all()
        return [tuple(row) for row in rows[:limit]]


async def page_optimized(db, limit):
    """LIMIT in the query."""
    async with db.sessions() as session:
        rows = (await session.execute(select(TABLE).order_by(*ORDER).limit(limit))).all()
        return [tuple(row) for row in rows]


register("{area}.first_page", variants={{"naive": page_naive, "optimized": page_optimized}},
         params=page_params, description={f"The first page of {table.fullname} (async)."!r})
'''


SEED_SOURCE = '''"""The seed hook (written by `dalperf init`): fill the schema with data to measure on.

dalperf calls seed(engine, scale, seed) once on an empty database holding the schema, then
keeps the result in a template database; it runs again only when scale, seed or the schema
change. `engine` is a SQLAlchemy Engine; draw everything from random.Random(seed) so equal
arguments give equal data.
"""

import random


def seed(engine, scale, seed):
    rng = random.Random(seed)
    rows = int(1000 * scale)
    del rng, rows  # insert your rows here, e.g. with engine.begin() as conn: conn.execute(...)
'''
