"""``dalperf_postgres`` on the team's own server, and a schema that needs a missing extension.

The "team's server" is a real PostgreSQL: the session's embedded server reached by URL as a
password-protected role of its own, exactly as a CI job reaches its service container.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from dalperf.db.embedded import ServerStatus, free_port

pytest_plugins = ["pytester"]

MODELS = """
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
"""

TESTS = """
from sqlalchemy import create_engine, text


def test_first_database(dalperf_postgres):
    assert dalperf_postgres.database.name.startswith("dalperf_")
    engine = dalperf_postgres.create_engine()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO items (name) VALUES ('a')"))
    engine.dispose()


def test_fresh_copy(dalperf_postgres_fresh):
    assert dalperf_postgres_fresh.name.startswith("dalperf_")
    engine = create_engine(dalperf_postgres_fresh.url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM items")).scalar() == 0
    engine.dispose()
"""

EXTENSION_MODELS = (
    MODELS
    + """
from sqlalchemy import DDL, event

event.listen(Base.metadata, "before_create", DDL('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"'))
"""
)


def _databases(server: ServerStatus) -> set[str]:
    with psycopg.connect(server.url("postgres")) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


@pytest.fixture
def team_role(pg_server: ServerStatus) -> Iterator[tuple[str, str, str]]:
    """A login role with a password and CREATEDB on the session's server: (name, password,
    URL of its maintenance database)."""
    name, password = f"team_{secrets.token_hex(3)}", f"pw{secrets.token_hex(6)}"
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
    # the embedded server trusts loopback, so the password is not checked: it is there to
    # prove it is never printed
    url = f"postgresql://{name}:{password}@127.0.0.1:{pg_server.port}/postgres"
    try:
        yield name, password, url
    finally:
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_own_server_gets_throwaway_databases_and_nothing_else(
    pytester: pytest.Pytester, pg_server: ServerStatus, team_role: tuple[str, str, str]
) -> None:
    _, password, url = team_role
    pytester.makepyfile(models=MODELS, test_items=TESTS)
    pytester.syspathinsert()
    before = _databases(pg_server)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--dalperf-metadata",
        "models:Base.metadata",
        "--dalperf-database-url",
        url,
    )
    result.assert_outcomes(passed=2)
    assert _databases(pg_server) == before  # its own databases dropped, no other touched
    assert password not in result.stdout.str() + result.stderr.str()


def test_own_server_from_the_environment(
    pytester: pytest.Pytester,
    pg_server: ServerStatus,
    team_role: tuple[str, str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DALPERF_DATABASE_URL", team_role[2])
    pytester.makepyfile(models=MODELS, test_items=TESTS)
    pytester.syspathinsert()
    before = _databases(pg_server)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dalperf-metadata", "models:Base.metadata"
    )
    result.assert_outcomes(passed=2)
    assert _databases(pg_server) == before


def test_a_role_without_createdb_is_a_usage_error_at_start(
    pytester: pytest.Pytester, pg_server: ServerStatus, team_role: tuple[str, str, str]
) -> None:
    name, password, url = team_role
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} NOCREATEDB").format(sql.Identifier(name)))
    pytester.makepyfile(test_items="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dalperf-database-url", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "may not CREATE DATABASE" in output and "***" in output
    assert password not in output
    assert "passed" not in result.stdout.str()  # no test ran


def test_an_unreachable_server_is_a_usage_error_at_start(pytester: pytest.Pytester) -> None:
    url = f"postgresql://someone:hunter2secret@127.0.0.1:{free_port()}/postgres"
    pytester.makepyfile(test_items="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dalperf-database-url", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "--dalperf-database-url postgresql://someone:***@127.0.0.1" in output
    assert "cannot connect" in output and "hunter2secret" not in output
    assert "Traceback" not in output


def test_a_missing_extension_is_one_line_with_the_ways_out(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        models=EXTENSION_MODELS,
        test_items=TESTS.replace(
            'assert dalperf_postgres.database.name.startswith("dalperf_")', "pass"
        ).replace('assert dalperf_postgres_fresh.name.startswith("dalperf_")', "pass"),
    )
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dalperf-metadata", "models:Base.metadata"
    )
    result.assert_outcomes(errors=2)
    output = result.stdout.str()
    line = next(text for text in output.splitlines() if "'uuid-ossp'" in text)
    assert "the embedded server does not have" in line
    assert "gen_random_uuid()" in line and "pg_trgm" in line  # what it does have
    assert "--dalperf-database-url" in line and "--dalperf-server docker" in line
    assert "Traceback" not in output and "sqlalchemy.exc" not in output


def test_bad_server_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_items="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dalperf-server", "podman")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "expected docker or docker:IMAGE" in result.stderr.str()


def test_docker_server_without_a_docker_engine(pytester: pytest.Pytester) -> None:
    """No Docker engine runs on this machine, so only the refusal can be tested here: the
    fixture's error is one line naming the image and Docker, and no test body runs."""
    pytester.makepyfile(models=MODELS, test_items=TESTS)
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--dalperf-metadata",
        "models:Base.metadata",
        "--dalperf-server",
        "docker:postgres:16",
    )
    result.assert_outcomes(errors=2)
    output = result.stdout.str()
    assert "--dalperf-server docker:postgres:16: cannot start the container" in output
    assert "Traceback" not in output
