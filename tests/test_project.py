"""dalperf on a user's own project: [tool.dalperf], init, audit on their schema and seed hook
with a template database, shards and merge, load --app.

Each test builds a small app of its own in ``tmp_path`` (a package with SQLAlchemy models, a
seed hook, operations) and runs the real ``dalperf`` in a subprocess whose working folder is
the app's, against one embedded PostgreSQL server kept running for the module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from dalperf.db.embedded import ServerStatus, running_server
from dalperf.db.project import TEMPLATE_DB, WORKING_DB
from dalperf.project.budgets import BudgetSet
from dalperf.results.shards import Shard

MODELS = """
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
"""

SEED = """
import random

from sqlalchemy import insert

from shop.models import Author, Book


def seed(engine, scale, seed):
    rng = random.Random(seed)
    authors = int(40 * scale)
    with engine.begin() as conn:
        conn.execute(insert(Author), [{"id": i, "name": f"author {rng.randint(0, 999)}"}
                                      for i in range(1, authors + 1)])
        conn.execute(insert(Book), [{"id": i, "author_id": 1 + i % authors, "title": f"t{i}"}
                                    for i in range(1, 4 * authors + 1)])
"""

# six operations, sync and async, one of them mutating; a helper module beside the file
OPS = """
from sqlalchemy import func, select, update

from dalperf import register
from helpers import first_ids
from shop.models import Author, Book


def no_params(db, rng, size):
    return None


def count_naive(db, params):
    with db.sessions() as s:
        return len(s.execute(select(Author.id)).all())


def count_optimized(db, params):
    with db.sessions() as s:
        return s.execute(select(func.count()).select_from(Author)).scalar_one()


async def ids_params(db, rng, size):
    async with db.sessions() as s:  # set-up work on the seeded data
        return first_ids((await s.execute(select(Author.id))).scalars().all())


async def names_naive(db, ids):
    async with db.sessions() as s:
        return [(await s.execute(select(Author.name).where(Author.id == i))).scalar_one()
                for i in ids]


async def names_optimized(db, ids):
    async with db.sessions() as s:
        rows = (await s.execute(select(Author.id, Author.name).where(Author.id.in_(ids)))).all()
        by_id = dict(rows)
        return [by_id[i] for i in ids]


def books_naive(db, ids):
    with db.sessions() as s:
        return sorted(t for i in ids for t in s.execute(
            select(Book.title).where(Book.author_id == i)).scalars())


def books_optimized(db, ids):
    with db.sessions() as s:
        return sorted(s.execute(select(Book.title).where(Book.author_id.in_(ids))).scalars())


def sync_ids(db, rng, size):
    with db.sessions() as s:
        return first_ids(s.execute(select(Author.id)).scalars().all())


def rename_naive(db, ids):
    with db.sessions() as s, s.begin():
        for i in ids:
            s.execute(update(Author).where(Author.id == i).values(name="x"))
    return len(ids)


def rename_optimized(db, ids):
    with db.sessions() as s, s.begin():
        s.execute(update(Author).where(Author.id.in_(ids)).values(name="x"))
    return len(ids)


for area in ("authors", "catalog"):
    register(f"{area}.count", variants={"naive": count_naive, "optimized": count_optimized},
             params=no_params)
    register(f"{area}.names", variants={"naive": names_naive, "optimized": names_optimized},
             params=ids_params)
register("books.by_authors", variants={"naive": books_naive, "optimized": books_optimized},
         params=sync_ids)
register("authors.rename", variants={"naive": rename_naive, "optimized": rename_optimized},
         params=sync_ids, mutates=True)
"""

HELPERS = """
def first_ids(ids):
    return sorted(ids)[:3]
