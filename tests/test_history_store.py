"""``dalperf history add|import|list|show|prune``: a real SQLite file and a real PostgreSQL
database as the store, results files written by the record classes, bad input refused."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dalperf.cli import main
from dalperf.db.embedded import ServerStatus
from dalperf.history import ingest
from dalperf.history.model import Commit, SeriesKey
from dalperf.history.store import Store, locate
from dalperf.version import installed_version
from tests.history_files import (
    audit_results,
    load_json,
    measurement,
    plugin_json,
    write,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store: a SQLite file, or a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "store" / "history.sqlite")
    return str(request.getfixturevalue("fresh_db"))


def git(repo: Path, *args: str, when: datetime | None = None) -> str:
    """``git args`` in ``repo``; ``when`` is the author and committer time of a commit."""
    dates = (
        {"GIT_AUTHOR_DATE": when.isoformat(), "GIT_COMMITTER_DATE": when.isoformat()}
        if when
        else {}
    )
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **dates},
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository of three commits on ``main``, the current folder."""
    root = tmp_path / "app"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for number in range(3):
        git(
            root,
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            f"change {number}",
            when=T0 + timedelta(days=number),
        )
    monkeypatch.chdir(root)
    monkeypatch.delenv("DALPERF_HISTORY_URL", raising=False)
    return root


def run_cli(*args: str) -> int:
    return main(["history", *args])


def results_file(
    folder: Path, name: str = "results.json", *, queries: int = 1, **environment: object
) -> Path:
    return write(
        folder / name,
        audit_results(
            [
                measurement("renders.get_by_ids/naive", queries=21),
                measurement("renders.get_by_ids/optimized", queries=queries),
            ],
            **environment,
        ),
    )


def test_add_defaults_from_git_and_the_same_file_twice_adds_nothing(
    repo: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = results_file(repo)
    assert run_cli("add", str(path), "--history", store_url) == 0
    out = capsys.readouterr().out
    head = git(repo, "rev-parse", "HEAD")
    assert f"added results.json: 2 point(s) of audit series default, {head[:10]} on main" in out
    assert run_cli("add", str(path), "--history", store_url) == 0
    assert "already in" in capsys.readouterr().out
    # re-indented, it is still the same results
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))
    assert run_cli("add", str(path), "--history", store_url) == 0
    assert "nothing added" in capsys.readouterr().out
    with Store.open(store_url) as store:
        points = store.points()
        assert len(store.results()) == 1
    assert [p.key for p in points] == [
        SeriesKey("audit", "renders.get_by_ids/naive"),
        SeriesKey("audit", "renders.get_by_ids/optimized"),
    ]
    point = points[0]
    assert point.commit == Commit(
        sha=head, subject="change 2", time=T0 + timedelta(days=2), branch="main"
    )
    assert (
        point.queries,
        point.round_trips,
        point.network_round_trips,
        point.buffers,
        point.rows_fetched,
    ) == (21, 1, 3, 40, 20)
    assert point.samples_ms == (1.0, 1.1, 0.9, 1.0) and point.p95_ms == 1.1
    assert point.plan_shapes == ("Index Scan using renders_pkey on renders",)


