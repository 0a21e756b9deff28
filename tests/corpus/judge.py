"""Run the labelled corpus as one real pytest session and judge every scenario.

Standard library only (it runs in the project's test process and in the benchmark, not in
the corpus session).  A scenario is one module ``bug_*.py`` or ``clean_*.py`` in this folder:

- its docstring says why it is a bug or clean;
- ``EXPECT``: the finding kinds a perfect tool reports for ``test_bug`` with every kind's
  rule on (an empty set for a clean scenario);
- ``EXPECT_WITH`` (optional): ``{config: kinds}`` where an opt-in rule changes the answer
  (three ``get``\\ s of one table are clean by default and a finding with small repeats on;
  six requests each reading one user by key are clean by default and a finding when
  repeats count over the whole test, ``repeat-scope-test``);
- ``LIMIT`` (optional): ``{config or "*": reason}``, a documented limit of the tool where its
  answer differs from the label (a strict xfail in ``tests/test_corpus.py``);
- ``FIX`` (bug only): the line the fixed version applies, as a tool should offer it;
- tests: ``test_bug`` and ``test_fixed`` (the fix applied, which must come out clean), or
  ``test_clean``.

A configuration is the default rules or the default plus one opt-in rule the plugin
declares (:func:`configurations` reads them from ``dalperf.pytest_support.settings``).  The
kinds a configuration can report are the default ones plus that rule's; a scenario's
expectation in it is its label restricted to those kinds.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent
KINDS = ("lazy-load", "column-reload", "repeated-statement", "write-loop", "unused-eager-load")
DEFAULT_KINDS = frozenset({"lazy-load", "column-reload", "repeated-statement"})


@dataclass(frozen=True)
class Configuration:
    """A set of plugin ini values and the finding kinds they let the plugin report."""

    name: str
    ini: tuple[tuple[str, str], ...]
    kinds: frozenset[str]


@dataclass(frozen=True)
class Scenario:
    """One scenario module, read without importing it."""

    path: Path
    doc: str
    expect: frozenset[str]
    expect_with: dict[str, frozenset[str]]
    limit: dict[str, str]
    fix: str | None

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def bug(self) -> bool:
        return self.path.name.startswith("bug_")

    def expected(self, config: Configuration) -> frozenset[str]:
        """The kinds a perfect tool reports for ``test_bug`` (or ``test_clean``) in ``config``."""
        return self.expect_with.get(config.name, self.expect) & config.kinds

    def limit_in(self, config: Configuration) -> str | None:
        return self.limit.get(config.name, self.limit.get("*"))

    def tests(self) -> tuple[str, ...]:
        return ("test_bug", "test_fixed") if self.bug else ("test_clean",)


def configurations() -> list[Configuration]:
    """The default configuration, then one per opt-in rule the installed plugin declares."""
    from dalperf.pytest_support import settings

    found = [Configuration("default", (), DEFAULT_KINDS)]
    thresholds = getattr(settings, "THRESHOLDS", {})
    if "dalperf_write_loop_threshold" in thresholds:
        found.append(
            Configuration(
                "write-loop",
                (("dalperf_write_loop_threshold", "5"),),
                DEFAULT_KINDS | {"write-loop"},
            )
        )
    if "dalperf_small_repeat_threshold" in thresholds:
        found.append(
            Configuration(
                "small-repeats", (("dalperf_small_repeat_threshold", "2"),), DEFAULT_KINDS
            )
        )
    if "test" in getattr(settings, "REPEAT_SCOPES", ()):
        found.append(
            Configuration("repeat-scope-test", (("dalperf_repeat_scope", "test"),), DEFAULT_KINDS)
        )
    source = Path(settings.__file__).read_text()
    if "dalperf_unused_eager_load" in source:
        found.append(
            Configuration(
                "unused-eager-load",
                (("dalperf_unused_eager_load", "true"),),
                DEFAULT_KINDS | {"unused-eager-load"},
            )
        )
    return found


def scenarios(folder: Path = CORPUS) -> list[Scenario]:
    """Every scenario module of ``folder``, sorted by name; ValueError on a malformed one."""
    found = []
    for path in sorted([*folder.glob("bug_*.py"), *folder.glob("clean_*.py")]):
        tree = ast.parse(path.read_text(), filename=str(path))
        values: dict[str, Any] = {}
        for node in tree.body:
            target = (
                node.targets[0]
                if isinstance(node, ast.Assign)
                else node.target
                if isinstance(node, ast.AnnAssign)
                else None
            )
            if (
                isinstance(target, ast.Name)
                and target.id in ("EXPECT", "EXPECT_WITH", "LIMIT", "FIX")
                and node.value is not None
            ):
                values[target.id] = _literal(node.value, path, target.id)
        doc = ast.get_docstring(tree) or ""
        expect = frozenset(values.get("EXPECT", ()))
        scenario = Scenario(
            path=path,
            doc=doc,
            expect=expect,
            expect_with={k: frozenset(v) for k, v in values.get("EXPECT_WITH", {}).items()},
            limit=dict(values.get("LIMIT", {})),
            fix=values.get("FIX"),
        )
        problem = _malformed(scenario, tree)
        if problem:
            raise ValueError(f"{path.name}: {problem}")
        found.append(scenario)
    return found


def _literal(node: ast.expr, path: Path, name: str) -> Any:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("set", "frozenset")
        and not node.args
    ):
        return set()
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"{path.name}: {name} must be a literal") from None


def _malformed(scenario: Scenario, tree: ast.Module) -> str | None:
    tests = {
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")
    }
    if not scenario.doc:
        return "no docstring saying why"
    if unknown := (scenario.expect | {k for v in scenario.expect_with.values() for k in v}) - set(
        KINDS
    ):
        return f"unknown kinds {sorted(unknown)}"
    if scenario.bug and not (
        scenario.expect | {k for v in scenario.expect_with.values() for k in v}
    ):
        return "a bug_ module needs kinds in EXPECT or EXPECT_WITH"
    if not scenario.bug and scenario.expect:
        return "a clean_ module expects no kind by default"
    if tests != set(scenario.tests()):
        return f"tests must be {', '.join(scenario.tests())}, found {', '.join(sorted(tests))}"
    if scenario.bug and not scenario.fix:
        return "a bug_ module names its FIX"
    return None


@dataclass
class TestResult:
    """One test of a scenario as the corpus session saw it."""

    verdict: str  # passed | dalperf | error | missing
    detail: str
    findings: list[dict[str, Any]]
    wrote: bool = False  # the test changed rows
    sarif: list[tuple[str, str | None, int | None]] = field(default_factory=list)  # kind, uri, line

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(f["kind"] for f in self.findings)


@dataclass
class Run:
    """The corpus session of one configuration: every test's result, and the wall time."""

    config: Configuration
    results: dict[str, TestResult]
    seconds: float
    output: str = ""

    def wrote(self, scenario: Scenario) -> bool:
        """Whether any test of ``scenario`` changed rows in this run."""
        return any(self.result(scenario, t).wrote for t in scenario.tests())

    def result(self, scenario: Scenario, test: str) -> TestResult:
        return self.results.get(
            f"{scenario.path.name}::{test}", TestResult("missing", "the test did not run", [])
        )