"""

CONFIG = """
[tool.dalperf]
scenarios = ["perf/ops.py"]
schema = "shop.models:Base.metadata"
seed = "perf.seed:seed"
scale = 1
iterations = 3
warmup = 1
variants = { reference = "naive", ours = "optimized" }
"""

OPERATIONS = {
    "authors.count",
    "catalog.count",
    "authors.names",
    "catalog.names",
    "books.by_authors",
    "authors.rename",
}


@dataclass(frozen=True)
class Project:
    """The module's embedded server and a way to run dalperf in an app folder."""

    home: Path
    server: ServerStatus

    def run(
        self, app: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        environment = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DALPERF_DATABASE_URL", "PYTHONPATH")
        }
        environment |= {"DALPERF_HOME": str(self.home), "COLUMNS": "200", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "dalperf", *args],
            cwd=app,
            text=True,
            capture_output=True,
            env=environment,
            timeout=timeout,
            check=False,
        )

    def databases(self) -> set[str]:
        with psycopg.connect(self.server.url("postgres")) as conn:
            return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}

    def drop_project_databases(self) -> None:
        with psycopg.connect(self.server.url("postgres"), autocommit=True) as conn:
            for name in (WORKING_DB, TEMPLATE_DB):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def project_server() -> Iterator[Project]:
    # outside pytest's tmp folders, whose modes pytest may reset while the server (another
    # user when the tests run as root) still reads them
    home = Path(tempfile.mkdtemp(prefix="dalperf-project-"))
    try:
        with running_server(home / "pgdata") as status:  # commands find it running
            yield Project(home=home, server=status)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def project(project_server: Project) -> Iterator[Project]:
    """The module's server with no project databases: each test starts without a template."""
    project_server.drop_project_databases()
    yield project_server
    project_server.drop_project_databases()


def make_app(root: Path, *, config: str = CONFIG, ops: str = OPS, seed: str = SEED) -> Path:
    """The app folder: package ``shop`` (models), ``perf/`` (ops, helpers, seed hook)."""
    files = {
        "shop/__init__.py": "",
        "shop/models.py": MODELS,
        "perf/__init__.py": "",
        "perf/ops.py": ops,
        "perf/helpers.py": HELPERS,
        "perf/seed.py": seed,
        "pyproject.toml": config,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


# --------------------------------------------------------------------------------------
# Bad input: one line, exit 2, nothing written
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("iteration = 3", "unknown key 'iteration'; did you mean iterations"),
        ('iterations = "3"', "iterations must be a whole number >= 1"),
        ('scale = "big"', "scale must be a number > 0"),
        ('variants = { reference = "naive", our = "optimized" }', "did you mean ours"),
        (
            'schema = "nosuch.models:Base.metadata"',
            "schema 'nosuch.models:Base.metadata' does not import: ModuleNotFoundError",
        ),
        ('schema = "shop.models:Nothing.metadata"', "has no attribute 'Nothing.metadata'"),
        ('seed = "perf.nosuch:seed"', "seed 'perf.nosuch:seed' does not import"),
        ('seed = "perf/seed.py"', "seed must name a function as 'package.module:function'"),
    ],
)
def test_bad_config_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, project: Project, change: str, expected: str
) -> None:
    key = change.partition(" =")[0]
    lines = [
        line
        for line in CONFIG.splitlines()
        if not line.startswith(f"{key} =") and not line.startswith(key.rstrip("s") + " =")
    ]
    app = make_app(tmp_path, config="\n".join([*lines, change]) + "\n")
    proc = project.run(app, "audit")
    assert proc.returncode == 2, proc.stderr
    assert expected in one_line_error(proc)
    assert not (app / "reports").exists()
    assert TEMPLATE_DB not in project.databases()


def test_a_seed_hook_that_raises_leaves_nothing(tmp_path: Path, project: Project) -> None:
    raising = SEED + "\n\ndef broken(engine, scale, seed):\n    raise ValueError('no data today')\n"
    app = make_app(
        tmp_path, config=CONFIG.replace("perf.seed:seed", "perf.seed:broken"), seed=raising
    )
    proc = project.run(app, "audit")
    assert proc.returncode == 2, proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert error == ["error: seed hook perf.seed:broken raised ValueError: no data today"]
    assert not (app / "reports").exists()
    assert not {TEMPLATE_DB, WORKING_DB} & project.databases()


