"""The pytest plugin, run inside real pytest sessions (``pytester``) against real PostgreSQL:
fixtures, ``assert_max_queries``, the ``query_budget`` marker, passing and failing."""

from __future__ import annotations

import psycopg
import pytest

from dalperf.db import urls

pytest_plugins = ["pytester"]

CONFTEST = '''
import pytest
from sqlalchemy import create_engine

URL = {url!r}


@pytest.fixture(scope="session")
def dalperf_engine():
    from dalperf.db import urls
    engine = create_engine(urls.sqlalchemy_url(URL))
    yield engine
    engine.dispose()
'''

TESTS = '''
import pytest
from sqlalchemy import text


def by_id(engine, ids):
    with engine.connect() as connection:
        for i in ids:
            connection.execute(text("SELECT id FROM users WHERE id = :i"), {"i": i})


def test_within(assert_max_queries, dalperf_engine):
    with assert_max_queries(2, round_trips=2) as capture:
        by_id(dalperf_engine, [1, 2])
    assert capture.queries == 2


def test_over(assert_max_queries, dalperf_engine):
    with assert_max_queries(2):
        by_id(dalperf_engine, [1, 2, 3])


def test_too_deep(assert_max_queries, dalperf_engine):
    with assert_max_queries(10, round_trips=1):
        by_id(dalperf_engine, [1, 2])


def test_capture(query_capture, dalperf_engine):
    with query_capture() as capture:
        by_id(dalperf_engine, [1, 2, 3])
    assert (capture.queries, capture.n_plus_one()[0].count) == (3, 3)


@pytest.fixture
def warm(dalperf_engine):
    by_id(dalperf_engine, range(1, 6))  # set-up: not counted by the marker


@pytest.mark.query_budget(max_queries=1, max_round_trips=1, no_n_plus_one=True)
def test_marker_within(warm, dalperf_engine):
    by_id(dalperf_engine, [1])


@pytest.mark.query_budget(max_queries=10, no_n_plus_one=True)
def test_marker_n_plus_one(dalperf_engine):
    by_id(dalperf_engine, [1, 2, 3, 4])


@pytest.mark.query_budget(max_queries=1)
def test_marker_body_fails_first(dalperf_engine):
    by_id(dalperf_engine, [1, 2])
    assert False, "the test's own failure"


@pytest.mark.query_budget(p95_ms=5)
def test_marker_timing_limit():
    pass


@pytest.mark.query_budget(max_querys=5)
def test_marker_typo():
    pass
'''


def test_fixtures_and_marker_pass_and_fail(pytester: pytest.Pytester, seeded_db: str) -> None:
    pytester.makeconftest(CONFTEST.format(url=seeded_db))
    pytester.makepyfile(test_inner=TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=4, errors=2)
    result.stdout.fnmatch_lines([
        "*_ test_over _*",
        "assert_max_queries exceeded: 3 queries, budget 2",
        "captured 3 statement(s), 3 round trip(s) deep, in 1 shape(s):",
        "      3x  SELECT id FROM users WHERE id = $1",
        "*at */test_inner.py:8 in by_id",
        "*_ test_too_deep _*",
        "assert_max_queries exceeded: 2 round trips (depth), budget 1",
        "*_ test_marker_n_plus_one _*",
        ("query_budget exceeded: N+1: 4x SELECT id FROM users WHERE id = $1 at */test_inner.py:8 "
        "in by_id"),
        "      4x  SELECT id FROM users WHERE id = $1",
        "*_ test_marker_body_fails_first _*",
        "*AssertionError: the test's own failure*",
    ])
    result.stdout.fnmatch_lines([
        "*ERROR at setup of test_marker_timing_limit*",
        ("@pytest.mark.query_budget: p95_ms needs many measured calls; set it as a budget for "
        "`dalperf run`/`dalperf check` instead"),
        "*ERROR at setup of test_marker_typo*",
        "@pytest.mark.query_budget: unknown key 'max_querys'; did you mean max_queries*",
    ])
    assert "During handling" not in result.stdout.str()
    assert "test_marker_within" not in "".join(
        line for line in result.outlines if line.startswith("FAILED"))


SEEDED_TEST = '''
import pytest
from sqlalchemy import text


@pytest.mark.query_budget(max_queries=1)
def test_the_seeded_database(dalperf_database, dalperf_engine, tmp_path_factory):
    with dalperf_engine.connect() as connection:
        users = connection.execute(text("SELECT count(*) FROM users")).scalar_one()
    assert users > 0 and dalperf_database.scale == 0.01 and dalperf_database.seed == 3
    (tmp_path_factory.getbasetemp().parent / "url").write_text(dalperf_database.url)
'''


def test_dalperf_database_is_seeded_and_stopped_after_the_session(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_seeded=SEEDED_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "--dalperf-scale", "0.01",
                                "--dalperf-seed", "3")
    result.assert_outcomes(passed=1)
    url = next(pytester.path.parent.rglob("url")).read_text()
    assert urls.parse(url).host == "127.0.0.1"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_the_plugin_starts_nothing_unless_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_idle='''
import sys


def test_idle(request):
    assert request.config.pluginmanager.hasplugin("dalperf")
    assert "dalperf.seed.loader" not in sys.modules  # only dalperf_database imports it, to seed
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_bad_scale_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--dalperf-scale", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dalperf-scale: must be > 0, not 0*"])
