"""A pytest plugin (entry point ``pytest11``): query budgets inside your own test suite.

Installed with dalperf, it loads in every pytest session and does nothing until a test
uses one of its fixtures or its marker; no server starts unless ``dalperf_database`` (or
the default ``dalperf_engine``, which uses it) is requested.

Fixtures:

- ``dalperf_database`` (session): a throwaway embedded PostgreSQL seeded with the case-study
  data at ``--dalperf-scale`` (default 0.05) and ``--dalperf-seed``; a :class:`SeededDatabase`.
- ``dalperf_engine`` (session): the engine whose statements are counted.  The default is a
  sync engine on ``dalperf_database``; override it in your ``conftest.py`` to return your
  application's ``Engine`` or ``AsyncEngine``.
- ``query_capture``: ``with query_capture() as cap: ...`` records the block's statements
  (a :class:`dalperf.capture.session.Capture`: ``cap.queries``, ``cap.round_trips``, ...);
  ``query_capture(engine)`` for another engine.
- ``assert_max_queries``: ``with assert_max_queries(3, round_trips=1): ...`` fails the test
  when the block sends more than 3 statements, or more than 1 round trip deep.

Marker: ``@pytest.mark.query_budget(max_queries=…, max_round_trips=…,
max_rows_fetched=…, no_n_plus_one=True)`` checks the statements of the whole test body
(the call phase: fixtures' set-up and tear-down are not counted) sent through
``dalperf_engine``.

A failure lists the captured statements grouped by fingerprint, with their counts and the
call sites dalperf sampled (every repeated statement gets one).  Limits are validated and
checked by :mod:`dalperf.gate.budgets`, as ``dalperf check`` does.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pytest

from dalperf.errors import UsageError
from dalperf.gate.budgets import LIMITS, Figures, breaches, check_limits, shorten_sql

if TYPE_CHECKING:

    from dalperf.capture import Capture

DEFAULT_SCALE = 0.05
DEFAULT_SEED = 0
MARKER = "query_budget"
CAPTURE_LIMITS = ("max_queries", "max_round_trips", "max_rows_fetched", "no_n_plus_one")
SQL_SHOWN = 240  # characters of each statement shape in a failure message

AnyEngine = "Engine | AsyncEngine"
_ARMED = pytest.StashKey[tuple[AnyEngine, dict[str, Any]]]()


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dalperf", "dalperf query budgets")
    group.addoption("--dalperf-scale", type=_positive, default=DEFAULT_SCALE,
                    help=f"scale of the case-study data in dalperf_database "
                         f"(default {DEFAULT_SCALE})")
    group.addoption("--dalperf-seed", type=int, default=DEFAULT_SEED,
                    help=f"seed of the case-study data (default {DEFAULT_SEED})")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(max_queries=None, max_round_trips=None, max_rows_fetched=None, "
        "no_n_plus_one=False): fail the test when its body, through dalperf_engine, exceeds "
        "these limits (dalperf)")


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SeededDatabase:
    """The seeded case-study database: its libpq URL and its SQLAlchemy (psycopg 3) URL."""

    url: str
    sqlalchemy_url: str
    scale: float
    seed: int


@pytest.fixture(scope="session")
def dalperf_database(pytestconfig: pytest.Config) -> Iterator[SeededDatabase]:
    """A throwaway embedded server holding the case-study data; stopped after the session."""
    from dalperf import casestudy
    from dalperf.db import urls
    from dalperf.db.embedded import running_server
    from dalperf.db.targets import Source, Target

    scale = pytestconfig.getoption("dalperf_scale")
    seed = pytestconfig.getoption("dalperf_seed")
    with running_server(None) as status:
        target = Target(url=urls.parse(status.url()), source=Source.EMBEDDED, writable=True)
        casestudy.seed(target, scale=scale, seed=seed, reset=False)
        yield SeededDatabase(url=target.libpq_url, sqlalchemy_url=target.sqlalchemy_url,
                             scale=scale, seed=seed)


@pytest.fixture(scope="session")
def dalperf_engine(dalperf_database: SeededDatabase) -> Iterator[AnyEngine]:
    """The engine counted by the marker and the default of the capture fixtures."""
    from sqlalchemy import create_engine

    engine = create_engine(dalperf_database.sqlalchemy_url)
    yield engine
    engine.dispose()


@pytest.fixture
def query_capture(request: pytest.FixtureRequest) -> Callable[..., Capture]:
    """``query_capture(engine=None)``: a fresh Capture for a ``with`` block."""
    from dalperf.capture import Capture

    def capture(engine: AnyEngine | None = None) -> Capture:
        return Capture(engine if engine is not None else request.getfixturevalue("dalperf_engine"))
    return capture


@pytest.fixture
def assert_max_queries(
        request: pytest.FixtureRequest) -> Callable[..., AbstractContextManager[Capture]]:
    """``with assert_max_queries(n, round_trips=None, engine=None): ...``"""
    from dalperf.capture import Capture

    @contextmanager
    def assert_max(n: int, round_trips: int | None = None, *,
                   engine: AnyEngine | None = None) -> Iterator[Capture]:
        limits = _limits({"max_queries": n, "max_round_trips": round_trips},
                         where="assert_max_queries")
        with Capture(engine if engine is not None
                     else request.getfixturevalue("dalperf_engine")) as capture:
            yield capture
        enforce(capture, limits, what="assert_max_queries")
    return assert_max


@pytest.fixture(autouse=True)
def _dalperf_query_budget(request: pytest.FixtureRequest) -> None:
    """Arm the marker's check for the call phase (see :func:`pytest_runtest_call`)."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return
    if marker.args:
        pytest.fail(f"{MARKER} takes keyword arguments only, e.g. {MARKER}(max_queries=1)",
                    pytrace=False)
    limits = _limits(marker.kwargs, where=f"@pytest.mark.{MARKER}")
    request.node.stash[_ARMED] = (request.getfixturevalue("dalperf_engine"), limits)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    armed = item.stash.get(_ARMED, None)
    if armed is None:
        return (yield)
    from dalperf.capture import Capture

    engine, limits = armed
    with Capture(engine) as capture:
        outcome = yield
    enforce(capture, limits, what=f"{MARKER}")
    return outcome