@pytest.mark.parametrize("shard", ["3/2", "0/4", "1/0", "a/b"])
def test_a_bad_shard_is_one_line_exit_2(tmp_path: Path, project: Project, shard: str) -> None:
    app = make_app(tmp_path)
    proc = project.run(app, "run", "--shard", shard, "--out", "r.json")
    assert proc.returncode == 2, proc.stderr
    assert "--shard" in one_line_error(proc)
    assert not (app / "r.json").exists()
    assert TEMPLATE_DB not in project.databases()


def test_the_apps_database_url_is_not_read_unless_named(tmp_path: Path, project: Project) -> None:
    """DATABASE_URL (the app's own, here pointing nowhere) does not hijack dalperf; named
    as database_url_env it is the database."""
    nowhere = {"DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/myapp"}
    app = make_app(tmp_path)
    ok = project.run(app, "run", "--only", "authors.count", "--out", "r.json", env=nowhere)
    assert ok.returncode == 0, ok.stderr
    make_app(tmp_path, config=CONFIG + 'database_url_env = "DATABASE_URL"\n')
    named = project.run(app, "run", "--only", "authors.count", "--out", "r2.json", env=nowhere)
    assert named.returncode == 3, named.stderr
    assert "127.0.0.1:1" in named.stderr and "secret" not in named.stderr


# --------------------------------------------------------------------------------------
# init, audit, the template
# --------------------------------------------------------------------------------------


def test_init_then_audit_is_green(tmp_path: Path, project: Project) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "models.py").write_text(MODELS)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    init = project.run(tmp_path, "init", "shop.models")
    assert init.returncode == 0, init.stderr
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "shop"\n')
    assert 'schema = "shop.models:Base.metadata"' in text
    ops = (tmp_path / "perf" / "ops.py").read_text()
    assert "async def page_optimized" in ops and "\ndef count_optimized" in ops

    audit = project.run(tmp_path, "audit", "--iterations", "3")
    assert audit.returncode == 0, audit.stderr + audit.stdout
    results = json.loads((tmp_path / "reports/out/results.json").read_text())
    assert {m["operation"] for m in results["operations"]} == {
        "authors.count",
        "authors.first_page",
    }
    assert results["environment"]["scale"] == 1
    html = (tmp_path / "reports/out/report.html").read_text()
    assert "data scale 1" in html and "data scale ?" not in html
    markdown = (tmp_path / "reports/out/report.md").read_text()
    assert "| naive (reference) | optimized (ours) |" in markdown

    again = project.run(tmp_path, "init", "shop.models")
    assert again.returncode == 2
    assert "has a [tool.dalperf] table already; nothing written" in one_line_error(again)
    assert (tmp_path / "pyproject.toml").read_text() == text


def test_no_ours_label_unless_configured(tmp_path: Path, project: Project) -> None:
    app = make_app(
        tmp_path,
        config=CONFIG.replace('variants = { reference = "naive", ours = "optimized" }\n', ""),
    )
    proc = project.run(app, "audit", "--only", "authors.count")
    assert proc.returncode == 0, proc.stderr
    markdown = (app / "reports/out/report.md").read_text()
    assert "| naive (reference) | optimized |" in markdown
    assert "(ours)" not in markdown


