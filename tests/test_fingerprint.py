"""Fingerprints: which statements must share a shape and which must not."""

from __future__ import annotations

import pytest

from dalperf.capture.fingerprint import UNPARSED_PREFIX, fingerprint, shape, to_dollar_params
from dalperf.capture.records import HiddenKind

SAME_SHAPE = [
    ("literal values", "SELECT * FROM users WHERE id = 1", "SELECT * FROM users WHERE id = 42"),
    (
        "literal vs parameter",
        "SELECT * FROM users WHERE id = 7",
        "SELECT * FROM users WHERE id = $1",
    ),
    (
        "psycopg named vs numbered",
        "SELECT * FROM users WHERE id = %(id_1)s",
        "SELECT * FROM users WHERE id = $1",
    ),
    (
        "psycopg positional",
        "SELECT * FROM users WHERE id = %s AND name = %s",
        "SELECT * FROM users WHERE id = $1 AND name = $2",
    ),
    (
        "string literals",
        "SELECT id FROM users WHERE email = 'a@example.com'",
        "SELECT id FROM users WHERE email = 'someone.else@example.org'",
    ),
    (
        "IN-list lengths",
        "SELECT * FROM renders WHERE id IN (1, 2)",
        "SELECT * FROM renders WHERE id IN (1, 2, 3, 4, 5, 6, 7)",
    ),
    (
        "IN-list of parameters",
        "SELECT * FROM renders WHERE id IN (%(id_1_1)s)",
        "SELECT * FROM renders WHERE id IN (%(id_1_1)s, %(id_1_2)s, %(id_1_3)s)",
    ),
    (
        "IN-list of cast parameters, as SQLAlchemy 2.1 renders it",
        "SELECT id FROM items WHERE name IN (%(name_1_1)s::VARCHAR)",
        "SELECT id FROM items WHERE name IN (%(name_1_1)s::VARCHAR, %(name_1_2)s::VARCHAR)",
    ),
    (
        "cast parameter vs plain parameter",
        "SELECT * FROM users WHERE id = %(id)s::INTEGER",
        "SELECT * FROM users WHERE id = $1",
    ),
    (
        "= ANY(ARRAY[...]) lengths",
        "SELECT * FROM renders WHERE id = ANY(ARRAY[1, 2])",
        "SELECT * FROM renders WHERE id = ANY(ARRAY[1, 2, 3, 4])",
    ),
    (
        "= ANY(array parameter) with cast",
        "SELECT * FROM renders WHERE id = ANY($1)",
        "SELECT * FROM renders WHERE id = ANY($1::int[])",
    ),
    (
        "whitespace and case",
        "select id\n  from   users\twhere id = 1",
        "SELECT id FROM users WHERE id = 1",
    ),
    (
        "comments",
        "SELECT id /* dal: profile */ FROM users -- trailing\nWHERE id = 1",
        "SELECT id FROM users WHERE id = 1",
    ),
    (
        "LIMIT/OFFSET values",
        "SELECT * FROM gallery_items ORDER BY created_at LIMIT 20 OFFSET 40",
        "SELECT * FROM gallery_items ORDER BY created_at LIMIT 50 OFFSET 0",
    ),
    (
        "multi-row VALUES",
        "INSERT INTO renders (id, status) VALUES (1, 'a'), (2, 'b')",
        "INSERT INTO renders (id, status) VALUES (3, 'c')",
    ),
    ("savepoint names", "SAVEPOINT sa_savepoint_1", "SAVEPOINT sa_savepoint_17"),
    (
        "UPDATE values",
        "UPDATE renders SET status = 'failed' WHERE id = 3",
        "UPDATE renders SET status = %(status)s WHERE id = %(id_1)s",
    ),
]

DIFFERENT_SHAPE = [
    ("other table", "SELECT * FROM users WHERE id = 1", "SELECT * FROM projects WHERE id = 1"),
    ("other column", "SELECT * FROM users WHERE id = 1", "SELECT * FROM users WHERE email = 1"),
    (
        "other selected columns",
        "SELECT id FROM users WHERE id = $1",
        "SELECT id, email FROM users WHERE id = $1",
    ),
    ("other operator", "SELECT * FROM renders WHERE id = 1", "SELECT * FROM renders WHERE id > 1"),
    (
        "IN list vs ANY",
        "SELECT * FROM renders WHERE id IN (1, 2)",
        "SELECT * FROM renders WHERE id = ANY(ARRAY[1, 2])",
    ),
    (
        "extra predicate",
        "SELECT * FROM renders WHERE project_id = $1",
        "SELECT * FROM renders WHERE project_id = $1 AND status = $2",
    ),
    (
        "ORDER BY direction",
        "SELECT * FROM renders ORDER BY created_at",
        "SELECT * FROM renders ORDER BY created_at DESC",
    ),
    ("LIMIT present", "SELECT * FROM renders", "SELECT * FROM renders LIMIT 10"),
    (
        "JOIN type",
        "SELECT * FROM users u JOIN user_credits c ON c.user_id = u.id",
        "SELECT * FROM users u LEFT JOIN user_credits c ON c.user_id = u.id",
    ),
    (
        "GROUP BY",
        "SELECT project_id, count(*) FROM renders GROUP BY project_id",
        "SELECT project_id, count(*) FROM renders",
    ),
    (
        "statement kind",
        "DELETE FROM renders WHERE id = 1",
        "UPDATE renders SET status = 'x' WHERE id = 1",
    ),
    (
        "RETURNING",
        "UPDATE renders SET status = $1 WHERE id = $2",
        "UPDATE renders SET status = $1 WHERE id = $2 RETURNING id",
    ),
    ("commit vs rollback", "COMMIT", "ROLLBACK"),
    ("rollback vs rollback to savepoint", "ROLLBACK", "ROLLBACK TO SAVEPOINT sa_savepoint_1"),
    ("function called", "SELECT max(id) FROM renders", "SELECT min(id) FROM renders"),
]


