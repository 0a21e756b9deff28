"""TLS settings in a database URL work for every driver: libpq's ``sslmode=`` and asyncpg's
``ssl=`` are translated to each driver's form; a bad one is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dalperf.cli import main

pytestmark = pytest.mark.faults

FAST = (
    "--only",
    "renders.get_by_ids",
    "--iterations",
    "1",
    "--warmup",
    "0",
    "--param-sets",
    "1",
    "--no-complexity",
    "--no-explain",
)


@pytest.mark.parametrize("scheme", ["postgresql+asyncpg", "postgresql+psycopg"])
@pytest.mark.parametrize("tls", ["sslmode=prefer", "ssl=prefer", "ssl=false"])
def test_either_tls_form_works_with_either_driver(
    seeded_db: str, tmp_path: Path, dalperf_home: Path, scheme: str, tls: str
) -> None:
    url = seeded_db.replace("postgresql://", f"{scheme}://", 1) + f"?{tls}"
    out = tmp_path / "r.json"
    assert main(["run", "--database-url", url, *FAST, "-o", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["environment"]["driver"]["name"] == scheme.partition("+")[2]
    assert results["failures"] == [] and results["operations"]


@pytest.mark.parametrize(
    ("tls", "expected"),
    [
        (
            "sslmode=sometimes",
            (
                "sslmode 'sometimes' is not one of disable, allow, prefer, require, "
                "verify-ca, verify-full"
            ),
        ),
        ("ssl=require&sslmode=disable", "ssl=require and sslmode=disable disagree"),
    ],
)
def test_a_bad_tls_setting_is_one_line_exit_2(
    seeded_db: str,
    tmp_path: Path,
    dalperf_home: Path,
    capsys: pytest.CaptureFixture[str],
    tls: str,
    expected: str,
) -> None:
    url = seeded_db.replace("postgresql://", "postgresql+asyncpg://", 1) + f"?{tls}"
    assert main(["run", "--database-url", url, *FAST, "-o", str(tmp_path / "r.json")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0]
    assert not (tmp_path / "r.json").exists()