def test_the_template_is_reused_and_every_run_starts_from_the_seeded_data(
    tmp_path: Path, project: Project
) -> None:
    app = make_app(tmp_path)
    first = project.run(app, "audit", "--only", "authors.count")
    assert first.returncode == 0, first.stderr
    assert "seeded by perf.seed:seed (scale 1, seed 0)" in first.stderr
    assert f"copied from template {TEMPLATE_DB} in " in first.stderr
    with psycopg.connect(project.server.url(WORKING_DB), autocommit=True) as conn:
        conn.execute("DELETE FROM books")  # what a careless run could leave behind
        conn.execute("INSERT INTO authors VALUES (1000, 'stray')")

    second = project.run(app, "audit", "--only", "authors.count")
    assert second.returncode == 0, second.stderr
    assert "reused (scale 1, seed 0, schema metadata:" in second.stderr
    results = json.loads((app / "reports/out/results.json").read_text())
    counts = {m["variant"]: m for m in results["operations"]}
    assert counts["optimized"]["rows_returned"] == 1
    with psycopg.connect(project.server.url(WORKING_DB)) as conn:
        assert conn.execute("SELECT count(*) FROM authors").fetchone() == (40,)
        assert conn.execute("SELECT count(*) FROM books").fetchone() == (160,)

    reseeded = project.run(app, "audit", "--only", "authors.count", "--scale", "0.5")
    assert reseeded.returncode == 0, reseeded.stderr
    assert "seeded by perf.seed:seed (scale 0.5, seed 0)" in reseeded.stderr
    with psycopg.connect(project.server.url(WORKING_DB)) as conn:
        assert conn.execute("SELECT count(*) FROM authors").fetchone() == (20,)


# --------------------------------------------------------------------------------------
# Shards and merge
# --------------------------------------------------------------------------------------


def test_shards_are_a_partition_stable_when_operations_are_added() -> None:
    names = [f"area{i}.op{j}" for i in range(7) for j in range(9)]
    shards = [Shard(index=i, count=3) for i in (1, 2, 3)]
    slices = [{n for n in names if s.holds(n)} for s in shards]
    assert set().union(*slices) == set(names)
    assert sum(map(len, slices)) == len(names)
    assert all(slices)  # 63 names over 3 slices: none empty
    more = [*names, *(f"new{i}.op" for i in range(20))]
    assert [{n for n in more if s.holds(n)} & set(names) for s in shards] == slices


def test_budgets_outside_the_measured_subset_are_skipped_with_a_note() -> None:
    budgets = BudgetSet.parse(
        {"a.x": {"optimized": {"max_queries": 1}}, "b.y": {"optimized": {"max_queries": 1}}},
        source="t",
    )
    known = {"a.x": ["naive", "optimized"], "b.y": ["naive", "optimized"]}
    notes = budgets.validate(known, measured={"a.x"})
    assert notes == [
        (
            "budget of b.y [optimized] skipped: not measured in this run "
            "(a shard or an --only subset)"
        )
    ]
    with pytest.raises(Exception, match="no operation 'b.y'"):
        budgets.validate({"a.x": ["naive", "optimized"]}, measured={"a.x"})


def test_shards_merged_equal_an_unsharded_run(tmp_path: Path, project: Project) -> None:
    # a budget on every operation: each shard's check meets budgets of the other's
    budgets = "".join(
        f'[tool.dalperf.budgets."{op}".optimized]\nmax_queries = 4\n' for op in sorted(OPERATIONS)
    )
    app = make_app(tmp_path, config=CONFIG + budgets)
    whole = project.run(app, "run", "--out", "all.json", "--no-explain")
    assert whole.returncode == 0, whole.stderr
    parts = []
    for index in (1, 2):
        proc = project.run(
            app, "run", "--shard", f"{index}/2", "--out", f"s{index}.json", "--no-explain"
        )
        assert proc.returncode == 0, proc.stderr
        parts.append(json.loads((app / f"s{index}.json").read_text()))
        check = project.run(app, "check", f"s{index}.json")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "skipped: not measured in this run" in check.stdout
    shard_ops = [{m["operation"] for m in p["operations"]} for p in parts]
    assert shard_ops[0] and shard_ops[1] and not shard_ops[0] & shard_ops[1]

    merged = project.run(app, "merge", "s1.json", "s2.json", "--out", "merged.json")
    assert merged.returncode == 0, merged.stderr
    pairs = {
        (m["operation"], m["variant"])
        for m in json.loads((app / "merged.json").read_text())["operations"]
    }
    unsharded = {
        (m["operation"], m["variant"])
        for m in json.loads((app / "all.json").read_text())["operations"]
    }
    assert pairs == unsharded
    assert {op for op, _ in pairs} == OPERATIONS
    check = project.run(app, "check", "merged.json")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "skipped" not in check.stdout
    assert project.run(app, "report", "merged.json").returncode == 0
    assert project.run(app, "baseline", "save", "merged.json", "--to", "base.json").returncode == 0

    for key, value in (("scale", 2.0), ("schema", "metadata:0123456789abcdef")):
        other = json.loads((app / "s2.json").read_text())
        other["environment"][key] = value
        (app / "other.json").write_text(json.dumps(other))
        refused = project.run(app, "merge", "s1.json", "other.json", "--out", "bad.json")
        assert refused.returncode == 2
        error = one_line_error(refused)
        assert "s1.json" in error and "other.json" in error and str(value) in error
        assert not (app / "bad.json").exists()


