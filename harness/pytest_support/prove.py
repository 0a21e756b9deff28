"""Fixes proven, not only offered (``--dalperf-prove-fixes``): a rerun of the test with the fix.

For a test that fails (or warns) on a ``lazy-load`` or ``column-reload`` finding whose fix
is a loader option (:attr:`dalperf.capture.findings.Finding.option`), the test runs once
more with that option added to every ORM SELECT of the option's root class the body runs
(a ``do_orm_execute`` listener on the ``Session`` class setting
``orm_execute_state.statement = statement.options(...)``).  The finding's message, its JSON
record (``fix_proof``) and its SARIF result then say ``fix proven: 26 → 2 queries`` (the
finding is gone from the rerun and the body sent fewer statements) or ``fix did not help:
26 → 26 queries``.

The rerun goes through pytest's own run protocol, as pytest-rerunfailures does: after the
test's tear-down of its function-scoped fixtures, its set-up, call and tear-down run again
(fixtures of wider scopes are kept, not set up twice), and the rerun's reports, captured
output and logs are dropped: the test's reports are those of its first run, the proof
added to the failure message.  The failure report is made once the rerun is over.

A test is rerun only when a second run cannot leave data behind, as far as dalperf can
tell (the rule is conservative):

- it is a plain test function (not a ``unittest`` method or a doctest), run without
  ``--pdb``, ``--setup-only`` or ``--setup-plan``;
- neither its body nor a function-scoped fixture's set-up sent a statement that writes
  (INSERT, UPDATE, DELETE, DDL, ...): their data would be written twice, and rows a test
  writes into data of a wider scope would stay; a test that writes says "fix not proven"
  with the reason.  Unless the test uses ``dalperf_postgres_fresh``: its writes are taken
  to go into that database of its own, dropped after the run and made anew for the rerun;
- its body itself passed (a test failing on its own is not rerun).

Off by default: without the option this module is never imported, and no test runs twice.
"""

from __future__ import annotations

import re
import unittest
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy.orm import ORMExecuteState

    from dalperf.capture import Capture
    from dalperf.capture.findings import Finding, LoaderOption, Thresholds
    from dalperf.capture.records import Statement
    from dalperf.pytest_support.recorder import BodyRecorder

PROVABLE = ("lazy-load", "column-reload")
FRESH_DATABASE = "dalperf_postgres_fresh"  # a database per test: its writes are its own
PROVEN, NO_HELP, NOT_RERUN = "proven", "did-not-help", "not-rerun"
# first words of statements that change no data
_READS = frozenset(
    [
        "SELECT",
        "SHOW",
        "SET",
        "RESET",
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "EXPLAIN",
        "VALUES",
        "TABLE",
        "FETCH",
        "DECLARE",
        "CLOSE",
        "MOVE",
        "DISCARD",
        "DEALLOCATE",
        "LISTEN",
        "UNLISTEN",
    ]
)
_WRITE_IN_WITH = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)

_DRIVEN = pytest.StashKey[bool]()  # this module runs the item's protocol
_PENDING = pytest.StashKey["Pending"]()  # the first run's verdict, waiting for the rerun
_RERUN = pytest.StashKey["Rerun"]()  # the rerun in progress
_FIXTURE_WRITES = pytest.StashKey[list[str]]()  # function-scoped fixtures that wrote


@dataclass(frozen=True, kw_only=True)
class Proof:
    """What the rerun with a finding's fix showed (or why there was none)."""

    result: str  # PROVEN, NO_HELP or NOT_RERUN
    detail: str  # the line of the message: "fix proven: 26 → 2 queries"
    before: int | None = None  # the body's queries in the first run
    after: int | None = None  # and in the rerun with the fix

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "detail": self.detail,
            "before": self.before,
            "after": self.after,
        }


@dataclass(kw_only=True)
class Pending:
    """The first run's verdict, concluded once the rerun is over."""

    recorder: BodyRecorder
    findings: list[Finding]  # the new findings whose fix the rerun applies
    thresholds: Thresholds
    options: list[tuple[type, list[Any]]]  # their loader options, built, by root class
    notes: dict[tuple[str, str], Proof]  # the other findings: their fix is no loader option
    rest: list[str] = field(default_factory=list)  # the failure's other parts (index, record)

    def conclude(self, proofs: Mapping[tuple[str, str], Proof]) -> None:
        """Fail (or warn) as the first run would have, with the proofs in the message."""
        message = self.recorder.conclude({**self.notes, **proofs})
        failure = "\n".join(p for p in (message, *self.rest) if p)
        if failure:
            pytest.fail(failure, pytrace=False)


