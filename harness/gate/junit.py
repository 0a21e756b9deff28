"""The gate's verdict as JUnit XML, for CI systems that show test reports.

One ``<testcase>`` per operation x variant (``classname`` the operation, ``name`` the
variant).  Budget violations and regressions are ``<failure>`` elements, a variant that
raised is an ``<error>``, a result that disagreed with the reference variant a
``<failure>`` of type ``mismatch``; a pair with none of these passes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from dalperf.gate.check import Finding, Verdict
from dalperf.results import files

SUITE_NAME = "dalperf"


def junit_xml(verdict: Verdict) -> ET.ElementTree[ET.Element]:
    """The verdict as a ``<testsuites>`` document with one suite."""
    by_pair: dict[tuple[str, str], list[Finding]] = {pair: [] for pair in verdict.checked}
    for finding in verdict.findings():
        by_pair.setdefault((finding.operation, finding.variant), []).append(finding)
    errors = sum(1 for found in by_pair.values() if any(f.kind == "error" for f in found))
    failures = sum(
        1 for found in by_pair.values() if found and not any(f.kind == "error" for f in found)
    )
    suites = ET.Element(
        "testsuites",
        name=SUITE_NAME,
        tests=str(len(by_pair)),
        failures=str(failures),
        errors=str(errors),
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=SUITE_NAME,
        tests=str(len(by_pair)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
    )
    for (operation, variant), found in by_pair.items():
        case = ET.SubElement(suite, "testcase", classname=operation, name=variant)
        for finding in found:
            tag = "error" if finding.kind == "error" else "failure"
            element = ET.SubElement(
                case, tag, type=finding.kind, message=f"{finding.check}: {finding.detail}"
            )
            element.text = finding.message
    ET.indent(suites)
    return ET.ElementTree(suites)


def write_junit(verdict: Verdict, path: Path) -> None:
    """Write the JUnit XML atomically (see :func:`dalperf.results.files.write_atomic`)."""
    text = ET.tostring(junit_xml(verdict).getroot(), encoding="unicode", xml_declaration=True)
    files.write_atomic(path, text + "\n", what="JUnit file")
