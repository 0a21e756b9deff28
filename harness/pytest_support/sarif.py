"""The findings of a test session as SARIF 2.1.0, for code scanning (GitHub and others).

One rule per finding kind (``dalperf/lazy-load`` ...), one result per finding per test, at
the finding's call site (the application line that triggered it), relative to the
repository root (``uriBaseId`` ``%SRCROOT%``: the git top level above pytest's rootdir, or
the rootdir); a call site outside it gets no location rather than an absolute path.
Baselined and allowed findings are kept, marked with a ``suppressions`` entry (external:
the baseline file; inSource: an allow marker or ini pattern), so a viewer can show them as
accepted instead of losing them.  ``partialFingerprints`` hold the finding's stable
identity (test, kind, label), which survives edits of the surrounding code.  With
``--dalperf-prove-fixes`` the message ends with the proof (``fix proven: 26 → 2 queries``),
and ``properties.fixProof`` holds it as the JSON report does (``fix_proof``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dalperf.version import installed_version

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
RULES = {
    "lazy-load": "A relationship is lazy-loaded once per parent object (N+1)",
    "column-reload": "Deferred or expired columns are loaded one object at a time",
    "repeated-statement": "The same SELECT runs again and again",
    "write-loop": "The same INSERT, UPDATE or DELETE is sent row by row",
    "missing-index": "A SELECT scans or sorts a large table that an index would serve",
    "unused-eager-load": "A relationship is loaded eagerly and never read",
}
_SUPPRESSION = {"baselined": "external", "allowed": "inSource"}
SRCROOT = "%SRCROOT%"


def repository_root(rootdir: Path) -> Path:
    """The git top level at or above ``rootdir``, else ``rootdir``."""
    for folder in (rootdir, *rootdir.parents):
        if (folder / ".git").exists():
            return folder
    return rootdir


def sarif_log(records: Iterable[Any], rootdir: Path) -> dict[str, Any]:
    """A SARIF log of every finding in ``records`` (:class:`TestRecord`), whose call sites
    are relative to ``rootdir`` (or absolute outside it)."""
    base = repository_root(rootdir.resolve())
    results = []
    for record in records:
        for finding in record.findings:
            results.append(_result(record.test, finding, _uri(finding.get("file"), rootdir, base)))
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "dalperf",
                        "version": installed_version(),
                        "informationUri": "https://pypi.org/project/dalperf/",
                        "rules": [
                            {
                                "id": f"dalperf/{kind}",
                                "name": kind.replace("-", " "),
                                "shortDescription": {"text": text},
                                "defaultConfiguration": {"level": "warning"},
                            }
                            for kind, text in RULES.items()
                        ],
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": base.as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _uri(file: str | None, rootdir: Path, base: Path) -> str | None:
    """``file`` (relative to ``rootdir``, or absolute) relative to ``base``; None outside it."""
    if not file:
        return None
    path = (rootdir / file).resolve()
    if not path.is_relative_to(base):
        return None
    return Path(os.path.relpath(path, base)).as_posix()


def _result(test: str, finding: dict[str, Any], uri: str | None) -> dict[str, Any]:
    identity = "\x1f".join((test, finding["kind"], finding["label"]))
    proof = finding.get("fix_proof")  # --dalperf-prove-fixes: what a rerun with the fix showed
    proven = f" ({proof['detail']})" if proof else ""
    result: dict[str, Any] = {
        "ruleId": f"dalperf/{finding['kind']}",
        "ruleIndex": list(RULES).index(finding["kind"]),
        "level": "warning",
        "message": {"text": f"{finding['message']} in {test}. Fix: {finding['fix']}{proven}"},
        "partialFingerprints": {
            "dalperfIdentity/v1": hashlib.sha256(identity.encode()).hexdigest()
        },
        "properties": {
            "test": test,
            "label": finding["label"],
            "count": finding["count"],
            "sql": finding["sql"],
        },
    }
    if proof:
        result["properties"]["fixProof"] = proof
    if uri is not None:
        result["locations"] = [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": SRCROOT},
                    "region": {"startLine": max(int(finding["line"] or 1), 1)},
                }
            }
        ]
    if finding["status"] in _SUPPRESSION:
        result["suppressions"] = [
            {
                "kind": _SUPPRESSION[finding["status"]],
                "justification": f"{finding['status']} in dalperf",
            }
        ]
    return result
