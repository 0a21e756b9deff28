"""The migration runner, migration 0006 and ``dalperf migrate``, against a real PostgreSQL.

What a broken runner or migration set would get wrong: the ledger and its checksums, a
rerun that is not a no-op, a down file that drops more or less than its up file created,
an edited applied file that slips through or is only caught after something changed.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from dalperf.cli import main
from dalperf.db.migrations import default_folder, discover, migrate
from dalperf.db.targets import Target, provide
from dalperf.db.urls import parse_with_driver
from dalperf.errors import MigrationError, UsageError

INDEX_MIGRATION = "0006_add_performance_indexes.sql"
NAMED_IN_SUMMARY = {
    "idx_renders_chain_id",
    "idx_renders_status",
    "idx_renders_project_status_created",
    "idx_gallery_items_public_created",
    "idx_user_subscriptions_user_status",
}
CASE_STUDY_TABLES = {
    "users",
    "subscription_plans",
    "user_subscriptions",
    "user_credits",
    "projects",
    "render_chains",
    "renders",
    "gallery_items",
}
_CREATE_INDEX = re.compile(r"^CREATE INDEX (\w+) ON", re.MULTILINE)
_DROP_INDEX = re.compile(r"^DROP INDEX (\w+);", re.MULTILINE)

Cli = Callable[..., int]
Capture = pytest.CaptureFixture[str]


@pytest.fixture
def target(fresh_db: str) -> Iterator[Target]:
    with provide(database_url=parse_with_driver(fresh_db)) as provided:
        yield provided


@pytest.fixture
def cli(fresh_db: str, dalperf_home: Path) -> Cli:
    """``cli(*args)`` runs ``dalperf migrate ARGS --database-url <fresh_db>``; its exit code."""

    def run(*args: str) -> int:
        return main(["migrate", *args, "--database-url", fresh_db])

    return run


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """A private copy of the case study's migrations, safe to edit."""
    folder = tmp_path / "migrations"
    shutil.copytree(default_folder(), folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


def index_migration_names() -> list[str]:
    return _CREATE_INDEX.findall((default_folder() / INDEX_MIGRATION).read_text())


def ledger(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()
    return [(version, name, checksum) for version, name, checksum in rows]


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def indexes(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def test_index_migration_declares_15_high_and_5_medium_and_down_drops_exactly_those() -> None:
    up = (default_folder() / INDEX_MIGRATION).read_text()
    down = (default_folder() / INDEX_MIGRATION.replace(".sql", ".down.sql")).read_text()
    created = _CREATE_INDEX.findall(up)
    assert len(created) == len(set(created)) == 20
    assert set(created) >= NAMED_IN_SUMMARY
    assert sorted(_DROP_INDEX.findall(down)) == sorted(created)
    priorities = re.findall(
        r"^-- (High|Medium)\b[^\n]*\n(?:--[^\n]*\n)*CREATE INDEX", up, re.MULTILINE
    )
    assert priorities.count("High") == 15
    assert priorities.count("Medium") == 5


def test_fresh_apply_records_six_versions_with_checksums(
    fresh_db: str,
    cli: Cli,
    capsys: Capture,
) -> None:
    assert cli() == 0

    files = [f for f in sorted(default_folder().glob("*.sql")) if not f.name.endswith(".down.sql")]
    expected = [
        (f.name[:4], f.name[5:].removesuffix(".sql"), hashlib.sha256(f.read_bytes()).hexdigest())
        for f in files
    ]
    assert [version for version, _, _ in expected] == [
        "0001",
        "0002",
        "0003",
        "0004",
        "0005",
        "0006",
    ]
    assert ledger(fresh_db) == expected
    assert tables(fresh_db) == CASE_STUDY_TABLES | {"schema_migrations"}
    out = capsys.readouterr().out
    assert out.splitlines() == [f"applied {f.name}" for f in files]


def test_rerun_is_a_no_op(fresh_db: str, target: Target, cli: Cli, capsys: Capture) -> None:
    migrate(target)
    with psycopg.connect(fresh_db) as conn:
        before = conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall()

    assert migrate(target) == []
    assert cli() == 0

    with psycopg.connect(fresh_db) as conn:
        after = conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    assert after == before
    assert capsys.readouterr().out.strip() == "already at 0006"


def test_all_twenty_indexes_exist_after_migrate(fresh_db: str, target: Target) -> None:
    migrate(target)
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute(
            "SELECT c.relname, i.indisvalid, i.indpred IS NOT NULL FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'idx\\_%'"
        ).fetchall()
    found = {name: (valid, partial) for name, valid, partial in rows}
    assert set(found) == set(index_migration_names())
    assert len(found) == 20
    assert set(found) >= NAMED_IN_SUMMARY
    assert all(valid for valid, _ in found.values())
    assert [name for name, (_, partial) in found.items() if partial] == [
        "idx_gallery_items_public_keyset"
    ]


def test_to_0005_drops_exactly_the_index_migration_and_migrate_recreates_it(
    fresh_db: str,
    cli: Cli,
    capsys: Capture,
) -> None:
    assert cli() == 0
    with_indexes = indexes(fresh_db)
    capsys.readouterr()

    assert cli("--to", "0005") == 0
    assert capsys.readouterr().out.strip() == f"reverted {INDEX_MIGRATION}"
    assert with_indexes - indexes(fresh_db) == set(index_migration_names())
    assert indexes(fresh_db) <= with_indexes
    assert [version for version, _, _ in ledger(fresh_db)][-1] == "0005"

    assert cli() == 0
    assert capsys.readouterr().out.strip() == f"applied {INDEX_MIGRATION}"
    assert indexes(fresh_db) == with_indexes


def test_to_0000_leaves_only_the_ledger(fresh_db: str, cli: Cli, capsys: Capture) -> None:
    assert cli() == 0
    capsys.readouterr()

    assert cli("--to", "0000") == 0

    assert tables(fresh_db) == {"schema_migrations"}
    assert ledger(fresh_db) == []
    assert capsys.readouterr().out.splitlines()[-1] == "reverted 0001_create_users.sql"
    assert cli() == 0
    assert tables(fresh_db) == CASE_STUDY_TABLES | {"schema_migrations"}


def test_edited_applied_migration_is_refused_naming_the_file(
    fresh_db: str,
    target: Target,
    migrations_copy: Path,
) -> None:
    migrate(target, to="0005", folder=migrations_copy)
    edited = migrations_copy / "0003_create_projects.sql"
    edited.write_text(edited.read_text() + "\nALTER TABLE projects ADD COLUMN color text;\n")

    with pytest.raises(MigrationError, match=r"0003_create_projects\.sql"):
        migrate(target, folder=migrations_copy)


def test_cli_exits_2_on_an_edited_applied_migration_with_nothing_changed(
    fresh_db: str,
    target: Target,
    migrations_copy: Path,
    cli: Cli,
    capsys: Capture,
) -> None:
    migrate(target, to="0005", folder=migrations_copy)
    before = (ledger(fresh_db), tables(fresh_db), indexes(fresh_db))
    edited = migrations_copy / "0004_create_renders.sql"
    edited.write_text(edited.read_text().replace("-- Renders and", "-- All renders and"))

    assert cli("--migrations", str(migrations_copy)) == 2

    assert "0004_create_renders.sql" in capsys.readouterr().err
    assert (ledger(fresh_db), tables(fresh_db), indexes(fresh_db)) == before  # 0006 not applied


def test_unknown_version_exits_2_and_changes_nothing(
    fresh_db: str,
    cli: Cli,
    capsys: Capture,
) -> None:
    assert cli("--to", "0042") == 2

    err = capsys.readouterr().err
    assert "0042" in err and "0006" in err  # names the bad version and the known ones
    assert tables(fresh_db) == set()  # refused before even the ledger was created


def test_failing_migration_is_rolled_back_and_named(
    fresh_db: str,
    target: Target,
    migrations_copy: Path,
) -> None:
    (migrations_copy / "0007_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nCREATE INDEX idx_nowhere ON no_such_table (id);\n"
    )

    with pytest.raises(MigrationError, match=r"0007_broken\.sql.*no_such_table"):
        migrate(target, folder=migrations_copy)

    assert "half_done" not in tables(fresh_db)
    assert [version for version, _, _ in ledger(fresh_db)] == [
        "0001",
        "0002",
        "0003",
        "0004",
        "0005",
        "0006",
    ]


def test_only_an_all_create_index_migration_is_built_on_several_connections() -> None:
    by_version = {migration.version: migration for migration in discover()}
    builds = by_version["0006"].index_builds()
    assert builds is not None and len(builds) == 20
    assert all(statement.startswith("CREATE INDEX") for statement in builds)
    assert by_version["0004"].index_builds() is None  # tables as well as indexes


_SLOW_INDEXES = """
CREATE TABLE slow_a (id int);
CREATE TABLE slow_b (id int);
INSERT INTO slow_a VALUES (1);
INSERT INTO slow_b VALUES (1);
-- immutable as far as the index is concerned; it sleeps once per row it indexes
CREATE FUNCTION slow_key(value int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(1); RETURN value; END $$;
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_index_builds_share_out_over_jobs_connections(
    fresh_db: str,
    target: Target,
    tmp_path: Path,
    jobs: int,
) -> None:
    """Two index builds that each sleep 1 s: one connection takes 2 s, two take ~1 s."""
    (tmp_path / "0001_tables.sql").write_text(_SLOW_INDEXES)
    (tmp_path / "0002_indexes.sql").write_text(
        "CREATE INDEX idx_slow_a ON slow_a (slow_key(id));\n"
        "CREATE INDEX idx_slow_b ON slow_b (slow_key(id));\n"
    )
    migrate(target, to="0001", folder=tmp_path)

    started = time.perf_counter()
    migrate(target, folder=tmp_path, jobs=jobs)
    seconds = time.perf_counter() - started

    assert {"idx_slow_a", "idx_slow_b"} <= indexes(fresh_db)
    assert [version for version, _, _ in ledger(fresh_db)] == ["0001", "0002"]
    if jobs == 1:
        assert seconds >= 2.0
    else:
        assert seconds < 1.8  # both sleeps at once; sequential would take at least 2 s


def test_a_failing_index_build_on_several_connections_leaves_nothing(
    fresh_db: str,
    target: Target,
    tmp_path: Path,
) -> None:
    (tmp_path / "0001_tables.sql").write_text(_SLOW_INDEXES)
    (tmp_path / "0002_indexes.sql").write_text(
        "CREATE INDEX idx_slow_a ON slow_a (slow_key(id));\n"
        "CREATE INDEX idx_nowhere ON no_such_table (id);\n"
        "CREATE INDEX idx_slow_b ON slow_b (id);\n"
    )
    migrate(target, to="0001", folder=tmp_path)

    started = time.perf_counter()
    with pytest.raises(MigrationError, match=r"0002_indexes\.sql.*no_such_table"):
        migrate(target, folder=tmp_path, jobs=2)

    assert time.perf_counter() - started < 0.9  # the 1 s build was cancelled, not awaited
    assert not {"idx_slow_a", "idx_slow_b"} & indexes(fresh_db)
    assert [version for version, _, _ in ledger(fresh_db)] == ["0001"]


def test_jobs_below_one_is_a_usage_error(target: Target) -> None:
    with pytest.raises(UsageError, match="--jobs"):
        migrate(target, jobs=0)
