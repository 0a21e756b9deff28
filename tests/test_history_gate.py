"""``dalperf history check``: generated histories in a real store (SQLite file and
PostgreSQL), heads that pass and heads that regressed a count, a plan or the latency."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dalperf.cli import main
from dalperf.history import gate, ingest
from dalperf.history.model import Commit
from dalperf.history.store import Store
from dalperf.results.model import Measurement
from tests.history_files import SHAPE_SEQ, audit_results, measurement, noisy, write

T0 = datetime(2026, 3, 1, tzinfo=UTC)
OP = "renders.get_by_ids/optimized"
NAIVE = "renders.get_by_ids/naive"
CENTRE_MS = 2.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    return str(request.getfixturevalue("fresh_db"))


def sha(number: int) -> str:
    return f"{number:040x}"


def add_history(
    url: str, rows: Sequence[Sequence[Measurement]], *, branch: str = "main", start: int = 0
) -> None:
    """One result per row, at commits ``sha(start)``, ``sha(start + 1)``, ... an hour apart."""
    with Store.open(url) as store:
        for offset, row in enumerate(rows):
            number = start + offset
            document = audit_results(row, started_at=f"run {number}").to_dict()
            store.add(
                ingest.from_document(document, source=f"r{number}.json"),
                Commit(
                    sha=sha(number),
                    subject=f"commit {number}",
                    time=T0 + timedelta(hours=number),
                    branch=branch,
                ),
            )


def steady(
    rng: random.Random,
    *,
    queries: int = 1,
    centre: float = CENTRE_MS,
    shape: Sequence[str] | None = None,
) -> list[Measurement]:
    extra = {"shape": shape} if shape else {}
    return [
        measurement(NAIVE, queries=21, wall=noisy(rng, centre * 3)),
        measurement(OP, queries=queries, wall=noisy(rng, centre), **extra),
    ]


@pytest.fixture
def head_file(tmp_path: Path) -> Iterator[object]:
    def make(rows: Sequence[Measurement], name: str = "head.json") -> str:
        return str(write(tmp_path / name, audit_results(rows, started_at="head")))

    yield make


def check(url: str, path: str, *args: str) -> int:
    return main(["history", "check", path, "--history", url, "--commit", "f" * 40, *args])


def test_a_head_like_the_history_passes(store_url: str, head_file, capsys) -> None:
    rng = random.Random(1)
    add_history(store_url, [steady(rng) for _ in range(25)])
    assert check(store_url, head_file(steady(rng))) == 0
    out = capsys.readouterr().out
    assert "2 of 2 series compared with the last 20 main results" in out
    assert f"({sha(5)[:10]}..{sha(24)[:10]}): no regression" in out


def test_a_count_that_rose_names_the_figure_the_commits_and_the_plan_change(
    store_url: str, head_file, capsys
) -> None:
    rng = random.Random(2)
    add_history(
        store_url, [steady(rng) for _ in range(8)] + [steady(rng, queries=2) for _ in range(12)]
    )
    regressed = head_file(steady(rng, queries=21, shape=SHAPE_SEQ))
    assert check(store_url, regressed) == 1
    out, err = capsys.readouterr()
    assert (
        f"{OP}: queries rose from 2 to 21 (2 held on main {sha(8)[:10]}..{sha(19)[:10]}, "
        f"21 at ffffffffff); its plan shape changed"
    ) in out
    assert f"{OP}: plan shape changed since {sha(19)[:10]}" in out
    assert "Index Scan using renders_pkey on renders" in out and "Seq Scan on renders" in out
    assert out.count("Seq Scan on renders") == 1  # the shapes are shown once
    assert "2 regression(s) against the last 20 main results" in err
    assert NAIVE + ":" not in out  # the naive variant did not change
    # the step summary of a CI job gets the same, as Markdown
    summary = Path(regressed).parent / "summary.md"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_STEP_SUMMARY", str(summary))
        assert check(store_url, regressed) == 1
    capsys.readouterr()
    text = summary.read_text()
    assert text.startswith(
        "### dalperf history check: head.json, 2 regression(s) against the last 20 main results"
    )
    assert "- renders.get\\_by\\_ids/optimized: queries rose from 2 to 21" in text
    assert "  plan shapes after:\n\n  ```text\n  Seq Scan on renders\n  ```" in text
    # with plan changes allowed, the count still fails, the plan change is a note
    assert check(store_url, regressed, "--allow-plan-change") == 1
    out = capsys.readouterr().out
    assert "plan shape changed since" in out and "allowed" in out
    assert out.count("Seq Scan on renders") == 1  # now beside the count
    # the value main moved to is no regression
    assert check(store_url, head_file(steady(rng, queries=2), "same.json")) == 0


def test_latency_fails_above_the_window_and_beyond_the_tolerance_only(
    store_url: str, head_file, capsys
) -> None:
    rng = random.Random(3)
    add_history(store_url, [steady(rng) for _ in range(20)])
    slower = head_file(steady(rng, centre=CENTRE_MS * 1.5), "slower.json")
    assert check(store_url, slower) == 1
    out = capsys.readouterr().out
    assert f"{OP}: p95" in out and "is above every p95 of the last 20 results" in out
    assert f"({sha(0)[:10]}..{sha(19)[:10]}: max" in out and "tolerance of 10%" in out
    assert check(store_url, slower, "--tolerance", "0.8") == 0
    capsys.readouterr()
    # just above the window's max, within the tolerance of its median: not a regression
    with Store.open(store_url) as store:
        window = store.window(kind="audit", series="default", branch="main", size=20)
    highest = max(points[OP].p95_ms for _, points in window)
    barely = head_file(
        [
            measurement(NAIVE, queries=21, wall=noisy(rng, CENTRE_MS * 3)),
            measurement(OP, wall=(CENTRE_MS,) * 19 + (highest * 1.01,)),
        ],
        "barely.json",
    )
    assert check(store_url, barely) == 0


def test_one_noisy_run_in_the_window_fails_nothing(store_url: str, head_file) -> None:
    rng = random.Random(4)
    rows = [steady(rng) for _ in range(20)]
    rows[10] = steady(rng, centre=CENTRE_MS * 4)
    add_history(store_url, rows)
    assert check(store_url, head_file(steady(rng))) == 0


def test_heads_drawn_from_the_history_distribution_never_fail(tmp_path: Path) -> None:
    """The false-alarm rate on unchanged code: 300 heads, seeded, none fails."""
    url = str(tmp_path / "history.sqlite")
    rng = random.Random(5)
    add_history(url, [steady(rng) for _ in range(20)])
    with Store.open(url) as store:
        failures = 0
        for number in range(300):
            head = ingest.from_document(audit_results(steady(rng)).to_dict(), source=f"h{number}")
            failures += not gate.check(store, head, head_sha="f" * 40).passed
    assert failures == 0


def test_latency_needs_enough_results_and_other_branches_do_not_count(
    store_url: str, head_file, capsys
) -> None:
    rng = random.Random(6)
    add_history(store_url, [steady(rng) for _ in range(3)])
    add_history(store_url, [steady(rng, queries=9) for _ in range(5)], branch="feature", start=100)
    slower = head_file(steady(rng, centre=CENTRE_MS * 3))
    assert check(store_url, slower) == 0
    out = capsys.readouterr().out
    assert "p95 not judged, 3 result(s) with a p95 in the window" in out
    assert "last 3 main results" in out
    # the feature branch is a history of its own
    assert (
        check(store_url, head_file(steady(rng, queries=9), "nine.json"), "--branch", "feature") == 0
    )
    assert (
        check(store_url, head_file(steady(rng, queries=10), "ten.json"), "--branch", "feature") == 1
    )


def test_the_heads_own_stored_result_is_left_out_of_the_window(store_url: str, head_file) -> None:
    rng = random.Random(7)
    add_history(store_url, [steady(rng) for _ in range(5)] + [steady(rng, queries=3)])
    head = head_file(steady(rng, queries=3))
    assert main(["history", "check", head, "--history", store_url, "--commit", sha(5)]) == 1
    assert main(["history", "check", head, "--history", store_url, "--commit", sha(6)]) == 0


def test_window_and_series(store_url: str, head_file, capsys) -> None:
    rng = random.Random(8)
    add_history(
        store_url,
        [steady(rng, queries=5) for _ in range(10)] + [steady(rng, queries=1) for _ in range(10)],
    )
    head = head_file(steady(rng, queries=3))
    assert check(store_url, head) == 1  # 1 is the newest: 3 rose
    assert check(store_url, head, "--window", "5") == 1
    capsys.readouterr()
    assert check(store_url, head, "--series", "other") == 0
    assert "nothing to compare" in capsys.readouterr().out


def test_incomparable_or_bad_heads_exit_2(store_url: str, tmp_path: Path, capsys) -> None:
    rng = random.Random(9)
    add_history(store_url, [steady(rng) for _ in range(3)])
    other = write(tmp_path / "scale10.json", audit_results(steady(rng), scale=10.0))
    assert check(store_url, str(other)) == 2
    err = capsys.readouterr().err
    assert "scale 10.0 (file) vs 1.0 (series)" in err and len(err.strip().splitlines()) == 1
    assert check(store_url, str(tmp_path / "missing.json")) == 2
    assert check(store_url, str(other), "--window", "0") == 2
