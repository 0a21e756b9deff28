"""``dalperf audit`` end to end on a real embedded server: cold start, warm rerun, reseed.

The audit must leave the results JSON, the HTML report and the Markdown digest, exit as
``dalperf check`` does on those results, stop the server it started, reuse data of the same
scale and seed, and never reset a database it did not provision.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dalperf.cli import main
from dalperf.db.embedded import EmbeddedServer
from dalperf.db.targets import data_dir
from dalperf.results.model import read_results
from tests.conftest import table_checksums

SCALE = "0.05"
FAST = ["--iterations", "2", "--only", "render_chains", "--only", "billing"]


def audit(home: Path, out: Path, *extra: str) -> int:
    return main(["audit", "--home", str(home), "--out-dir", str(out), *FAST, *extra])


def test_audit_cold_then_warm_then_another_seed(
    dalperf_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = audit(dalperf_home, out, "--scale", SCALE)
    err = capsys.readouterr().err
    assert "rows loaded (scale 0.05, seed 0)" in err and "6 migration(s) applied" in err
    results = read_results(out / "results.json")
    assert (results.environment["scale"], results.environment["seed"]) == (0.05, 0)
    assert {m.operation for m in results.operations} == {
        "render_chains.delete_chain",
        "billing.get_user_credits_with_reset",
    }
    html = (out / "report.html").read_text()
    assert html.count('<tr class="summary-row"') == 2
    assert (out / "report.md").read_text().startswith("## dalperf audit: ")
    assert results.index_audit is not None and results.index_audit["indexes"]
    assert all(m.plans for m in results.operations)  # every variant explained
    assert 'id="index-audit"' in html
    assert code == main(["check", str(out / "results.json")])  # exit code as `check`
    assert EmbeddedServer(data_dir(dalperf_home)).status() is None  # the server was stopped
    capsys.readouterr()

    assert audit(dalperf_home, out, "--scale", SCALE) == code
    err = capsys.readouterr().err
    assert "reused (scale 0.05, seed 0 already loaded)" in err and "schema up to date" in err

    assert audit(dalperf_home, out, "--scale", SCALE, "--seed", "1") in (0, 1)
    assert "rows loaded (scale 0.05, seed 1)" in capsys.readouterr().err  # its own db: reset
    assert read_results(out / "results.json").environment["seed"] == 1


def test_audit_never_resets_a_database_it_did_not_provision(
    seeded_db: str, dalperf_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = table_checksums(seeded_db)
    code = main(
        [
            "audit",
            "--database-url",
            seeded_db,
            "--scale",
            "0.02",
            "--out-dir",
            str(tmp_path / "out"),
            *FAST,
        ]
    )
    assert code == 2
    assert "dalperf seed --reset --scale 0.02 --seed 0" in capsys.readouterr().err
    assert table_checksums(seeded_db) == before
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scale", "-1"], "scale"),
        (["--only", "render_chain"], "did you mean render_chains"),
        (["--budgets", "missing.toml"], "missing.toml does not exist"),
    ],
)
def test_audit_bad_input_fails_before_provisioning(
    args: list[str],
    message: str,
    dalperf_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["audit", "--out-dir", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not dalperf_home.exists() and not (tmp_path / "out").exists()
