"""A user's project as a data source: their schema, their seed hook, a template of the result.

:func:`prepare` gives ``run`` and ``audit`` a database holding the project's schema and
seeded data:

- on a server dalperf owns (embedded, container), the seeded state is kept in a *template
  database* (:data:`TEMPLATE_DB`); each run gets a fresh copy of it, ``CREATE DATABASE
  dalperf_project TEMPLATE dalperf_project_template``, so every run starts from identical
  data, and the copy takes a fraction of a second;
- on a ``--database-url`` database (which must be writable: owned or ``--disposable``), the
  schema and data go into it directly, and only when it is empty.

The template is rebuilt only when the *state* changes: the scale, the data seed, the seed
hook (its name and the checksum of its file, :func:`hook_checksum`) or the schema's
checksum (:func:`schema_checksum`).  The state is recorded as
the comment of the ``public`` schema, which the copies inherit.  A seed hook that raises
leaves nothing behind: the half-filled template is dropped.

The schema is one of: a folder of SQL migrations (:mod:`dalperf.db.migrations`), an Alembic
``.ini`` (``alembic upgrade head``), or a SQLAlchemy ``MetaData`` named as
``package.module:Base.metadata`` (``create_all``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dalperf.db.embedded import OWNED_MARKER
from dalperf.db.targets import Source, Target, connect
from dalperf.errors import DalperfError, EnvironmentProblem, UsageError, describe
from dalperf.project.config import Config, import_target, seed_hook

if TYPE_CHECKING:
    from sqlalchemy import MetaData

TEMPLATE_DB = "dalperf_project_template"
WORKING_DB = "dalperf_project"
STATE_PREFIX = "dalperf data "
MAINTENANCE_DB = "postgres"


@dataclass(frozen=True, kw_only=True)
class DataState:
    """What the seeded data depends on: equal states give equal data."""

    scale: float
    seed: int
    hook: str | None
    schema: str  # the schema's checksum

    def comment(self) -> str:
        return STATE_PREFIX + json.dumps(
            {"scale": self.scale, "seed": self.seed, "hook": self.hook, "schema": self.schema},
            sort_keys=True,
        )


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """The database to measure and what was done to get it (one line each)."""

    target: Target
    seeded: str  # "reused ..." or "... seeded in N s"
    copied: str | None  # the template copy and its time; None without a template
    state: DataState


# --------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------


def metadata(spec: str, *, what: str) -> MetaData:
    """The ``MetaData`` that ``spec`` names (an object with ``.metadata`` is accepted too)."""
    from sqlalchemy import MetaData

    found = import_target(spec, what=what)
    found = getattr(found, "metadata", found)
    if not isinstance(found, MetaData):
        raise UsageError(
            f"{what} {spec!r} is not a SQLAlchemy MetaData (got {type(found).__name__})"
        )
    return found


def schema_kind(config: Config) -> str:
    """``migrations``, ``alembic``, ``metadata`` or ``none``."""
    spec = config.schema
    if spec is None:
        return "none"
    if spec.endswith(".ini"):
        return "alembic"
    return "migrations" if Path(spec).is_dir() else "metadata"


def check(config: Config) -> None:
    """Import the schema and seed targets now, before anything is provisioned."""
    if schema_kind(config) == "metadata":
        assert config.schema is not None
        metadata(config.schema, what=config.where("schema"))
    seed_hook(config)


def schema_checksum(config: Config) -> str:
    """SHA-256 of what the schema is made of: the migration files; Alembic's ``.ini`` and
    the scripts of the location it resolves to (``env.py``, the versions); or every DDL
    statement ``create_all`` of the metadata really emits (tables, indexes, and the DDL of
    events attached to them, views made that way included).  Nothing else: files beside
    an ``alembic.ini`` (a ``.venv``, the operations) do not count."""
    digest = hashlib.sha256()
    for part in _schema_parts(config)[0]:
        digest.update(part)
    return f"{schema_kind(config)}:{digest.hexdigest()[:16]}"


def covered(config: Config) -> str:
    """What the checksums of the data state cover, in words (for the ``reused`` line)."""
    what = _schema_parts(config)[1]
    if config.seed is not None:
        what += (
            f", the seed hook's module and {len(_hook_files(config)) - 1} project "
            "module(s) it imports"
        )
    return what


def _schema_parts(config: Config) -> tuple[list[bytes], str]:
    """The byte strings the schema checksum is made of, and what they are, in words."""
    kind = schema_kind(config)
    spec = config.schema
    if kind == "metadata":
        assert spec is not None
        ddl = _emitted_ddl(metadata(spec, what=config.where("schema")))
        return [s.encode() for s in ddl], f"{len(ddl)} DDL statement(s) create_all emits"
    if kind == "none":
        return [], "no schema"
    assert spec is not None
    parts: list[bytes] = []
    if kind == "migrations":
        folder, paths = Path(spec), sorted(Path(spec).glob("*.sql"))
        what = f"{len(paths)} migration file(s)"
    else:
        folder = _alembic_scripts(Path(spec))
        parts.append(Path(spec).read_bytes())
        paths = sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
        what = f"{Path(spec).name} and {len(paths)} script(s) in {folder.name}/"
    for path in paths:
        parts += [path.relative_to(folder).as_posix().encode(), path.read_bytes()]
    return parts, what


def _emitted_ddl(tables: MetaData) -> list[str]:
    """The statements ``tables.create_all`` sends to PostgreSQL, compiled, in order."""
    from sqlalchemy import create_mock_engine

    emitted: list[str] = []

    def executor(sql: Any, *_multiparams: Any, **_params: Any) -> None:
        emitted.append(str(sql.compile(dialect=engine.dialect)))

    engine = create_mock_engine("postgresql+psycopg://", executor)
    tables.create_all(engine, checkfirst=False)
    return emitted


def _alembic_scripts(ini: Path) -> Path:
    """The folder of the scripts Alembic's ``ini`` names (``script_location``, with
    ``%(here)s`` and a path relative to the ini resolved as Alembic resolves them)."""
    try:
        from alembic.config import Config as AlembicConfig
    except ImportError as exc:
        raise UsageError("schema names an Alembic config: pip install alembic") from exc
    location = AlembicConfig(str(ini)).get_main_option("script_location")
    if not location:
        raise UsageError(f"{ini}: no script_location in its [alembic] section")
    path = Path(location)
    return (path if path.is_absolute() else ini.parent / path).resolve()


def hook_checksum(config: Config) -> str | None:
    """The seed hook's name and a SHA-256 of its module's file and of every module of the
    project it imports, directly or not: editing the hook or a helper it uses re-seeds."""
    if config.seed is None:
        return None
    digest = hashlib.sha256()
    for path in _hook_files(config):
        digest.update(
            path.relative_to(config.root).as_posix().encode()
            if path.is_relative_to(config.root)
            else str(path).encode()
        )
        digest.update(path.read_bytes())
    return f"{config.seed}@{digest.hexdigest()[:16]}"


def _hook_files(config: Config) -> list[Path]:
    """The seed hook's module file and the project modules it imports (none without a hook
    or a source file)."""
    import inspect

    hook = seed_hook(config)
    if hook is None:
        return []
    try:
        start = inspect.getsourcefile(hook)
    except TypeError:
        return []
    return _project_imports(Path(start), config.root) if start else []


def _project_imports(start: Path, root: Path) -> list[Path]:
    """``start`` and the files of the project's modules (under ``root``, outside any
    ``.venv`` or site-packages) that it imports, and those they import, read from their
    ``import`` statements."""
    import ast
    import importlib.util

    def project_file(name: str) -> Path | None:
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        origin = Path(found.origin).resolve() if found and found.origin else None
        if (
            origin is None
            or not origin.is_file()
            or not origin.is_relative_to(root)
            or {"site-packages", ".venv"} & set(origin.parts)
        ):
            return None
        return origin

    seen: list[Path] = []
    pending = [start.resolve()]
    while pending:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.append(path)
        try:
            tree = ast.parse(path.read_bytes())
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            for name in names:
                found = project_file(name)
                if found is not None:
                    pending.append(found)
    return sorted(seen)


def apply_schema(target: Target, config: Config) -> str:
    """Create the project's schema in ``target``; one line saying what was done."""
    kind = schema_kind(config)
    spec = config.schema
    if kind == "migrations":
        from dalperf.db.migrations import migrate

        assert spec is not None
        applied = migrate(target, folder=Path(spec))
        return f"{len(applied)} migration(s) applied"
    if kind == "alembic":
        return _alembic_upgrade(target, Path(str(spec)))
    if kind == "metadata":
        assert spec is not None
        tables = metadata(spec, what=config.where("schema"))
        with _engine(target) as engine:
            try:
                _create_schemas(engine, tables)
                tables.create_all(engine)
            except (Exception, SystemExit) as exc:
                raise UsageError(
                    f"{config.where('schema')}: create_all failed: {describe(exc)}"
                ) from exc
        return f"{len(tables.tables)} table(s) created"
    return "no schema configured"