@dataclass(kw_only=True)
class Rerun:
    """The rerun of a test with its fixes applied, and what its body sent."""

    options: list[tuple[type, list[Any]]]  # (root class, loader options) per fix
    capture: Capture | None = None
    applied: int = 0  # statements the options were added to


# the first run: is there something to prove?


def driving(item: pytest.Item) -> bool:
    """Whether :func:`protocol` runs ``item``, so that its verdict can wait for a rerun."""
    return item.stash.get(_DRIVEN, False)


def first_run(
    item: pytest.Item, recorder: BodyRecorder, thresholds: Thresholds
) -> tuple[str | None, Pending | None]:
    """After the first run's body: the failure message now (every finding with a loader
    option told why it is not rerun), or a :class:`Pending` verdict for the rerun."""
    candidates = [f for f in recorder.new if f.kind.value in PROVABLE]
    if not candidates:
        return recorder.conclude(), None
    notes = {
        _key(f): Proof(result=NOT_RERUN, detail=f"fix not proven: {_NOT_AN_OPTION}")
        for f in candidates
        if f.option is None
    }
    chosen = [f for f in candidates if f.option is not None]
    reason = _why_not(item, recorder.capture.statements) if chosen else None
    options = []
    if chosen and reason is None:
        try:
            options = [_built(f.option) for f in chosen if f.option is not None]
        except LookupError as exc:
            reason = str(exc)
    if chosen and reason is None:
        pending = Pending(
            recorder=recorder, findings=chosen, thresholds=thresholds, options=options, notes=notes
        )
        return None, pending
    for finding in chosen:
        notes[_key(finding)] = Proof(result=NOT_RERUN, detail=f"fix not proven: {reason}")
    return recorder.conclude(notes), None


def _key(finding: Finding) -> tuple[str, str]:
    return (finding.kind.value, finding.label)


_NOT_AN_OPTION = "the fix is not a loader option to add to the query (rewrite the code as shown)"


def _why_not(item: pytest.Item, statements: tuple[Statement, ...]) -> str | None:
    """Why ``item`` cannot run twice (None: it can)."""
    if not driving(item):
        return "the test cannot run twice (not a plain test function, or --pdb/--setup-only)"
    if FRESH_DATABASE in getattr(item, "fixturenames", ()):
        return None  # its data is in a database of its own, made again for the rerun
    written = writes(statements)
    if written:
        return f"the test body writes ({written}): a second run could leave data behind"
    fixtures = item.stash.get(_FIXTURE_WRITES, [])
    if fixtures:
        return (
            f"a function-scoped fixture writes ({'; '.join(fixtures)}): "
            "a second run could leave data behind"
        )
    return None


def writes(statements: tuple[Statement, ...]) -> str | None:
    """The first statement that changes data, as ``INSERT on posts``; None if none does."""
    from dalperf.capture.findings import _table

    for statement in statements:
        text = statement.sql.lstrip()
        verb = text.split(None, 1)[0].upper() if text else ""
        if verb in _READS or (verb == "WITH" and not _WRITE_IN_WITH.search(text)):
            continue
        return f"{verb} on {_table(text)}"
    return None


@contextmanager
def fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Iterator[None]:
    """Note a function-scoped fixture whose set-up writes (its test is not rerun)."""
    if fixturedef.scope != "function":
        yield
        return
    from dalperf.capture import Capture

    with Capture(None) as capture:
        yield
    written = writes(capture.statements)
    if written:
        request.node.stash.setdefault(_FIXTURE_WRITES, []).append(
            f"{fixturedef.argname}: {written}"
        )


# the protocol


def protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """``pytest_runtest_protocol`` for ``item``: the default one (None) unless the test can
    be rerun; else set-up, call and tear-down as pytest runs them, with the rerun between
    the tear-down of the function-scoped fixtures and the call's report."""
    config = item.config
    if (
        not isinstance(item, pytest.Function)
        or isinstance(getattr(item, "instance", None), unittest.TestCase)
        or any(config.getoption(o, False) for o in ("usepdb", "setuponly", "setupplan"))
    ):
        return None
    from _pytest.runner import show_test_item

    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    item.stash[_DRIVEN] = True
    try:
        if not item._request:  # a rerun by another plugin left none
            item._initrequest()
        setup = _phase(item, "setup")
        _log(item, setup)
        if setup.passed:
            if config.getoption("setupshow", False):
                show_test_item(item, add_space=True)
            _call_then_teardown(item, nextitem)
        else:
            _log(item, _phase(item, "teardown", nextitem=_next(item, nextitem)))
    finally:
        item.stash[_DRIVEN] = False
        item._request = False  # type: ignore[assignment]  # as pytest's runtestprotocol
        item.funcargs = None  # type: ignore[assignment]
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _call_then_teardown(item: pytest.Function, nextitem: pytest.Item | None) -> None:
    call = _call_info(item, lambda: item.ihook.pytest_runtest_call(item=item))
    pending = item.stash.get(_PENDING, None)
    if pending is None:
        _report(item, call)
        _log(item, _phase(item, "teardown", nextitem=_next(item, nextitem)))
        return
    del item.stash[_PENDING]
    sections = list(item._report_sections)  # the call's report shows set-up and call only
    first_teardown = _phase(item, "teardown", nextitem=_sibling(item))  # this item's fixtures
    kept = list(item._report_sections)
    proofs = _rerun(item, pending)
    item._report_sections = sections
    concluded = _call_info(item, lambda: pending.conclude(proofs))
    if call.excinfo is None and concluded.excinfo is not None:
        call.excinfo = concluded.excinfo
    _report(item, call)
    item._report_sections = kept
    # the rerun's fixtures, then those of wider scopes, as the first run's tear-down would
    rest = _phase(item, "teardown", nextitem=_next(item, nextitem))
    if first_teardown.failed or not rest.failed:
        first_teardown.duration += rest.duration
        _log(item, first_teardown)
    if rest.failed:
        _log(item, rest)


def _rerun(item: pytest.Function, pending: Pending) -> dict[tuple[str, str], Proof]:
    """Set-up and call once more with the fixes applied (the tear-down follows); the proof
    of each fix."""
    before = pending.recorder.capture.queries
    keys = [_key(f) for f in pending.findings]
    rerun = Rerun(options=pending.options)
    item.stash[_RERUN] = rerun
    item._request = False  # type: ignore[assignment]
    item.funcargs = None  # type: ignore[assignment]
    item._initrequest()
    try:
        problem = None
        setup = _phase(item, "setup")
        if setup.passed:
            called = _phase(item, "call")
            if called.failed:
                problem = f"the rerun with the fix failed: {_last_line(called)}"
        else:
            problem = f"the rerun's set-up failed: {_last_line(setup)}"
    finally:
        del item.stash[_RERUN]
    if problem is None and (rerun.capture is None or not rerun.applied):
        roots = ", ".join(sorted({f.option.root for f in pending.findings if f.option}))
        problem = f"the rerun ran no ORM query of {roots} to add the option to"
    if problem is not None:
        return {k: Proof(result=NOT_RERUN, detail=f"fix not proven: {problem}") for k in keys}
    assert rerun.capture is not None
    after = rerun.capture.queries
    remaining = {_key(f) for f in rerun.capture.findings(pending.thresholds)}
    together = f" (the {len(keys)} fixes together)" if len(keys) > 1 else ""
    proofs = {}
    for key in keys:
        helped = key not in remaining and after < before
        verdict = "fix proven" if helped else "fix did not help"
        proofs[key] = Proof(
            result=PROVEN if helped else NO_HELP,
            detail=f"{verdict}: {before} \u2192 {after} queries{together}",
            before=before,
            after=after,
        )
    return proofs


def rerunning(item: pytest.Item) -> bool:
    """Whether this call phase is the rerun with the fixes (:func:`measure` captures it)."""
    return _RERUN in item.stash


def measure(item: pytest.Item) -> Generator[None, object, object]:
    """The rerun's call phase (inside ``pytest_runtest_call``): captured, with the options."""
    from dalperf.capture import Capture

    rerun = item.stash[_RERUN]
    rerun.capture = Capture(None)
    with _applied(rerun), rerun.capture:
        return (yield)


