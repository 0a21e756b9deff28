"""Choosing the driver: ``--driver`` and the URL's ``postgresql+driver://`` on run, audit and
load; bad input; a run through asyncpg of the whole case study; drivers side by side in the
report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dalperf.cli import main
from dalperf.db import drivers, urls
from dalperf.results.model import read_results

SUPPORTED = "psycopg (3), psycopg2 and asyncpg"


@pytest.mark.parametrize("command", ["run", "audit", "load"])
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--driver", "pg8000"], "unsupported driver 'pg8000'"),
        (["--driver", "aiopg"], "unsupported driver 'aiopg'"),
        (
            ["--database-url", "mysql://app:s3cret@db.example/shop"],
            "unsupported database driver mysql",
        ),
        (
            ["--database-url", "mysql+pymysql://app:s3cret@db.example/shop"],
            "unsupported database driver mysql+pymysql",
        ),
        (
            ["--database-url", "postgresql+pg8000://app:s3cret@db.example/shop"],
            "unsupported database driver postgresql+pg8000",
        ),
    ],
)
def test_an_unsupported_driver_is_one_line_naming_the_supported_ones(
    command: str,
    args: list[str],
    named: str,
    dalperf_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([command, *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert named in err and SUPPORTED in err and len(err.splitlines()) == 1
    assert "s3cret" not in captured.out + captured.err
    assert not dalperf_home.exists()  # nothing was provisioned


def test_a_driver_contradicting_the_url_is_a_usage_error(
    dalperf_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            "--driver",
            "psycopg2",
            "--database-url",
            "postgresql+asyncpg://app:s3cret@127.0.0.1:1/shop",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "contradicts the database URL's driver (asyncpg)" in err and "s3cret" not in err


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["--driver", "asyncpg"], "asyncpg"),
        (["--database-url", "postgresql+asyncpg://app:s3cret@127.0.0.1:1/shop"], "asyncpg"),
        (["--database-url", "postgresql+psycopg2://app:s3cret@127.0.0.1:1/shop"], "psycopg2"),
    ],
)
def test_a_driver_that_is_not_installed_names_the_extra(
    args: list[str], extra: str, tmp_path: Path
) -> None:
    """A fresh interpreter in which importing the driver fails, as when it is not installed."""
    script = (
        "import sys; sys.modules[sys.argv[1]] = None\n"
        "from dalperf.cli import main; sys.exit(main(sys.argv[2:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, extra, "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"DALPERF_HOME": str(tmp_path / "home"), "PATH": ""},
    )
    assert done.returncode == 3
    err = done.stderr.strip()
    assert err == f"error: driver {extra} needs `pip install 'dalperf[{extra}]'`"
    assert "s3cret" not in done.stdout + done.stderr


def test_urls_keep_the_driver_for_the_engines() -> None:
    parsed = urls.parse_with_driver("postgresql+asyncpg://u:s3cret@h/db?ssl=require")
    assert parsed.driver is drivers.ASYNCPG
    assert parsed.url.drivername == urls.SQLALCHEMY_DRIVER
    assert parsed.url.query["sslmode"] == "require"
    assert urls.parse_with_driver("postgresql://u@h/db").driver is None
    assert urls.parse_with_driver("host=h dbname=db").driver is None
    assert (
        urls.sqlalchemy_url(urls.parse("postgresql://u:s3cret@h:5/db"), "asyncpg")
        == "postgresql+asyncpg://u:s3cret@h:5/db"
    )
    pair = drivers.pairing("asyncpg")
    assert (pair.async_dialect, pair.sync_dialect) == ("asyncpg", "psycopg")
    pair = drivers.pairing("psycopg2")
    assert (pair.async_dialect, pair.sync_dialect) == ("psycopg_async", "psycopg2")
    described = drivers.pairing("psycopg2").describe()
    assert described["name"] == "psycopg2" and described["sync"].startswith("psycopg2 2.")
    assert described["async"].startswith("psycopg 3.")


def test_the_case_study_on_asyncpg_and_psycopg_side_by_side(
    seeded_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """All nine operations through asyncpg, with equal results, and through psycopg 3 in the
    same run (--driver repeated); the report sets the two files side by side."""
    out = tmp_path / "results.json"
    code = main(
        [
            "run",
            "--database-url",
            seeded_db,
            "--driver",
            "asyncpg",
            "--driver",
            "psycopg",
            "--iterations",
            "2",
            "--warmup",
            "1",
            "--param-sets",
            "1",
            "--no-complexity",
            "--no-explain",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    other = tmp_path / "results.psycopg.json"
    assert f"--beside {other}" in printed.replace("\n", "")
    on_asyncpg, on_psycopg = read_results(out), read_results(other)
    for results, name, dialect in (
        (on_asyncpg, "asyncpg", "asyncpg"),
        (on_psycopg, "psycopg", "psycopg"),
    ):
        assert results.failures == ()
        assert len({m.operation for m in results.operations}) == 9
        env = results.environment["driver"]
        assert (
            env["name"] == name and env["async"] == f"{dialect} {drivers.DRIVERS[name].version()}"
        )
        assert env["version"] == drivers.DRIVERS[name].version() != "unknown"
    html, markdown = tmp_path / "r.html", tmp_path / "r.md"
    assert (
        main(
            [
                "report",
                str(out),
                "--beside",
                str(other),
                "--html",
                str(html),
                "--markdown",
                str(markdown),
            ]
        )
        == 0
    )
    page = html.read_text()
    assert "Drivers side by side" in page
    assert "asyncpg: async asyncpg" in page and "psycopg: async psycopg" in page
    digest = markdown.read_text()
    row = next(
        line
        for line in digest.splitlines()
        if line.startswith(r"| renders.get\_with\_context | naive | 0 ms |")
    )
    assert row.count("RT · p50") == 2
    assert json.loads(out.read_text())["environment"]["driver"]["name"] == "asyncpg"


@pytest.mark.parametrize(
    ("model", "foreign"),
    [("psycopg2", ("psycopg",)), ("asyncpg", ("psycopg", "psycopg2")), ("psycopg", ("psycopg2",))],
)
def test_a_driver_model_loads_no_other_driver(model: str, foreign: tuple[str, ...]) -> None:
    """An app on psycopg2 does not pay for importing psycopg 3 (tens of milliseconds at every
    start) because the two libpq drivers share their set-up rules."""
    script = (
        f"import sys, dalperf.capture.wire.{model}; "
        f"print(','.join(m for m in {foreign!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