def test_explicit_commit_branch_time_and_every_kind_of_file(
    tmp_path: Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository
    plugin = write(tmp_path / "suite.json", plugin_json({"tests/test_a.py::test_one": 3}))
    load = write(tmp_path / "load.json", load_json([float(v) for v in range(1, 101)]))
    audit = results_file(tmp_path)
    for number, path in enumerate((audit, plugin, load)):
        assert (
            run_cli(
                "add",
                str(path),
                "--history",
                store_url,
                "--commit",
                f"abcd{number}",
                "--branch",
                "main",
                "--time",
                f"2026-02-0{number + 1}T10:00:00Z",
                "--subject",
                f"commit {number}",
            )
            == 0
        )
    # no git, no --time: the results' started_at
    assert (
        run_cli(
            "add",
            str(results_file(tmp_path, "b.json", queries=2, seed=0)),
            "--history",
            store_url,
            "--commit",
            "abcd9",
            "--branch",
            "dev",
        )
        == 0
    )
    capsys.readouterr()
    with Store.open(store_url) as store:
        kinds = {p.key.kind: p for p in store.points()}
        dev = store.points(branch="dev")
        assert [
            p.key for p in store.points(keys=[SeriesKey("plugin", "tests/test_a.py::test_one")])
        ] == [SeriesKey("plugin", "tests/test_a.py::test_one")]
    assert set(kinds) == {"audit", "plugin", "load"}
    assert kinds["plugin"].queries == 3 and kinds["plugin"].p95_ms is None
    assert kinds["plugin"].commit.time == datetime(2026, 2, 2, 10, tzinfo=UTC)
    variant = next(iter(store.points(keys=[SeriesKey("load", "optimized")])))
    assert variant.queries == 2 and len(variant.samples_ms) == 100
    # 100 samples bound p95 with order statistics: the 90th and the 100th smallest
    assert (variant.p95_low_ms, variant.p95_high_ms) == (90.0, 100.0)
    assert next((p.commit.sha, p.commit.time) for p in dev) == (
        "abcd9",
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_list_show_and_prune(
    repo: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shas = git(repo, "rev-list", "--reverse", "HEAD").split()
    for number, sha in enumerate(shas):
        path = results_file(repo, f"r{number}.json", queries=1 + number)
        assert run_cli("add", str(path), "--history", store_url, "--commit", sha) == 0
    feature = results_file(repo, "feature.json", queries=9)
    assert run_cli("add", str(feature), "--history", store_url, "--branch", "feature") == 0
    capsys.readouterr()
    assert run_cli("list", "--history", store_url) == 0
    out = capsys.readouterr().out
    assert "4 result(s)" in out and all(sha[:10] in out for sha in shas)
    assert "feature.json" in out and "change 0" in out
    assert run_cli("list", "--history", store_url, "--branch", "feature") == 0
    assert "1 result(s)" in capsys.readouterr().out
    assert run_cli("show", shas[1][:7], "--history", store_url) == 0
    out = capsys.readouterr().out
    assert "renders.get_by_ids/optimized" in out and "r1.json" in out and "change 1" in out
    assert run_cli("show", "#1", "--history", store_url) == 0
    assert "r0.json" in capsys.readouterr().out
    assert run_cli("show", "HEAD~2", "--history", store_url) == 0
    assert "r0.json" in capsys.readouterr().out
    assert run_cli("show", "ffffff", "--history", store_url) == 2
    assert "no result" in capsys.readouterr().err

    assert run_cli("prune", "--history", store_url) == 2  # no criterion
    assert run_cli("prune", "--keep", "1", "--dry-run", "--history", store_url) == 0
    assert "would delete 2 result(s)" in capsys.readouterr().out
    assert run_cli("prune", "--branch", "feature", "--history", store_url) == 0
    assert run_cli("prune", "--before", "2026-01-02T12:00:00Z", "--history", store_url) == 0
    capsys.readouterr()
    with Store.open(store_url) as store:
        left = store.results()
        assert [r.commit.sha for r in left] == shas[2:]
        assert {p.queries for p in store.points()} == {21, 3}  # no orphan points


def test_import_a_folder_in_commit_order_then_again_adds_nothing(
    repo: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shas = git(repo, "rev-list", "--reverse", "HEAD").split()
    folder = repo / "past"
    for number, sha in enumerate(reversed(shas)):
        results_file(folder, f"results-{sha}.json", queries=10 - number)
    assert run_cli("import", str(folder), "--history", store_url) == 0
    assert "imported 3 of 3 file(s)" in capsys.readouterr().out
    assert run_cli("import", str(folder), "--history", store_url) == 0
    assert "imported 0 of 3 file(s)" in capsys.readouterr().out
    with Store.open(store_url) as store:
        assert [r.commit.sha for r in store.results()] == shas
    (folder / "notes.json").write_text("{}")
    assert run_cli("import", str(folder), "--history", store_url) == 2
    err = capsys.readouterr().err
    assert "notes.json" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"scale": 10.0}, "scale 10.0 (file) vs 1.0 (series)"),
        ({"seed": 7}, "seed 7 (file) vs 0 (series)"),
        ({"schema": "other"}, "schema other (file) vs None (series)"),
    ],
)
def test_another_scale_seed_or_schema_is_refused_unless_in_its_own_series(
    repo: Path,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, object],
    reason: str,
) -> None:
    assert run_cli("add", str(results_file(repo)), "--history", store_url) == 0
    other = results_file(repo, "other.json", **change)
    capsys.readouterr()
    assert run_cli("add", str(other), "--history", store_url) == 2
    err = capsys.readouterr().err
    assert reason in err and "--series NAME" in err and len(err.strip().splitlines()) == 1
    with Store.open(store_url) as store:
        assert len(store.results()) == 1
    assert run_cli("add", str(other), "--history", store_url, "--series", "big") == 0
    with Store.open(store_url) as store:
        assert [r.series for r in store.results()] == ["default", "big"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not valid JSON"),
        (
            '{"schema_version": 2, "environment": {}, "operations": []}',
            "schema_version 2 is not supported",
        ),
        (
            '{"schema_version": 1, "kind": "dalperf-compare", "pairs": []}',
            "a dalperf-compare file, not results",
        ),
        ('{"version": 1, "tests": [{"test": "t", "queries": -1}]}', "tests[0].queries is -1"),
        ('{"version": 3, "tests": []}', "plugin JSON version 3 is not supported"),
    ],
)
def test_malformed_files_are_one_line_and_exit_2(
    repo: Path, store_url: str, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = repo / "bad.json"
    path.write_text(content)
    assert run_cli("add", str(path), "--history", store_url) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_partial_results_are_refused(
    repo: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / "partial.json"
    data = audit_results([measurement("a.b/naive")]).to_dict()
    data["partial"] = "the database went away"
    path.write_text(json.dumps(data))
    assert run_cli("add", str(path), "--history", store_url) == 2
    assert "a partial record is not added" in capsys.readouterr().err


def test_a_detached_head_needs_a_branch(
    repo: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert run_cli("add", str(results_file(repo)), "--history", store_url) == 2
    assert "give --branch" in capsys.readouterr().err
    assert run_cli("add", str(results_file(repo)), "--history", store_url, "--branch", "main") == 0


def test_a_store_from_a_newer_dalperf_is_refused_naming_both_versions(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(store_url) as store:
        url = store.location.url
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO schema_version (version, dalperf, applied_at) "
                "VALUES (7, '9.1.0', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    assert run_cli("list", "--history", store_url) == 2
    err = capsys.readouterr().err
    assert "schema version 7 (written by dalperf 9.1.0)" in err
    assert f"this dalperf ({installed_version()}) reads versions up to 1" in err
    assert len(err.strip().splitlines()) == 1


def test_a_database_of_other_tables_is_not_taken_for_a_store(
    fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE results (id int)")
    assert run_cli("list", "--history", fresh_db) == 2
    assert "is not a dalperf history store" in capsys.readouterr().err


def test_default_location_is_the_dalperf_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dalperf_home: Path
) -> None:
    monkeypatch.delenv("DALPERF_HISTORY_URL", raising=False)
    assert locate().display == str((dalperf_home / "history.sqlite").resolve())
    monkeypatch.setenv("DALPERF_HISTORY_URL", str(tmp_path / "elsewhere.sqlite"))
    assert locate().display == str(tmp_path / "elsewhere.sqlite")
    assert locate(f"sqlite:///{tmp_path}/given.sqlite").display == str(tmp_path / "given.sqlite")


PASSWORD = "s3cr3t-Pa55"


@pytest.fixture
def password_url(pg_server: ServerStatus, fresh_db: str) -> Iterator[str]:
    """``fresh_db`` reached as a role with a password."""
    role = f"hist_{abs(hash(fresh_db)) % 10**8}"
    database = fresh_db.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f'ALTER DATABASE "{database}" OWNER TO {role}')
    host, port = pg_server.url("postgres").split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)
    try:
        yield f"postgresql://{role}:{PASSWORD}@{host}:{port}/{database}"
    finally:
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_password_in_the_history_url_is_masked_everywhere(
    repo: Path,
    password_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = results_file(repo)
    outputs = []
    assert run_cli("add", str(path), "--history", password_url) == 0
    monkeypatch.setenv("DALPERF_HISTORY_URL", password_url)
    for args in (
        ("add", str(path)),
        ("list",),
        ("show", "#1"),
        ("check", str(path)),
        ("prune", "--keep", "5"),
    ):
        assert run_cli(*args) == 0, args
    outputs.append(capsys.readouterr())
    parsed = make_url(password_url)
    unreachable = parsed.set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    assert run_cli("list", "--history", unreachable) == 3
    outputs.append(capsys.readouterr())
    other_scheme = parsed.set(drivername="mysql").render_as_string(hide_password=False)
    assert run_cli("list", "--history", other_scheme) == 2
    outputs.append(capsys.readouterr())
    text_seen = "".join(o.out + o.err for o in outputs)
    assert PASSWORD not in text_seen
    assert ":***@" in text_seen and "history store" in outputs[1].err


def test_ingest_names_other_index_states_and_rtts_apart() -> None:
    results = audit_results(
        [
            measurement("a.b/fast"),
            measurement("a.b/fast", indexes=False),
            measurement("a.b/fast", rtt_ms=5.0),
        ]
    )
    names = [f.name for f in ingest.from_document(results.to_dict(), source="r").figures]
    assert names == ["a.b/fast", "a.b/fast [indexes off]", "a.b/fast [rtt 5 ms]"]