def _create_schemas(engine: Any, tables: MetaData) -> None:
    """The schemas the tables live in (``__table_args__ = {"schema": "shop"}``), which
    ``create_all`` expects to exist."""
    from sqlalchemy.schema import CreateSchema

    with engine.begin() as conn:
        for name in sorted({t.schema for t in tables.tables.values() if t.schema}):
            conn.execute(CreateSchema(name, if_not_exists=True))


def _alembic_upgrade(target: Target, ini: Path) -> str:
    try:
        from alembic import command
        from alembic.config import Config as AlembicConfig
    except ImportError as exc:
        raise UsageError("schema names an Alembic config: pip install alembic") from exc
    alembic_config = AlembicConfig(str(ini))
    alembic_config.set_main_option("sqlalchemy.url", target.sqlalchemy_url.replace("%", "%%"))
    script_location = alembic_config.get_main_option("script_location")
    if script_location and not Path(script_location).is_absolute():
        alembic_config.set_main_option("script_location", str(ini.parent / script_location))
    try:
        command.upgrade(alembic_config, "head")
    except (Exception, SystemExit) as exc:
        raise UsageError(f"alembic upgrade head ({ini}) failed: {describe(exc)}") from exc
    return "alembic upgrade head"


# --------------------------------------------------------------------------------------
# Seeding and the template
# --------------------------------------------------------------------------------------