def defer(item: pytest.Item, pending: Pending, rest: list[str]) -> None:
    """Keep the first run's verdict until the rerun (:func:`protocol` concludes it)."""
    pending.rest = rest
    item.stash[_PENDING] = pending


@contextmanager
def _applied(rerun: Rerun) -> Iterator[None]:
    """Every ORM SELECT of a fix's root class gets the fix's options, while the block runs."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import Select

    def add(state: ORMExecuteState) -> None:
        if not state.is_select or state.is_relationship_load or state.is_column_load:
            return
        statement = state.statement
        if not isinstance(statement, Select):
            return
        entity = statement.column_descriptions[0].get("entity")
        if not isinstance(entity, type):
            return
        chosen = [o for root, options in rerun.options if issubclass(entity, root) for o in options]
        if chosen:
            state.statement = statement.options(*chosen)
            rerun.applied += 1

    event.listen(Session, "do_orm_execute", add)
    try:
        yield
    finally:
        event.remove(Session, "do_orm_execute", add)


def _built(option: LoaderOption) -> tuple[type, list[Any]]:
    """The loader option objects that ``option`` names, with its root class."""
    from sqlalchemy import orm

    root = _mapped(option.root)
    built: list[Any] = []
    chain: Any = None
    for index, (loader, label) in enumerate(option.loads):
        owner, _, attribute = label.partition(".")
        target = getattr(_mapped(owner), attribute)
        last = index == len(option.loads) - 1
        kwargs = (
            {"recursion_depth": option.recursion_depth} if last and option.recursion_depth else {}
        )
        if not option.chained:
            built.append(getattr(orm, loader)(target))
        elif chain is None:
            chain = getattr(orm, loader)(target, **kwargs)
        else:
            chain = getattr(chain, loader)(target, **kwargs)
    return root, [*built, *([chain] if chain is not None else [])]


def _mapped(name: str) -> type:
    """The mapped class called ``name`` (the latest mapping of it); LookupError if none."""
    from sqlalchemy.orm import mapperlib

    registries = getattr(mapperlib, "_mapper_registries", {})
    found = [m.class_ for r in list(registries) for m in r.mappers if m.class_.__name__ == name]
    if not found:
        raise LookupError(f"no mapped class {name} to build the option from")
    return found[-1]


# pytest's run phases, as its runner makes them


def _call_info(item: pytest.Item, fn: Callable[[], object]) -> pytest.CallInfo[object]:
    from _pytest.runner import get_reraise_exceptions

    return pytest.CallInfo.from_call(fn, when="call", reraise=get_reraise_exceptions(item.config))


def _phase(item: pytest.Item, when: Any, **kwargs: Any) -> pytest.TestReport:
    """One phase run and reported (not logged), by pytest's own ``call_and_report``."""
    from _pytest.runner import call_and_report

    return call_and_report(item, when, log=False, **kwargs)


def _report(item: pytest.Item, call: pytest.CallInfo[object]) -> None:
    from _pytest.runner import check_interactive_exception

    report = item.ihook.pytest_runtest_makereport(item=item, call=call)
    _log(item, report)
    if check_interactive_exception(call, report):
        item.ihook.pytest_exception_interact(node=item, call=call, report=report)


def _log(item: pytest.Item, report: pytest.TestReport) -> None:
    item.ihook.pytest_runtest_logreport(report=report)


def _next(item: pytest.Item, nextitem: pytest.Item | None) -> pytest.Item | None:
    """The next item for the last tear-down (none when the session stops: all torn down)."""
    return None if item.session.shouldfail or item.session.shouldstop else nextitem


def _sibling(item: pytest.Function) -> pytest.Item:
    """An item beside ``item`` (same parent): a tear-down up to it removes only ``item``'s
    own fixtures, keeping those of its module, class and session."""
    return pytest.Function.from_parent(
        item.parent, name=item.name, callobj=item.obj, fixtureinfo=item._fixtureinfo
    )


def _last_line(report: pytest.TestReport) -> str:
    text = report.longreprtext.strip().splitlines()
    return text[-1].strip() if text else report.outcome