# --------------------------------------------------------------------------------------
# Checking a capture
# --------------------------------------------------------------------------------------


def _limits(raw: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    for name in raw:
        if name in LIMITS and name not in CAPTURE_LIMITS:
            pytest.fail(f"{where}: {name} needs many measured calls; set it as a budget for "
                        "`dalperf run`/`dalperf check` instead", pytrace=False)
    try:
        return check_limits(raw, where=where)
    except UsageError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


def enforce(capture: Capture, limits: Mapping[str, Any], *, what: str) -> None:
    """Fail the running test if ``capture`` exceeds ``limits``, listing what it sent."""
    figures = Figures(queries=capture.queries, round_trips=capture.round_trips,
                      rows_fetched=capture.rows_fetched,
                      n_plus_one=tuple(asdict(g) for g in capture.n_plus_one()))
    found = breaches(limits, figures)
    if found:
        pytest.fail(f"{what} exceeded: " + "; ".join(b.message for b in found) + "\n"
                    + statements_by_fingerprint(capture), pytrace=False)


def statements_by_fingerprint(capture: Capture) -> str:
    """The captured statements grouped by fingerprint: count, shape, sampled call sites."""
    sites: dict[str, dict[str, None]] = {}
    for statement in capture.statements:
        if statement.call_site is not None:
            sites.setdefault(statement.fingerprint, {})[statement.call_site] = None
    totals = capture.fingerprints()
    lines = [(f"captured {capture.queries} statement(s), {capture.round_trips} round trip(s) "
             f"deep, in {len(totals)} shape(s):")]
    for total in totals:
        lines.append(f"  {total.count:>5}x  {shorten_sql(total.sql, SQL_SHOWN)}")
        lines.extend(f"          at {site}" for site in sites.get(total.fingerprint, ()))
    return "\n".join(lines)
