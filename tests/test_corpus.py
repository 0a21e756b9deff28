"""The labelled accuracy corpus (``tests/corpus``), judged scenario by scenario.

The corpus runs as a real pytest session of its own with the dalperf plugin on (the
project's own run keeps the plugin off and never collects the corpus), against a database
on the session's embedded server: one session for every scenario in the default
configuration, and one with the write-loop rule on for the scenarios that changed rows in
it or are labelled with a write loop (a write rule cannot change the answer for a scenario
that sends no write).  Its JSON report (``--dalperf-json``) is read back, and each scenario
here asserts, in each of those runs:

- the finding kinds reported for ``test_bug`` / ``test_clean`` equal its label;
- its fixed version (``test_fixed``, the fix applied) comes out clean;
- every finding's call site is in the scenario's own module, and the SARIF report
  (``--dalperf-sarif``) places it at the same file and line;
- neither test raised (a scenario that raises fails here, on its own).

A disagreement that is a documented limit of the tool (``LIMIT`` in the scenario) is a
strict xfail with its reason.  One more session runs the lazy-load BUG scenarios with
``--dalperf-prove-fixes``: every offered loader option is proven by its rerun.  ``python benchmarks/accuracy.py`` prints the same judgement
as a table, with each opt-in rule the plugin declares.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dalperf.db.embedded import ServerStatus
from tests.conftest import create_database, drop_database
from tests.corpus import judge

SCENARIOS = judge.scenarios()
CONFIGURATIONS = {c.name: c for c in judge.configurations()}
JUDGED = ("default", "write-loop")  # the other opt-in rules: benchmarks/accuracy.py


@pytest.fixture(scope="module")
def corpus_url(pg_server: ServerStatus) -> Iterator[str]:
    """A database of its own for the corpus sessions (they create and drop their tables)."""
    name = f"corpus_{os.getpid()}"
    url = create_database(pg_server, name)
    yield url
    drop_database(pg_server, name)


class Runs:
    """The corpus sessions, each run once, on first use: every scenario in the default
    configuration; with the write-loop rule on, the scenarios that changed rows in the
    default run or are labelled with a write loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.done: dict[str, judge.Run | RuntimeError] = {}

    def __getitem__(self, name: str) -> judge.Run:
        if name not in self.done:
            chosen = SCENARIOS if name == "default" else self.writing()
            try:
                self.done[name] = judge.run(
                    self.url, CONFIGURATIONS[name], select=[s.path for s in chosen]
                )
            except RuntimeError as exc:  # the session itself failed: once, not per scenario
                self.done[name] = exc
        found = self.done[name]
        if isinstance(found, RuntimeError):
            raise found
        return found

    def writing(self) -> list[judge.Scenario]:
        default = self["default"]
        return [s for s in SCENARIOS if default.wrote(s) or "write-loop" in s.expect]

    def judged_in(self, scenario: judge.Scenario) -> list[judge.Run]:
        """The runs that judge ``scenario``."""
        found = [self["default"]]
        if "write-loop" in CONFIGURATIONS and scenario in self.writing():
            found.append(self["write-loop"])
        return found


@pytest.fixture(scope="module")
def runs(corpus_url: str) -> Runs:
    return Runs(corpus_url)


def cases() -> list[object]:
    found = []
    for scenario in SCENARIOS:
        limits = [
            f"[{name}] {reason}"
            for name in JUDGED
            if name in CONFIGURATIONS and (reason := scenario.limit_in(CONFIGURATIONS[name]))
        ]
        marks = [pytest.mark.xfail(strict=True, reason="; ".join(limits))] if limits else []
        found.append(pytest.param(scenario, marks=marks, id=scenario.name))
    return found


def test_the_corpus_is_large_and_well_formed() -> None:
    """At least 120 scenarios, both labels and every default kind well represented
    (:func:`judge.scenarios` already refused any module without a docstring, a label, its
    fixed version or its fix line)."""
    bugs = [s for s in SCENARIOS if s.bug]
    assert len(SCENARIOS) >= 120
    assert len(bugs) >= 50 and len(SCENARIOS) - len(bugs) >= 50
    for kind in ("lazy-load", "column-reload", "repeated-statement", "write-loop"):
        assert sum(kind in s.expect for s in SCENARIOS) >= 8, kind


@pytest.mark.parametrize("scenario", cases())
def test_scenario(runs: Runs, scenario: judge.Scenario) -> None:
    problems = [
        f"[{ran.config.name}] {problem}"
        for ran in runs.judged_in(scenario)
        for problem in judge.judge(scenario, ran).problems
    ]
    assert not problems, f"{scenario.path.name}: {scenario.doc}\n  " + "\n  ".join(problems)


def test_a_scenario_that_raises_is_its_own_error(corpus_url: str, tmp_path: Path) -> None:
    """A scenario that raises is an error of that scenario: the session still reports the
    others, and the judge names the exception, not a finding."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(judge.CORPUS / "pytest.ini", folder)
    shutil.copytree(
        judge.CORPUS / "corpus_app",
        folder / "corpus_app",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(judge.CORPUS / "bug_feed_lazy_comments.py", folder)
    (folder / "clean_raises.py").write_text(
        '"""Raises half-way: an error of this scenario."""\n\n'
        "from sqlalchemy import text\n\nfrom corpus_app.db import engine\n\n\n"
        "def test_clean() -> None:\n"
        "    with engine.connect() as connection:\n"
        '        connection.execute(text("SELECT 1"))\n'
        '        raise LookupError("the scenario broke")\n'
    )
    scenarios = {s.name: s for s in judge.scenarios(folder)}
    ran = judge.run(corpus_url, CONFIGURATIONS["default"], folder=folder)
    broken = judge.judge(scenarios["clean_raises"], ran)
    assert not broken.agrees
    assert any("error" in p and "LookupError: the scenario broke" in p for p in broken.problems)
    assert judge.judge(scenarios["bug_feed_lazy_comments"], ran).agrees


def test_every_lazy_load_fix_that_is_a_loader_option_is_proven(corpus_url: str) -> None:
    """``--dalperf-prove-fixes`` on the lazy-load BUG scenarios: each offered loader option,
    applied in a rerun, removes its finding with fewer queries; a scenario not rerun says
    why (it writes, or its fix batches a loop rather than adding an option)."""
    default = CONFIGURATIONS["default"]
    chosen = [s for s in SCENARIOS if s.bug and "lazy-load" in s.expect and not s.limit_in(default)]
    ran = judge.run(
        corpus_url, default, select=[s.path for s in chosen], extra=["--dalperf-prove-fixes"]
    )
    proofs = {
        s.name: [
            f["fix_proof"] for f in ran.result(s, "test_bug").findings if f["kind"] == "lazy-load"
        ]
        for s in chosen
    }
    not_rerun = ("the test body writes", "the fix is not a loader option")
    problems = [
        f"{name}: {proof['detail'] if proof else 'no fix_proof'}"
        for name, found in proofs.items()
        for proof in found or [None]
        if proof is None
        or not (
            proof["result"] == "proven"
            or (proof["result"] == "not-rerun" and any(r in proof["detail"] for r in not_rerun))
        )
    ]
    assert not problems, "\n".join(problems)
    proven = [n for n, found in proofs.items() if all(p["result"] == "proven" for p in found)]
    assert len(proven) >= 0.85 * len(chosen), (len(proven), len(chosen))