def run(
    database_url: str,
    config: Configuration,
    *,
    select: Sequence[Path] = (),
    extra: Iterable[str] = (),
    folder: Path = CORPUS,
) -> Run:
    """One pytest session over the corpus in ``folder`` (or the ``select``\\ ed modules) with
    the dalperf plugin on, in ``config``, against ``database_url`` (a libpq URL of a database
    it may drop tables in)."""
    import time

    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        report, outcomes = Path(tmp) / "dalperf.json", Path(tmp) / "outcomes.json"
        sarif = Path(tmp) / "dalperf.sarif"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(folder / "pytest.ini"),
            "--rootdir",
            str(folder),
            "-p",
            "dalperf.pytest_plugin",
            "-p",
            "pytest_timeout",
            "--dalperf-json",
            str(report),
            "--dalperf-sarif",
            str(sarif),
            "-q",
            "--no-header",
            "-rN",
            "--tb=no",
            *extra,
        ]
        for key, value in config.ini:
            command += ["-o", f"{key}={value}"]
        command += [str(p) for p in select] or [str(folder)]
        # only dalperf and the corpus's own plugin: another query plugin installed beside
        # dalperf (pytest-queryguard) would fail tests of its own accord
        env = {
            **os.environ,
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "CORPUS_DATABASE_URL": database_url,
            "CORPUS_OUTCOMES": str(outcomes),
            "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
        }
        started = time.monotonic()
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        seconds = time.monotonic() - started
        if done.returncode not in (0, 1) or not all(f.is_file() for f in (report, outcomes, sarif)):
            raise RuntimeError(
                f"the corpus session failed (exit {done.returncode}):\n"
                f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            )
        records = {r["test"]: r for r in json.loads(report.read_text())["tests"]}
        verdicts = json.loads(outcomes.read_text())
        located: dict[str, list[tuple[str, str | None, int | None]]] = {}
        for result in json.loads(sarif.read_text())["runs"][0]["results"]:
            where = result.get("locations", [{}])[0].get("physicalLocation", {})
            located.setdefault(result["properties"]["test"], []).append(
                (
                    result["ruleId"].removeprefix("dalperf/"),
                    where.get("artifactLocation", {}).get("uri"),
                    where.get("region", {}).get("startLine"),
                )
            )
    results = {}
    for test, verdict in verdicts.items():
        record = records.get(test, {})
        results[test] = TestResult(
            verdict["verdict"],
            verdict["detail"],
            list(record.get("findings", [])),
            bool(verdict.get("wrote")),
            located.get(test, []),
        )
    return Run(config, results, seconds, done.stdout)