def prepare(target: Target, config: Config, *, scale: float, seed: int) -> Prepared:
    """The database to measure, seeded as ``config`` says (see the module's doc)."""
    check(config)
    state = DataState(
        scale=scale, seed=seed, hook=hook_checksum(config), schema=schema_checksum(config)
    )
    if target.source is Source.URL:
        return _prepare_in_place(target, config, state)
    template = _on(target, TEMPLATE_DB)
    with connect(_on(target, MAINTENANCE_DB)) as conn:
        exists = _database_exists(conn, TEMPLATE_DB)
    if exists and _state(template) == state.comment():
        seeded = (
            f"reused (scale {scale:g}, seed {seed}, schema {state.schema}; the "
            f"checksums cover {covered(config)})"
        )
    else:
        started = time.perf_counter()
        _recreate(target, TEMPLATE_DB)
        try:
            note = _fill(template, config, state)
        except BaseException:
            _drop(target, TEMPLATE_DB)
            raise
        seeded = f"{note} in {time.perf_counter() - started:.2f} s"
    started = time.perf_counter()
    _recreate(target, WORKING_DB, template=TEMPLATE_DB)
    copied = f"copied from template {TEMPLATE_DB} in {time.perf_counter() - started:.2f} s"
    return Prepared(target=_on(target, WORKING_DB), seeded=seeded, copied=copied, state=state)


