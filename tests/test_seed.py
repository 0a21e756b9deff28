"""The case-study data: deterministic, shaped the way the scenarios need, every foreign key
satisfied, and ``dalperf seed`` refusing, resetting and validating its input as promised.

Everything about the database runs against the session's real embedded PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql

from dalperf.cli import main
from dalperf.db.embedded import EmbeddedServer, ServerStatus
from dalperf.db.migrations import discover
from dalperf.db.targets import data_dir
from dalperf.seed.generate import DATASET_NOW, Sizes, generate
from dalperf.seed.loader import ANALYZE_STEP, GENERATE_STEP, INDEX_STEP, current_seed, seed_database
from dalperf.seed.schema import TABLES, metadata
from tests.conftest import (
    SEEDED_SCALE,
    SEEDED_SEED,
    create_database,
    drop_database,
    table_checksums,
    target_for,
)

EXPECTED = Sizes.for_scale(SEEDED_SCALE)


@contextmanager
def scratch_database(server: ServerStatus, label: str, *, owned: bool = True) -> Iterator[str]:
    name = f"seed_{label}_{os.getpid()}"
    url = create_database(server, name, owned=owned)
    try:
        yield url
    finally:
        drop_database(server, name)


def scalar(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]  # type: ignore[index]


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            t.name: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t.name))
            ).fetchone()[0]
            for t in TABLES
        }  # type: ignore[index]


def applied_migrations(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        ]


# --- determinism -------------------------------------------------------------------------


def test_same_seed_gives_identical_tables_and_another_seed_differs(
    pg_server: ServerStatus, seeded_db: str
) -> None:
    with scratch_database(pg_server, "same") as same, scratch_database(pg_server, "other") as other:
        seed_database(target_for(same), scale=SEEDED_SCALE, seed=SEEDED_SEED)
        seed_database(target_for(other), scale=SEEDED_SCALE, seed=SEEDED_SEED + 1)
        reference = table_checksums(seeded_db)
        assert table_checksums(same) == reference
        different = table_checksums(other)
    assert all(reference[name] is not None for name in reference)
    for name in reference:
        if name == "subscription_plans":  # fixed, whatever the seed
            assert different[name] == reference[name]
        else:
            assert different[name] != reference[name], name


def test_generator_is_deterministic_in_memory() -> None:
    first, second = generate(scale=0.02, seed=7), generate(scale=0.02, seed=7)
    assert list(first.tables) == [t.name for t in TABLES]
    for name, columns in first.tables.items():
        assert list(columns) == [c.name for c in metadata.tables[name].columns]
        for column, values in columns.items():
            assert values.tolist() == second.tables[name][column].tolist(), (name, column)


@pytest.mark.parametrize("seed", range(12))
def test_scenario_guarantees_hold_for_any_seed_at_the_smallest_scale(seed: int) -> None:
    data = generate(scale=SEEDED_SCALE, seed=seed).tables
    chains = np.bincount(data["renders"]["chain_id"].compressed())
    assert (chains == 50).sum() >= 3
    assert np.bincount(data["projects"]["user_id"]).max() >= 20
    public = data["gallery_items"]["is_public"].sum()
    assert public >= 1000
    subscribed = set(data["user_subscriptions"]["user_id"].tolist())
    assert len(subscribed) < EXPECTED.users
    assert (data["user_subscriptions"]["status"] == "active").any()


@pytest.mark.parametrize("scale", [0.0005, 0.003, 0.011])
def test_tiny_scales_still_generate_consistent_data(scale: float) -> None:
    data = generate(scale=scale, seed=3)
    counts = data.row_counts()
    assert counts["users"] >= 1 and counts["projects"] >= 1 and counts["renders"] >= 1
    renders = data.tables["renders"]
    assert renders["project_id"].max() <= counts["projects"]
    assert renders["chain_id"].compressed().max(initial=0) <= counts["render_chains"]
    assert counts["gallery_items"] <= (renders["status"] == "completed").sum()


# --- shape of the seeded database --------------------------------------------------------


def test_row_counts_match_the_scale(seeded_db: str) -> None:
    counts = row_counts(seeded_db)
    assert counts["users"] == EXPECTED.users == 50
    assert counts["projects"] == EXPECTED.projects == 250
    assert counts["renders"] == EXPECTED.renders == 5000
    assert counts["user_credits"] == counts["users"]
    assert counts["subscription_plans"] == 4
    assert current_seed(target_for(seeded_db)) == (SEEDED_SCALE, SEEDED_SEED)
    assert applied_migrations(seeded_db) == [m.version for m in discover()]


def test_chains_have_many_lengths_including_several_of_exactly_50(seeded_db: str) -> None:
    with psycopg.connect(seeded_db) as conn:
        lengths = [
            n
            for (n,) in conn.execute(
                "SELECT count(*) FROM renders WHERE chain_id IS NOT NULL GROUP BY chain_id"
            )
        ]
        broken = conn.execute("""
            SELECT count(*) FROM (
                SELECT chain_id FROM renders WHERE chain_id IS NOT NULL GROUP BY chain_id
                HAVING min(chain_position) <> 1 OR max(chain_position) <> count(*)
                    OR count(DISTINCT chain_position) <> count(*)) AS c""").fetchone()[0]
        empty_chains = conn.execute("""
            SELECT count(*) FROM render_chains c
            WHERE NOT EXISTS (SELECT FROM renders r WHERE r.chain_id = c.id)""").fetchone()[0]
        foreign_chain = conn.execute("""
            SELECT count(*) FROM renders r JOIN render_chains c ON c.id = r.chain_id
            WHERE r.project_id <> c.project_id OR r.user_id <> c.user_id""").fetchone()[0]
    assert lengths.count(50) >= 3
    assert min(lengths) == 1 and max(lengths) > 60
    assert len(set(lengths)) >= 20
    assert broken == 0 and empty_chains == 0 and foreign_chain == 0


def test_parent_and_reference_links_point_back_in_time(seeded_db: str) -> None:
    with psycopg.connect(seeded_db) as conn:
        previous_share = conn.execute("""
            SELECT avg((p.chain_id = r.chain_id AND p.chain_position = r.chain_position - 1)::int)
            FROM renders r JOIN renders p ON p.id = r.parent_render_id
            WHERE r.chain_position > 1""").fetchone()[0]
        forward = conn.execute("""
            SELECT count(*) FROM renders r
            WHERE r.parent_render_id >= r.id OR r.reference_render_id >= r.id""").fetchone()[0]
        foreign_parent = conn.execute("""
            SELECT count(*) FROM renders r JOIN renders p ON p.id = r.parent_render_id
            WHERE p.project_id <> r.project_id""").fetchone()[0]
        references = conn.execute(
            "SELECT count(*) FROM renders WHERE reference_render_id IS NOT NULL"
        ).fetchone()[0]
    assert previous_share >= 0.8
    assert forward == 0 and foreign_parent == 0
    assert references > 0.1 * EXPECTED.renders


def test_power_users_own_most_projects_and_renders(seeded_db: str) -> None:
    with psycopg.connect(seeded_db) as conn:
        top = conn.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM projects GROUP BY user_id) AS p"
        ).fetchone()[0]
        power_ids = max(1, round(0.02 * EXPECTED.users))
        project_share, render_share = conn.execute(
            "SELECT (SELECT avg((user_id <= %(k)s)::int) FROM projects), "
            "(SELECT avg((user_id <= %(k)s)::int) FROM renders)",
            {"k": power_ids},
        ).fetchone()
        busy_projects = conn.execute(
            "SELECT count(*) FROM (SELECT project_id FROM renders "
            "GROUP BY project_id HAVING count(*) >= 5) AS p"
        ).fetchone()[0]
    assert top >= 20
    assert project_share > 0.5 and render_share > 0.5
    assert busy_projects >= 10


def test_render_statuses_carry_their_outputs(seeded_db: str) -> None:
    with psycopg.connect(seeded_db) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM renders GROUP BY status"))
        wrong = conn.execute("""
            SELECT count(*) FROM renders WHERE
                (status = 'completed') <> (output_url IS NOT NULL)
                OR (status = 'failed') <> (error_message IS NOT NULL)""").fetchone()[0]
        not_objects = conn.execute(
            "SELECT count(*) FROM renders "
            "WHERE jsonb_typeof(settings) <> 'object' "
            "OR NOT settings ? 'model'"
        ).fetchone()[0]
    assert set(statuses) == {"pending", "processing", "completed", "failed"}
    assert wrong == 0 and not_objects == 0


def test_billing_has_every_kind_of_subscriber(seeded_db: str) -> None:
    with psycopg.connect(seeded_db) as conn:
        active, without, history, double_active = conn.execute("""
            SELECT
              (SELECT count(DISTINCT user_id) FROM user_subscriptions WHERE status = 'active'),
              (SELECT count(*) FROM users u
               WHERE NOT EXISTS (SELECT FROM user_subscriptions s WHERE s.user_id = u.id)),
              (SELECT count(*) FROM (SELECT user_id FROM user_subscriptions GROUP BY user_id
                  HAVING bool_or(status = 'canceled') AND bool_or(status = 'active')) AS h),
              (SELECT count(*) FROM (SELECT user_id FROM user_subscriptions WHERE status = 'active'
                  GROUP BY user_id HAVING count(*) > 1) AS d)""").fetchone()
        statuses = {s for (s,) in conn.execute("SELECT DISTINCT status FROM user_subscriptions")}
        overdue, never, due_later = conn.execute(
            """
            SELECT count(*) FILTER (WHERE next_reset_at < %(now)s),
                   count(*) FILTER (WHERE next_reset_at IS NULL),
                   count(*) FILTER (WHERE next_reset_at >= %(now)s)
            FROM user_credits""",
            {"now": DATASET_NOW.item()},
        ).fetchone()
        bad_periods = conn.execute(
            "SELECT count(*) FROM user_subscriptions "
            "WHERE current_period_end <= current_period_start"
        ).fetchone()[0]
    assert active > 0 and without > 0 and history > 0 and double_active == 0
    assert statuses == {"active", "canceled", "past_due"}
    assert overdue > 0 and never > 0 and due_later > 0
    assert bad_periods == 0


def test_public_gallery_is_deep_enough_and_has_created_at_ties(seeded_db: str) -> None:
    with psycopg.connect(seeded_db) as conn:
        public, private = conn.execute(
            "SELECT count(*) FILTER (WHERE is_public), "
            "count(*) FILTER (WHERE NOT is_public) "
            "FROM gallery_items"
        ).fetchone()
        tied = conn.execute("""SELECT count(*) FROM (SELECT created_at FROM gallery_items
                               WHERE is_public GROUP BY created_at HAVING count(*) > 1) AS t
                            """).fetchone()[0]
        page_50 = conn.execute(
            "SELECT count(*) FROM (SELECT id FROM gallery_items WHERE is_public "
            "ORDER BY created_at DESC, id DESC OFFSET 980 LIMIT 20) AS p"
        ).fetchone()[0]
        inconsistent = conn.execute("""
            SELECT count(*) FROM gallery_items g JOIN renders r ON r.id = g.render_id
            WHERE r.status <> 'completed' OR r.user_id <> g.user_id
               OR g.created_at < r.created_at""").fetchone()[0]
        liked = conn.execute("SELECT count(*) FROM gallery_items WHERE likes > 0").fetchone()[0]
    assert public >= 1000 and private > 0
    assert page_50 == 20
    assert tied >= 5
    assert inconsistent == 0 and liked > 0


def test_timestamps_are_fixed_and_ordered(seeded_db: str) -> None:
    checks = []
    with psycopg.connect(seeded_db) as conn:
        for table in TABLES:
            for column in ("created_at", "updated_at"):
                if column in table.c:
                    checks.append(
                        conn.execute(
                            sql.SQL("SELECT count(*) FROM {} WHERE {} > %s").format(
                                sql.Identifier(table.name), sql.Identifier(column)
                            ),
                            (DATASET_NOW.item(),),
                        ).fetchone()[0]
                    )
            if "updated_at" in table.c and "created_at" in table.c:
                checks.append(
                    conn.execute(
                        sql.SQL("SELECT count(*) FROM {} WHERE updated_at < created_at").format(
                            sql.Identifier(table.name)
                        )
                    ).fetchone()[0]
                )
    assert len(checks) > 10 and set(checks) == {0}


def test_identity_sequences_continue_after_the_data(seeded_db: str) -> None:
    with psycopg.connect(seeded_db) as conn:
        for table in TABLES:
            if "id" not in table.c:
                continue
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.name))
            ).fetchone()[0]
            sequence = conn.execute(
                "SELECT pg_get_serial_sequence(%s, 'id')", (table.name,)
            ).fetchone()[0]
            last_value, is_called = conn.execute(
                sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(sequence))
            ).fetchone()
            assert (last_value, is_called) == (count + 1, False), table.name


# --- foreign keys ------------------------------------------------------------------------


def test_every_foreign_key_is_satisfied(seeded_db: str) -> None:
    checked = 0
    with psycopg.connect(seeded_db) as conn:
        for table in TABLES:
            for fk in table.foreign_keys:
                orphans = conn.execute(
                    sql.SQL(
                        "SELECT count(*) FROM {child} AS c WHERE c.{col} IS NOT NULL AND NOT EXISTS "
                        "(SELECT FROM {parent} AS p WHERE p.{ref} = c.{col})"
                    ).format(
                        child=sql.Identifier(table.name),
                        col=sql.Identifier(fk.parent.name),
                        parent=sql.Identifier(fk.column.table.name),
                        ref=sql.Identifier(fk.column.name),
                    )
                ).fetchone()[0]
                assert orphans == 0, f"{table.name}.{fk.parent.name}"
                checked += 1
    assert checked == 13


def test_postgres_checks_every_foreign_key_when_not_superuser(
    pg_server: ServerStatus, seeded_db: str
) -> None:
    role = f"seeder_{os.getpid()}"
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(sql.Identifier(role)))
    try:
        with scratch_database(pg_server, "plain") as url:
            with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
                admin.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(url.rsplit("/", 1)[1]), sql.Identifier(role)
                    )
                )
            as_role = url.replace("postgres@", f"{role}@", 1)
            steps: list[tuple[str, int, int]] = []
            report = seed_database(
                target_for(as_role),
                scale=SEEDED_SCALE,
                seed=SEEDED_SEED,
                progress=lambda *event: steps.append(event),
            )
            assert scalar(as_role, "SELECT current_setting('is_superuser')") == "off"
            assert table_checksums(as_role) == table_checksums(seeded_db)
            finished = {step for step, done, total in steps if done == total}
            assert finished == {t.name for t in TABLES} | {GENERATE_STEP, INDEX_STEP, ANALYZE_STEP}
            assert [s for s, _, _ in steps if s in (GENERATE_STEP, INDEX_STEP, ANALYZE_STEP)] == [
                GENERATE_STEP
            ] * 2 + [INDEX_STEP] * 2 + [ANALYZE_STEP] * 2
            assert report.row_counts == row_counts(as_role)
            assert report.rows_per_second > 0
    finally:
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# --- the command line --------------------------------------------------------------------


def test_seed_command_loads_refuses_a_populated_database_and_resets(
    pg_server: ServerStatus, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with scratch_database(pg_server, "cli") as url:
        assert main(["seed", "--scale", str(SEEDED_SCALE), "--database-url", url]) == 0
        out = capsys.readouterr().out
        assert "rows/s" in out and f"{EXPECTED.renders:,}" in out
        assert current_seed(target_for(url)) == (SEEDED_SCALE, 0)
        before, migrations = table_checksums(url), applied_migrations(url)

        assert main(["seed", "--scale", "0.1", "--database-url", url]) == 2
        err = capsys.readouterr().err
        assert "already holds data" in err and "--reset" in err
        assert table_checksums(url) == before and applied_migrations(url) == migrations

        assert (
            main(
                [
                    "seed",
                    "--scale",
                    str(SEEDED_SCALE),
                    "--seed",
                    "5",
                    "--reset",
                    "--database-url",
                    url,
                ]
            )
            == 0
        )
        assert current_seed(target_for(url)) == (SEEDED_SCALE, 5)
        after = table_checksums(url)
        assert after["renders"] != before["renders"]
        assert row_counts(url)["renders"] == EXPECTED.renders
        assert applied_migrations(url) == migrations

        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM gallery_items WHERE id = 1")
        assert current_seed(target_for(url)) is None  # the data no longer is what was seeded


@pytest.mark.parametrize(
    "args",
    [
        ["--scale", "-1"],
        ["--scale", "0"],
        ["--scale", "abc"],
        ["--scale", "nan"],
        ["--scale", "inf"],
        ["--seed", "-1"],
    ],
    ids=" ".join,
)
def test_bad_parameters_exit_2_and_touch_nothing(
    args: list[str], fresh_db: str, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed", *args, "--database-url", fresh_db]) == 2
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err
    assert scalar(fresh_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0


def test_a_database_dalperf_did_not_create_is_refused(
    pg_server: ServerStatus, dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with scratch_database(pg_server, "foreign", owned=False) as url:
        assert main(["seed", "--scale", str(SEEDED_SCALE), "--database-url", url]) == 2
        assert "--disposable" in capsys.readouterr().err
        assert scalar(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        assert current_seed(target_for(url)) is None


def test_seed_starts_the_embedded_server_and_stops_it_afterwards(
    dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed", "--scale", "0.01"]) == 0
    assert EmbeddedServer(data_dir(dalperf_home)).status() is None
    assert "1,000" in capsys.readouterr().out  # renders at scale 0.01
    assert main(["seed", "--scale", "0.01"]) == 2  # the data was kept in --home
    assert "already holds data" in capsys.readouterr().err
    assert EmbeddedServer(data_dir(dalperf_home)).status() is None