@dataclass
class Judgement:
    """One scenario in one configuration: what was expected, found, and what is wrong."""

    scenario: Scenario
    expected: frozenset[str]
    found: frozenset[str]
    fixed_found: frozenset[str] | None
    problems: list[str] = field(default_factory=list)
    sites_total: int = 0
    sites_own: int = 0
    fix_offered: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.problems


def judge(scenario: Scenario, run_: Run) -> Judgement:
    """Compare one scenario's results with its label."""
    config = run_.config
    main = run_.result(scenario, scenario.tests()[0])
    fixed = run_.result(scenario, "test_fixed") if scenario.bug else None
    expected = scenario.expected(config)
    verdict = Judgement(scenario, expected, main.kinds, fixed.kinds if fixed else None)
    for test, result in ((scenario.tests()[0], main), ("test_fixed", fixed)):
        if result is not None and result.verdict in ("error", "missing"):
            verdict.problems.append(f"{test} {result.verdict}: {result.detail}")
    if main.kinds != expected:
        verdict.problems.append(
            f"kinds: expected {sorted(expected)}, found "
            f"{sorted(main.kinds)}: " + describe(main.findings)
        )
    if fixed is not None and fixed.kinds:
        verdict.problems.append("fixed version not clean: " + describe(fixed.findings))
    for result in (main, fixed):
        for finding in result.findings if result else []:
            verdict.sites_total += 1
            if finding.get("file") == scenario.path.name:
                verdict.sites_own += 1
            else:
                verdict.problems.append(
                    f"call site outside {scenario.path.name}: "
                    f"{finding.get('call_site')} ({finding['kind']} "
                    f"{finding['label']})"
                )
            if not any(
                kind == finding["kind"]
                and uri is not None
                and uri.rpartition("/")[2] == finding.get("file")
                and line == finding["line"]
                for kind, uri, line in result.sarif
            ):
                verdict.problems.append(
                    f"SARIF does not place {finding['kind']} "
                    f"{finding['label']} at {finding.get('file')}:"
                    f"{finding.get('line')} (it has {result.sarif})"
                )
    verdict.fix_offered = [f["fix"] for f in main.findings]
    return verdict


def describe(findings: Sequence[dict[str, Any]]) -> str:
    """The findings in a few words each: kind, message, call site, fix."""
    return (
        "; ".join(
            f"[{f['kind']}] {f['message']} at {f.get('call_site')} fix: {f['fix']}"
            for f in findings
        )
        or "none"
    )


@dataclass
class Summary:
    """The accuracy of one configuration over the corpus."""

    config: Configuration
    seconds: float
    kinds: dict[str, dict[str, int]]  # kind -> tp, fp, fn
    bug_flagged: int
    bug_exact: int
    bug_total: int
    clean_flagged: int
    clean_total: int
    sites_own: int
    sites_total: int
    fixes_clean: int
    fixes_total: int  # BUG scenarios of this configuration that carry a fixed version
    fixes_offered_as_applied: int
    judgements: list[Judgement]

    @property
    def disagreements(self) -> list[Judgement]:
        return [j for j in self.judgements if not j.agrees]