def _prepare_in_place(target: Target, config: Config, state: DataState) -> Prepared:
    target.ensure_writable()
    current = _state(target)
    if current == state.comment():
        return Prepared(
            target=target,
            seeded=f"reused (scale {state.scale:g}, seed "
            f"{state.seed}, schema {state.schema}; the checksums cover "
            f"{covered(config)})",
            copied=None,
            state=state,
        )
    with connect(target) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
            "('pg_catalog', 'information_schema')"
        ).fetchone()
    if tables and tables[0]:
        raise UsageError(
            f"{target.display_url} holds other data than scale {state.scale:g}, "
            f"seed {state.seed}, schema {state.schema}; give an empty database"
        )
    started = time.perf_counter()
    note = _fill(target, config, state)
    return Prepared(
        target=target,
        seeded=f"{note} in {time.perf_counter() - started:.2f} s",
        copied=None,
        state=state,
    )


def _fill(target: Target, config: Config, state: DataState) -> str:
    """Schema, seed hook, VACUUM ANALYZE, then the state comment (last: only complete data
    is ever reused)."""
    schema_note = apply_schema(target, config)
    hook = seed_hook(config)
    if hook is not None:
        with _engine(target) as engine:
            try:
                hook(engine, state.scale, state.seed)
            except DalperfError:
                raise
            except (Exception, SystemExit) as exc:  # whatever the user's hook raises
                raise UsageError(f"seed hook {config.seed} raised {describe(exc)}") from exc
    with connect(target) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute(f"COMMENT ON SCHEMA public IS {_literal(state.comment())}")
    seeded = (
        f"seeded by {config.seed} (scale {state.scale:g}, seed {state.seed})"
        if hook
        else "no seed hook"
    )
    return f"{schema_note}, {seeded}"


def _state(target: Target) -> str | None:
    with connect(target) as conn:
        row = conn.execute(
            "SELECT obj_description('public'::regnamespace, 'pg_namespace')"
        ).fetchone()
    return row[0] if row else None


def _on(target: Target, database: str) -> Target:
    return replace(target, url=target.url.set(database=database))


def _database_exists(conn: Any, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _recreate(target: Target, name: str, *, template: str | None = None) -> None:
    """Drop ``name`` if it exists and create it again (from ``template``), marked as ours."""
    from psycopg import errors, sql

    target.ensure_writable()
    with connect(_on(target, MAINTENANCE_DB)) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            # FILE_COPY copies the files instead of WAL-logging every block (WAL_LOG, the
            # default): 94 MB in 0.69 s instead of 1.07 s (benchmarks/template_copy.py)
            create += sql.SQL(" TEMPLATE {} STRATEGY FILE_COPY").format(sql.Identifier(template))
        try:
            conn.execute(create)
        except errors.ObjectInUse as exc:  # a session on the template blocks the copy
            raise EnvironmentProblem(_template_in_use(conn, template or name)) from exc
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(OWNED_MARKER)
            )
        )


def _template_in_use(conn: Any, template: str) -> str:
    """One line naming the sessions connected to ``template`` (pid, application name)."""
    rows = conn.execute(
        "SELECT pid, application_name, usename FROM pg_stat_activity "
        "WHERE datname = %s ORDER BY pid",
        (template,),
    ).fetchall()
    sessions = (
        ", ".join(
            f"pid {pid} ({f'application {app!r}' if app else 'no application name'}, user {user})"
            for pid, app, user in rows
        )
        or "a session now gone"
    )
    return (
        f"cannot copy template database {template}: another session is connected to it "
        f"({sessions}); close it, or end it with SELECT pg_terminate_backend(pid)"
    )


def _drop(target: Target, name: str) -> None:
    from psycopg import sql

    with connect(_on(target, MAINTENANCE_DB)) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def _engine(target: Target) -> Iterator[Any]:
    """A sync SQLAlchemy engine on ``target`` (psycopg 3), disposed afterwards."""
    from sqlalchemy import create_engine

    engine = create_engine(target.sqlalchemy_url)
    try:
        yield engine
    finally:
        engine.dispose()