@pytest.mark.parametrize(("case", "left", "right"), SAME_SHAPE, ids=[c[0] for c in SAME_SHAPE])
def test_same_shape_collides(case: str, left: str, right: str) -> None:
    assert fingerprint(left) == fingerprint(right)


@pytest.mark.parametrize(
    ("case", "left", "right"), DIFFERENT_SHAPE, ids=[c[0] for c in DIFFERENT_SHAPE]
)
def test_different_shape_does_not_collide(case: str, left: str, right: str) -> None:
    assert fingerprint(left) != fingerprint(right)


def test_psycopg_placeholders_become_numbered_parameters() -> None:
    assert to_dollar_params("SELECT %(a)s, %(b)s, %(a)s") == "SELECT $1, $2, $1"
    assert to_dollar_params("SELECT %s, %b, %t") == "SELECT $1, $2, $3"
    assert to_dollar_params("SELECT 10 %% 3, %s") == "SELECT 10 % 3, $1"


def test_display_form_has_no_literals_comments_or_extra_whitespace() -> None:
    form = shape(
        "SELECT name /* why */ FROM users\n   WHERE email = 'x@y.z' -- who\n AND id = %(id)s"
    )
    assert form.normalized == "SELECT name FROM users WHERE email = $2 AND id = $1"
    assert form.control is None


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("BEGIN", HiddenKind.BEGIN),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", HiddenKind.BEGIN),
        ("COMMIT", HiddenKind.COMMIT),
        ("ROLLBACK", HiddenKind.ROLLBACK),
        ("SAVEPOINT sa_savepoint_1", HiddenKind.SAVEPOINT),
        ("RELEASE SAVEPOINT sa_savepoint_1", HiddenKind.RELEASE_SAVEPOINT),
        ("ROLLBACK TO SAVEPOINT sa_savepoint_1", HiddenKind.ROLLBACK_TO_SAVEPOINT),
        ("SELECT 1", None),
        ("SET search_path TO public", None),
        ("SAVEPOINT a; SELECT 1", None),
    ],
)
def test_transaction_control_is_recognised(sql: str, kind: HiddenKind | None) -> None:
    assert shape(sql).control is kind


def test_unparseable_sql_gets_a_text_fingerprint_instead_of_failing() -> None:
    broken = shape("SELEC * FROM  users")
    assert broken.fingerprint.startswith(UNPARSED_PREFIX)
    assert broken.normalized == "SELEC * FROM users"
    assert fingerprint("SELEC  *  FROM users") == broken.fingerprint
    assert fingerprint("SELEC * FROM projects") != broken.fingerprint


def test_control_kind_recognises_control_after_comments_and_nothing_else() -> None:
    from dalperf.capture.fingerprint import control_kind
    from dalperf.capture.records import HiddenKind

    assert control_kind("SAVEPOINT sa_savepoint_1") is HiddenKind.SAVEPOINT
    assert control_kind("-- done\n  /* really */ commit") is HiddenKind.COMMIT
    assert control_kind("ROLLBACK TO SAVEPOINT sa_1") is HiddenKind.ROLLBACK_TO_SAVEPOINT
    assert control_kind("PREPARE q AS SELECT 1") is None  # a prepared statement, not 2PC
    assert control_kind("SELECT 'COMMIT'") is None
    assert control_kind("BEGINNING") is None


@pytest.mark.timeout(60)  # a pattern that backtracks over blanks takes hours on these
def test_control_kind_is_linear_in_leading_blanks_and_comments() -> None:
    from dalperf.capture.fingerprint import control_kind
    from dalperf.capture.records import HiddenKind

    indent = "\n" + " \t " * 2000  # an indented triple-quoted statement, exaggerated
    assert control_kind(indent + "SELECT 1") is None
    assert control_kind(indent + "COMMIT") is HiddenKind.COMMIT
    assert (
        control_kind("-- note\n" * 500 + "/* x */ " * 500 + " " * 40 + "UPDATE t SET a = 1") is None
    )
    assert control_kind("/* unterminated" + " " * 40 + "COMMIT") is None
