"""Markdown digests of the plugin's suite JSON and of ``dalperf compare``'s record.

A digest is what a pull request's reviewer reads first: the verdict, what failed and where,
in a few lines of Markdown for a step summary or a pull-request comment. It is rendered from
the JSON file alone (never a database), with the standard library, so it needs none of the
``report`` extra: the plugin's users install ``dalperf`` and pytest only.

The audit's own digest is ``report.md``, written by ``dalperf report``/``dalperf audit``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dalperf.errors import UsageError

SUITE_VERSION = 1  # the plugin's suite JSON (``--dalperf-json``)
COMPARE_KIND = "dalperf-compare"
MOST = 10  # rows of a "top" table
_PIPE = str.maketrans({"|": "\\|", "\n": " ", "\r": " "})


def digest(data: Any) -> str:
    """The Markdown digest of a plugin suite JSON or a ``dalperf compare`` record.

    :class:`UsageError` for anything else (a results JSON has ``report.md`` instead).
    """
    if isinstance(data, Mapping):
        if data.get("kind") == COMPARE_KIND:
            return compare_digest(data)
        if "tests" in data and data.get("version") == SUITE_VERSION:
            return suite_digest(data)
    raise UsageError(
        "expected the plugin's --dalperf-json file or dalperf compare's JSON "
        "(for a results JSON, dalperf report writes report.md)"
    )


def _cell(value: Any) -> str:
    return str(value).translate(_PIPE)


def _code(text: str) -> str:
    return f"`{_cell(text).replace('`', chr(39))}`"


def _where(finding: Mapping[str, Any]) -> str:
    file, line = finding.get("file"), finding.get("line")
    if not file:
        return "–"
    return _code(f"{file}:{line}" if line else str(file))


def suite_digest(data: Mapping[str, Any]) -> str:
    """The test session: tests, findings by kind and status, each new finding with its call
    site and fix, and the tests that sent the most queries."""
    tests: Sequence[Mapping[str, Any]] = data.get("tests") or []
    findings = [(t, f) for t in tests for f in t.get("findings") or []]
    new = [(t, f) for t, f in findings if f.get("status") == "new"]
    failed = sum(1 for t in tests if t.get("outcome") == "failed")
    verdict = "failed" if new or failed else "passed"
    lines = [
        f"### dalperf: {verdict}",
        "",
        f"{len(tests)} test(s) measured, {sum(int(t.get('queries') or 0) for t in tests)} "
        f"queries in all; {len(findings)} finding(s): "
        f"{_counts(f.get('status', 'new') for _, f in findings) or 'none'}.",
        "",
    ]
    if findings:
        lines += ["| kind | count |", "| --- | ---: |"]
        lines += [
            f"| {_cell(k)} | {n} |"
            for k, n in sorted(Counter(f.get("kind", "?") for _, f in findings).items())
        ]
        lines.append("")
    if new:
        lines += ["| test | finding | call site | fix |", "| --- | --- | --- | --- |"]
        for test, finding in new:
            fix = finding.get("fix")
            lines.append(
                f"| {_code(test.get('test', '?'))} | "
                f"{_cell(finding.get('message') or finding.get('label', ''))} | "
                f"{_where(finding)} | {_code(fix) if fix else '–'} |"
            )
        lines.append("")
    busiest = sorted(tests, key=lambda t: (-int(t.get("queries") or 0), t.get("test", "")))
    busiest = [t for t in busiest if t.get("queries")][:MOST]
    if busiest:
        lines += [
            "<details><summary>Tests with the most queries</summary>",
            "",
            "| test | queries | network round trips |",
            "| --- | ---: | ---: |",
        ]
        lines += [
            f"| {_code(t.get('test', '?'))} | {t.get('queries')} | "
            f"{_number(t.get('network_round_trips'))} |"
            for t in busiest
        ]
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def _counts(statuses: Iterable[str]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(Counter(statuses).items()))


def _number(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _ratio(ratio: Mapping[str, Any] | None) -> str:
    if not ratio or ratio.get("value") is None:
        return "–"
    low, high = ratio.get("low"), ratio.get("high")
    interval = (
        f" [{_number(low, 2)}, {_number(high, 2)}]" if low is not None and high is not None else ""
    )
    return f"{_number(ratio['value'], 2)}×{interval}"


def compare_digest(data: Mapping[str, Any]) -> str:
    """Base against head: one row per operation × variant, regressions first."""
    pairs: Sequence[Mapping[str, Any]] = data.get("pairs") or []
    base = data.get("base") or {}
    head = data.get("head") or {}
    verdict = "passed" if data.get("passed") else "failed"

    def short(sha):
        return str(sha)[:10] if sha else "working tree"

    lines = [
        f"### dalperf compare: {verdict}",
        "",
        f"base {_code(str(base.get('ref', '?')))} ({short(base.get('commit'))}) against "
        f"head ({short(head.get('commit'))}); {len(pairs)} operation × variant pair(s), "
        f"{sum(1 for p in pairs if not p.get('passed'))} failed.",
        "",
        "| operation | variant | queries base → head | round trips base → head | "
        "p50 ms base → head | head / base | verdict |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for pair in sorted(
        pairs, key=lambda p: (bool(p.get("passed")), p.get("operation", ""), p.get("variant", ""))
    ):
        b, h = pair.get("base") or {}, pair.get("head") or {}
        problems = [r.get("message", "") for r in pair.get("regressions") or []]
        if pair.get("mismatch"):
            problems.append("results differ from the base's")
        if h.get("error"):
            problems.append(f"head raised: {h['error']}")
        lines.append(
            f"| {_cell(pair.get('operation', '?'))} | {_cell(pair.get('variant', '?'))} | "
            f"{b.get('queries', '–')} → {h.get('queries', '–')} | "
            f"{b.get('round_trips', '–')} → {h.get('round_trips', '–')} | "
            f"{_number((b.get('wall_ms') or {}).get('p50'), 2)} → "
            f"{_number((h.get('wall_ms') or {}).get('p50'), 2)} | {_ratio(pair.get('ratio'))} | "
            f"{'ok' if pair.get('passed') else _cell('; '.join(problems) or 'failed')} |"
        )
    lines.append("")
    return "\n".join(lines)