def test_a_budget_on_an_operation_no_module_registers_stays_an_error(
    tmp_path: Path, project: Project
) -> None:
    app = make_app(
        tmp_path,
        config=CONFIG + '[tool.dalperf.budgets."authors.cont".optimized]\nmax_queries = 1\n',
    )
    proc = project.run(app, "run", "--only", "authors.count", "--out", "r.json")
    assert proc.returncode == 2
    assert "no operation 'authors.cont'" in one_line_error(proc)
    assert not (app / "r.json").exists()


# --------------------------------------------------------------------------------------
# load --app
# --------------------------------------------------------------------------------------

APP = """
import os

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from shop.models import Author

engine = create_async_engine(os.environ["DATABASE_URL"])


async def naive(request):
    async with engine.connect() as conn:
        ids = (await conn.execute(select(Author.id).order_by(Author.id))).scalars().all()
        names = [(await conn.execute(select(Author.name).where(Author.id == i))).scalar_one()
                 for i in ids[:5]]
    return JSONResponse(names)


async def optimized(request):
    async with engine.connect() as conn:
        rows = await conn.execute(select(Author.name).order_by(Author.id).limit(5))
    return JSONResponse(list(rows.scalars()))


app = Starlette(routes=[Route("/naive/authors", naive), Route("/optimized/authors", optimized)])
"""

LOCUSTFILE = """
from locust import FastHttpUser, events, task

from dalperf.loadtest.locust_side import record_requests, request_context

record_requests(events)


class AppUser(FastHttpUser):
    abstract = True
    variant = ""

    def context(self):
        return request_context(self.variant, self)

    @task
    def authors(self):
        self.client.get(f"/{self.variant}/authors")


class NaiveUser(AppUser):
    variant = "naive"


class OptimizedUser(AppUser):
    variant = "optimized"
"""


