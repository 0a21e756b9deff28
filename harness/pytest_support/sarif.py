"""The findings of a test session as SARIF 2.1.0, for code scanning (GitHub and others).

One rule per finding kind (``dalperf/lazy-load`` ...), one result per finding per test, at
the finding's call site (the application line that triggered it) relative to the rootdir.
Baselined and allowed findings are kept, marked with a ``suppressions`` entry (external:
the baseline file; inSource: an allow marker or ini pattern), so a viewer can show them as
accepted instead of losing them.  ``partialFingerprints`` hold the finding's stable
identity (test, kind, label), which survives edits of the surrounding code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from dalperf.version import installed_version

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
RULES = {
    "lazy-load": "A relationship is lazy-loaded once per parent object (N+1)",
    "column-reload": "Deferred or expired columns are loaded one object at a time",
    "repeated-statement": "The same SELECT runs again and again",
    "write-loop": "The same INSERT, UPDATE or DELETE is sent row by row",
    "missing-index": "A SELECT scans or sorts a large table that an index would serve",
}
_SUPPRESSION = {"baselined": "external", "allowed": "inSource"}


def sarif_log(records: Iterable[Any]) -> dict[str, Any]:
    """A SARIF log of every finding in ``records`` (:class:`TestRecord`)."""
    results = []
    for record in records:
        for finding in record.findings:
            results.append(_result(record.test, finding))
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "dalperf", "version": installed_version(),
                "informationUri": "https://pypi.org/project/dalperf/",
                "rules": [{"id": f"dalperf/{kind}", "name": kind.replace("-", " "),
                           "shortDescription": {"text": text},
                           "defaultConfiguration": {"level": "warning"}}
                          for kind, text in RULES.items()]}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def _result(test: str, finding: dict[str, Any]) -> dict[str, Any]:
    identity = "\x1f".join((test, finding["kind"], finding["label"]))
    result: dict[str, Any] = {
        "ruleId": f"dalperf/{finding['kind']}",
        "ruleIndex": list(RULES).index(finding["kind"]),
        "level": "warning",
        "message": {"text": f"{finding['message']} in {test}. Fix: {finding['fix']}"},
        "partialFingerprints": {
            "dalperfIdentity/v1": hashlib.sha256(identity.encode()).hexdigest()},
        "properties": {"test": test, "label": finding["label"], "count": finding["count"],
                       "sql": finding["sql"]},
    }
    if finding.get("file"):
        result["locations"] = [{"physicalLocation": {
            "artifactLocation": {"uri": finding["file"].replace("\\", "/")},
            "region": {"startLine": max(int(finding["line"] or 1), 1)}}}]
    if finding["status"] in _SUPPRESSION:
        result["suppressions"] = [{"kind": _SUPPRESSION[finding["status"]],
                                   "justification": f"{finding['status']} in dalperf"}]
    return result
