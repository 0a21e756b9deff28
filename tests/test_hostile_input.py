"""Hostile and broken input: results files that do not match the schema, partial results,
rich markup in names and messages, HTML in claims, two ``db start`` at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dalperf.cli import main
from dalperf.results.load import read_load_results, summarise
from dalperf.results.model import Failure, read_results
from tests.test_check import make_measurement, make_results
from tests.test_faults_io import dalperf, one_error_line
from tests.test_load import request

# --------------------------------------------------------------------------------------
# The results file against its schema
# --------------------------------------------------------------------------------------


def good_document() -> dict[str, Any]:
    results = make_results(
        make_measurement(variant="naive"),
        make_measurement(),
        failures=(
            Failure(operation="renders.get_by_ids", variant="naive", kind="error", message="boom"),
        ),
    )
    return json.loads(results.dumps())


def at(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit setting the dotted ``path`` (``operations.0.queries``) to ``value``."""

    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "where", "what"),
    [
        (at("surprise", 1), "$", "'surprise' was unexpected"),
        (at("environment", []), "$.environment", "is not of type 'object'"),
        (at("operations", {}), "$.operations", "is not of type 'array'"),
        (at("operations.1.queries", None), "$.operations[1].queries", "not of type 'integer'"),
        (at("operations.1.queries", "many"), "$.operations[1].queries", "not of type 'integer'"),
        (at("operations.1.queries", -1), "$.operations[1].queries", "less than the minimum"),
        (at("operations.0.n_plus_one", "x"), "$.operations[0].n_plus_one", "not of type 'array'"),
        (at("operations.0.indexes", "yes"), "$.operations[0].indexes", "not of type 'boolean'"),
        (at("operations.0.wall_ms.p95", "slow"), "$.operations[0].wall_ms.p95", "'slow' is not"),
        (
            at("operations.0.wall_ms.samples", [1, "x"]),
            "$.operations[0].wall_ms.samples[1]",
            "'x' is not of type 'number'",
        ),
        (at("operations.0.surprise", 1), "$.operations[0]", "'surprise' was unexpected"),
        (at("index_audit", "x"), "$.index_audit", "is not of type 'object', 'null'"),
        (at("failures.0.message", 3), "$.failures[0].message", "is not of type 'string'"),
        (at("environment.scale", "big"), "$.environment.scale", "is not of type 'number'"),
        (at("partial", 1), "$.partial", "is not of type 'string', 'null'"),
    ],
)
def test_a_malformed_results_file_exits_2_naming_the_json_path(
    edit: Callable[[dict[str, Any]], None],
    where: str,
    what: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = good_document()
    edit(document)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    for command in (["check", str(path)], ["report", str(path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert f"is malformed at {where}: " in err and what in err, err


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_with_their_path(literal: str, tmp_path: Path) -> None:
    text = json.dumps(good_document()).replace('"queries": 1,', f'"queries": {literal},', 1)
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(
        Exception,
        match=r"malformed at \$\.operations\[0\]\.queries: .* is not "
        r"a JSON number",
    ):
        read_results(path)


def test_deeply_nested_input_exits_2_in_one_line(tmp_path: Path) -> None:
    for depth in (100, 100_000):  # below and above the parser's own recursion limit
        document = good_document()
        document["environment"]["deep"] = json.loads("[" * 90 + "]" * 90)
        text = json.dumps(document).replace('"deep": [', '"deep": ' + "[" * depth, 1)
        text = text.replace("]]]", "]]]" + "]" * depth, 1)
        path = tmp_path / "results.json"
        path.write_text(text)
        result = dalperf("check", str(path), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        line = one_error_line(result)
        assert "nested" in line and str(path) in line


def test_a_valid_file_with_optional_fields_absent_still_reads(tmp_path: Path) -> None:
    document = good_document()
    for key in ("failures", "catalog", "index_audit", "partial"):
        del document[key]
    for key in ("error", "complexity", "budget", "violations", "plans"):
        del document["operations"][0][key]
    document["environment"]["driver"] = {"name": "psycopg", "any": ["shape"]}  # free-form
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    results = read_results(path)
    assert results.failures == () and results.partial is None
    assert results.environment["driver"]["name"] == "psycopg"


def test_a_malformed_load_file_names_the_json_path(tmp_path: Path) -> None:
    results = summarise(
        [request(1.0, 2.5, "optimized", "/optimized/credits")],
        variants=("optimized",),
        environment={"users": 1},
    )
    document = json.loads(results.dumps())
    document["variants"][0]["requests"] = "lots"
    path = tmp_path / "load.json"
    path.write_text(json.dumps(document))
    with pytest.raises(Exception, match=r"malformed at \$\.variants\[0\]\.requests: 'lots'"):
        read_load_results(path)


# --------------------------------------------------------------------------------------
# Partial results
# --------------------------------------------------------------------------------------

REASON = "the database at 127.0.0.1:5432 went away mid-run (server closed the connection)"


def test_check_fails_partial_results_unless_allowed_and_the_report_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    path = tmp_path / "results.json"
    complete = make_results(make_measurement(variant="naive"), make_measurement())
    dataclasses.replace(complete, partial=REASON).save(path)
    junit = tmp_path / "junit.xml"
    assert main(["check", str(path), "--junit", str(junit)]) == 1
    captured = capsys.readouterr()
    assert "the results are partial" in captured.out and REASON in captured.out
    assert "--allow-partial" in captured.err and REASON in captured.err
    assert "partial" in junit.read_text()
    assert main(["check", str(path), "--allow-partial"]) == 0
    capsys.readouterr()
    assert main(["report", str(path)]) == 0
    html = (tmp_path / "report.html").read_text()
    markdown = (tmp_path / "report.md").read_text()
    assert "Partial results" in html and "went away mid-run" in html
    assert "**Partial results**" in markdown
    complete.save(path)  # the same measurements, complete: no banner, and check passes
    assert main(["check", str(path)]) == 0
    assert main(["report", str(path)]) == 0
    assert "Partial results" not in (tmp_path / "report.html").read_text()


# --------------------------------------------------------------------------------------
# Markup in names, messages and claims
# --------------------------------------------------------------------------------------

MARKUP = "[/x] [bold red]loud[/] [link=http://e.vil]"


def test_rich_markup_in_file_names_and_messages_is_printed_as_it_is(tmp_path: Path) -> None:
    missing = dalperf("check", "[/x].json", cwd=tmp_path)
    assert missing.returncode == 2
    assert "results file [/x].json does not exist" in one_error_line(missing)
    folder = tmp_path / "[bold]"
    folder.mkdir()
    path = folder / "r[red].json"
    make_results(
        make_measurement(variant="naive"),
        make_measurement(error=MARKUP),
        failures=(
            Failure(
                operation="renders.get_by_ids", variant="optimized", kind="error", message=MARKUP
            ),
        ),
    ).save(path)
    checked = dalperf("check", str(path), cwd=tmp_path)
    assert checked.returncode == 1 and "MarkupError" not in checked.stderr
    assert MARKUP in checked.stdout
    reported = dalperf("report", str(path), cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    assert f"wrote {folder / 'report.html'}" in reported.stdout
    unknown = dalperf("run", "--only", "[/x]", "--ephemeral", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no operation '[/x]'" in one_error_line(unknown)


def test_report_md_escapes_claims_and_every_other_value(tmp_path: Path) -> None:
    script = "<script>alert(1)</script>"
    results = make_results(make_measurement(variant="naive"), make_measurement())
    path = tmp_path / "results.json"
    document = json.loads(results.dumps())
    document["catalog"] = {
        "renders.get_by_ids": {
            "description": script,
            "variants": {"naive": "", "optimized": ""},
            "claims": {
                "naive": {"wall_ms": script, "queries": script},
                "optimized": {"wall_ms": f"{script}|**x**"},
            },
            "size": {"name": script, "default": script},
            "mutates": False,
        }
    }
    path.write_text(json.dumps(document))
    assert main(["report", str(path)]) == 0
    markdown = (tmp_path / "report.md").read_text()
    assert "<script" not in markdown and "&lt;script&gt;" in markdown
    assert "\\*\\*x\\*\\*" in markdown and "\\|" in markdown  # no bold, no new table cell
    assert "&amp;lt;" not in markdown  # escaped once, not twice


# --------------------------------------------------------------------------------------
# Two `db start` at once on a fresh home
# --------------------------------------------------------------------------------------


def test_two_db_starts_at_once_on_a_fresh_home_both_succeed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    command = [sys.executable, "-m", "dalperf", "db", "start", "--home", str(home)]
    starts = [
        subprocess.Popen(
            command, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:
        outcomes = [(p.wait(timeout=180), *p.communicate()) for p in starts]
        assert [code for code, _, _ in outcomes] == [0, 0], outcomes
        said = sorted(out.split(":")[0] for _, out, _ in outcomes)
        assert said == ["already running", "started"], outcomes
        pids = {out.split("pid ")[1].split(",")[0] for _, out, _ in outcomes}
        assert len(pids) == 1  # the same server
    finally:
        stopped = subprocess.run(
            [sys.executable, "-m", "dalperf", "db", "stop", "--home", str(home)],
            cwd=tmp_path,
            text=True,
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped"