def test_load_app_serves_the_users_app_with_query_counts(tmp_path: Path, project: Project) -> None:
    app = make_app(tmp_path)
    (app / "shop" / "main.py").write_text(APP)
    (app / "perf" / "locustfile.py").write_text(LOCUSTFILE)
    proc = project.run(
        app,
        "load",
        "--app",
        "shop.main:app",
        "--locustfile",
        "perf/locustfile.py",
        "--users",
        "4",
        "--run-time",
        "3s",
        "--workers",
        "2",
        "--out",
        "load.json",
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = json.loads((app / "load.json").read_text())
    by_variant = {v["variant"]: v for v in results["variants"]}
    assert set(by_variant) == {"naive", "optimized"}
    assert by_variant["naive"]["queries_per_request"] == 6  # 1 + the first 5 authors
    assert by_variant["optimized"]["queries_per_request"] == 1
    assert all(v["requests"] > 0 and v["failures"] == 0 for v in by_variant.values())
    assert results["environment"]["scale"] == 1


def test_config_file_flag_relative_paths_and_flags_override(
    tmp_path: Path, project: Project
) -> None:
    app = make_app(tmp_path, config='[project]\nname = "shop"\n')  # no [tool.dalperf] there
    table = "\n".join(line for line in CONFIG.splitlines() if line != "[tool.dalperf]")
    (app / "ci").mkdir()
    (app / "ci" / "dalperf.toml").write_text(
        table.replace('"perf/ops.py"', '"../perf/ops.py"') + '\nout_dir = "../measured"\n'
    )
    proc = project.run(
        app,
        "run",
        "--config",
        "ci/dalperf.toml",
        "--only",
        "authors.count",
        "--iterations",
        "4",
        "--no-explain",
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((app / "measured" / "results.json").read_text())
    assert results["environment"]["iterations"] == 4  # the flag over the file's 3
    assert results["environment"]["warmup"] == 1  # the file's
    assert results["environment"]["variant_roles"] == {"reference": "naive", "ours": "optimized"}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"rtt_ms": [0, -1]}, "rtt_ms must be a number >= 0, not -1"),
        ({"scenarios": []}, "scenarios must be a string or a list of strings"),
        ({"database_url_env": "MY URL"}, "must be the name of an environment variable"),
        ({"budgets": "missing.toml"}, "missing.toml does not exist"),
        ({"budgets": {"a.b": {"optimized": {"max_querys": 1}}}}, "did you mean max_queries"),
        ({"warmup": True}, "warmup must be a whole number >= 0"),
        ({"schema": "no/such/folder"}, "does not exist"),
    ],
)
def test_config_values_are_checked(tmp_path: Path, table: dict[str, object], expected: str) -> None:
    from dalperf.errors import UsageError
    from dalperf.project.config import parse

    with pytest.raises(UsageError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        parse(table, path=tmp_path / "pyproject.toml")


DDL = """
CREATE TABLE authors (id integer PRIMARY KEY, name varchar(80) NOT NULL);
CREATE TABLE books (id integer PRIMARY KEY, author_id integer NOT NULL REFERENCES authors (id),
                    title varchar(200) NOT NULL);
CREATE INDEX ix_books_author_id ON books (author_id);
"""

ALEMBIC_INI = """
[alembic]
script_location = alembic
"""

ALEMBIC_ENV = """
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
engine = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",
                            poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""

ALEMBIC_VERSION = f"""
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    for statement in {DDL!r}.split(";"):
        if statement.strip():
            op.execute(statement)
"""


@pytest.mark.parametrize("kind", ["migrations", "alembic"])
def test_schema_from_sql_migrations_or_alembic(tmp_path: Path, project: Project, kind: str) -> None:
    if kind == "migrations":
        files = {"db/0001_init.sql": DDL}
        schema = "db"
    else:
        files = {
            "alembic.ini": ALEMBIC_INI,
            "alembic/env.py": ALEMBIC_ENV,
            "alembic/versions/0001_init.py": ALEMBIC_VERSION,
        }
        schema = "alembic.ini"
    app = make_app(tmp_path, config=CONFIG.replace('"shop.models:Base.metadata"', f'"{schema}"'))
    for name, text in files.items():
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text(text)
    proc = project.run(app, "audit", "--only", "authors.names", "--only", "books.by_authors")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert f"schema {kind}:" not in proc.stderr  # seeded, not reused: a fresh template
    assert "seeded by perf.seed:seed" in proc.stderr
    results = json.loads((app / "reports/out/results.json").read_text())
    assert results["environment"]["schema"].startswith(f"{kind}:")
    names = {m["variant"]: m for m in results["operations"] if m["operation"] == "authors.names"}
    assert names["naive"]["queries"] == 3 and names["optimized"]["queries"] == 1
    with psycopg.connect(project.server.url(WORKING_DB)) as conn:
        assert conn.execute("SELECT count(*) FROM books").fetchone() == (160,)


def test_only_a_subset_skips_the_other_budgets_with_a_note(
    tmp_path: Path, project: Project
) -> None:
    budgets = (
        '[tool.dalperf.budgets."books.by_authors".optimized]\nmax_queries = 1\n'
        '[tool.dalperf.budgets."authors.count".optimized]\nmax_queries = 1\n'
    )
    app = make_app(tmp_path, config=CONFIG + budgets)
    proc = project.run(app, "audit", "--only", "authors.count")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert (
        "note: budget of books.by_authors [optimized] skipped: not measured in this run"
        in proc.stdout
    )
    assert "authors.count [optimized] skipped" not in proc.stdout