def summarize(run_: Run, corpus: Sequence[Scenario]) -> Summary:
    """Per kind true/false positives and negatives, and the corpus-wide counts, of one run.

    Per kind, a scenario's main test (``test_bug`` or ``test_clean``) is a true positive when
    the kind is expected and found, a false negative when expected and missing, a false
    positive when found and not expected; every kind found in a fixed version is a false
    positive.  "BUG" and "CLEAN" are judged in the configuration: a scenario whose kinds this
    configuration cannot report (a write loop with the write rule off) counts as clean here.
    """
    config = run_.config
    kinds = {k: {"tp": 0, "fp": 0, "fn": 0} for k in KINDS if k in config.kinds}
    judged = [judge(s, run_) for s in corpus]
    counts = dict.fromkeys(
        (
            "bug_flagged",
            "bug_exact",
            "bug_total",
            "clean_flagged",
            "clean_total",
            "fixes_clean",
            "fixes_total",
            "fixes_offered",
        ),
        0,
    )
    for verdict in judged:
        expected, found = verdict.expected, verdict.found
        for kind, row in kinds.items():
            if kind in expected:
                row["tp" if kind in found else "fn"] += 1
            elif kind in found:
                row["fp"] += 1
            if verdict.fixed_found is not None and kind in verdict.fixed_found:
                row["fp"] += 1
        if expected:
            counts["bug_total"] += 1
            counts["bug_flagged"] += bool(found)
            counts["bug_exact"] += found == expected
            # a clean_ module that only this configuration flags has no fixed version
            if verdict.fixed_found is not None:
                counts["fixes_total"] += 1
                counts["fixes_clean"] += not verdict.fixed_found
            fix = _squash(verdict.scenario.fix or "")
            counts["fixes_offered"] += bool(fix) and any(
                fix in _squash(offered) or _squash(offered) in fix
                for offered in verdict.fix_offered
            )
        else:
            counts["clean_total"] += 1
            counts["clean_flagged"] += bool(found)
    return Summary(
        config=config,
        seconds=run_.seconds,
        kinds=kinds,
        bug_flagged=counts["bug_flagged"],
        bug_exact=counts["bug_exact"],
        bug_total=counts["bug_total"],
        clean_flagged=counts["clean_flagged"],
        clean_total=counts["clean_total"],
        sites_own=sum(j.sites_own for j in judged),
        sites_total=sum(j.sites_total for j in judged),
        fixes_clean=counts["fixes_clean"],
        fixes_total=counts["fixes_total"],
        fixes_offered_as_applied=counts["fixes_offered"],
        judgements=judged,
    )


def _squash(text: str) -> str:
    return "".join(text.split())


def table(summaries: Sequence[Summary]) -> str:
    """The summaries as Markdown tables: per kind, then the corpus-wide figures, then every
    disagreement (documented limits marked)."""

    def pct(n: int, total: int) -> str:
        return f"{n}/{total} ({100 * n / total:.1f} %)" if total else "0/0"

    names = [s.config.name for s in summaries]
    lines = [
        "| kind | " + " | ".join(f"{n}: TP / FP / FN" for n in names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for kind in KINDS:
        cells = [
            (
                f"{s.kinds[kind]['tp']} / {s.kinds[kind]['fp']} / {s.kinds[kind]['fn']}"
                if kind in s.kinds
                else "rule off"
            )
            for s in summaries
        ]
        if any(c != "rule off" for c in cells):
            lines.append(f"| `{kind}` | " + " | ".join(cells) + " |")
    rows = [
        ("BUG flagged / total", [pct(s.bug_flagged, s.bug_total) for s in summaries]),
        ("BUG with exactly the labelled kinds", [pct(s.bug_exact, s.bug_total) for s in summaries]),
        ("CLEAN flagged / total", [pct(s.clean_flagged, s.clean_total) for s in summaries]),
        (
            "call sites in the scenario's own file",
            [pct(s.sites_own, s.sites_total) for s in summaries],
        ),
        (
            "fixed versions clean (the fix removed its finding)",
            [pct(s.fixes_clean, s.fixes_total) for s in summaries],
        ),
        (
            "fix line offered = the fix applied",
            [pct(s.fixes_offered_as_applied, s.fixes_total) for s in summaries],
        ),
        ("session wall time", [f"{s.seconds:.0f} s" for s in summaries]),
    ]
    lines += ["", "| | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    lines += ["", "Disagreements:", ""]
    seen = False
    for summary in summaries:
        for verdict in summary.disagreements:
            seen = True
            limit = verdict.scenario.limit_in(summary.config)
            tag = f" (documented limit: {limit})" if limit else ""
            lines.append(
                f"- `{verdict.scenario.path.name}` [{summary.config.name}]{tag}: "
                + " | ".join(p.replace("\n", " ")[:400] for p in verdict.problems)
            )
    if not seen:
        lines.append("- none")
    first = summaries[0]
    differing = [
        j
        for j in first.judgements
        if j.expected
        and j.scenario.fix
        and j.fix_offered
        and not any(
            _squash(j.scenario.fix) in _squash(o) or _squash(o) in _squash(j.scenario.fix)
            for o in j.fix_offered
        )
    ]
    lines += ["", f"Fix lines offered that differ from the fix applied ({first.config.name}):", ""]
    lines += [
        f"- `{j.scenario.path.name}`: applied `{j.scenario.fix}`; offered "
        + "; ".join(f"`{o}`" for o in j.fix_offered)
        for j in differing
    ] or ["- none"]
    return "\n".join(lines)
