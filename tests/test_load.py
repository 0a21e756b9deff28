"""The load test for real: the case-study app under uvicorn, locust headless against it.

Every run here starts real processes (uvicorn, locust and its workers) against the session's
seeded embedded PostgreSQL, for a few seconds; the assertions are about what a broken
driver gets wrong: figures rounded into locust's buckets, workers' requests lost by the
master, writes that stay in the database, processes left behind (after a normal end and
after Ctrl-C).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

import dalperf.scenarios
from dalperf.cli import main
from dalperf.db import drivers, urls
from dalperf.errors import UsageError
from dalperf.loadtest import driver as loadtest
from dalperf.loadtest import locust_side
from dalperf.loadtest.driver import LoadConfig, run_load, serve
from dalperf.measure.engines import Engines
from dalperf.measure.registry import REGISTRY
from dalperf.report.loadtest import endpoint_of, load_view
from dalperf.results import load as load_results
from dalperf.results.load import LoadResults, Request, summarise
from dalperf.scenarios.app import INPUT_WAIT_HEADER, ROWS_WRITTEN, Input, draw_inputs, pick
from tests.conftest import interruptible, table_checksums, target_for
from tests.test_report_browser import browser  # noqa: F401  (the fixture)

APP = "dalperf.scenarios.app:app"
LOCUSTFILE = Path(dalperf.scenarios.__file__).with_name("locustfile.py")
OUR_PROCESSES = ("uvicorn", "locust")


def config(**overrides: Any) -> LoadConfig:
    """A short run: 4 users for 4 s, both variants."""
    values: dict[str, Any] = {
        "app": APP,
        "locustfile": LOCUSTFILE,
        "users": 4,
        "spawn_rate": 10.0,
        "run_time_s": 4,
    }
    return LoadConfig(**{**values, **overrides})


def ours(process: psutil.Process) -> bool:
    try:
        command = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return False
    return any(f"-m {name}" in command for name in OUR_PROCESSES)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def watch(root: psutil.Process, until: Callable[[], bool], seen: dict[int, str]) -> None:
    """Note in ``seen`` the uvicorn and locust processes under ``root`` until ``until()``."""
    while not until():
        try:
            for child in root.children(recursive=True):
                if child.pid not in seen and ours(child):
                    seen[child.pid] = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)


def run_watched(url: str, load_config: LoadConfig) -> tuple[LoadResults, dict[int, str]]:
    """``run_load`` in a thread, with the processes it started noted while it runs."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["results"] = run_load(target_for(url), load_config, environment={"scale": 0.05})
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    thread.start()
    seen: dict[int, str] = {}
    watch(psutil.Process(), lambda: not thread.is_alive(), seen)
    for pid in before:  # started by another fixture (the served app), not by this run
        seen.pop(pid, None)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["results"], seen


# --------------------------------------------------------------------------------------
# From records to figures (no processes)
# --------------------------------------------------------------------------------------


def request(
    start: float,
    ms: float,
    variant: str,
    name: str,
    *,
    ok: bool = True,
    queries: int | None = 1,
    user: int = 1,
    node: str = "local",
    error: str | None = None,
) -> Request:
    return Request(start, ms, variant, name, ok, queries, queries, user, error, node)


def test_summarise_keeps_exact_milliseconds_and_counts_per_variant() -> None:
    times = [1.234, 2.718, 3.1416, 10.5, 40.25, 7.75, 0.333, 12.0]
    requests = [
        request(100.0 + i * 0.5, ms, "optimized", "/optimized/projects", user=i % 2)
        for i, ms in enumerate(times)
    ]
    requests += [
        request(100.2, 55.5, "naive", "/naive/projects", queries=21),
        request(101.0, 80.0, "naive", "/naive/chain", queries=52),
        request(
            102.0, 3.25, "naive", "/naive/chain", ok=False, queries=None, error="HTTPError: 500"
        ),
    ]
    results = summarise(requests, variants=("naive", "optimized"), environment={"users": 3})
    end = max(r.start + r.ms / 1000 for r in requests)
    assert results.duration_s == pytest.approx(end - 100.0, abs=1e-3)
    optimized = results.variant("optimized")
    assert optimized.latency_ms.p95 == pytest.approx(float(np.percentile(times, 95)))
    assert optimized.latency_ms.p50 != round(optimized.latency_ms.p50)  # not a locust bucket
    assert optimized.users == 2 and optimized.requests == 8 and optimized.failures == 0
    assert optimized.rps == pytest.approx(8 / results.duration_s, rel=1e-3)
    naive = results.variant("naive")
    assert naive.failures == 1 and naive.failure_ratio == pytest.approx(1 / 3)
    assert naive.queries_per_request == pytest.approx((21 + 52) / 2)  # the failure sent none
    assert {e.name: e.queries_per_request for e in naive.endpoints} == {
        "/naive/chain": 52.0,
        "/naive/projects": 21.0,
    }
    assert naive.errors == ({"name": "/naive/chain", "error": "HTTPError: 500", "count": 1},)
    with pytest.raises(UsageError, match="no variant 'summary'"):
        results.variant("summary")


def test_load_results_round_trip_and_bad_files_are_refused(tmp_path: Path) -> None:
    results = summarise(
        [request(1.0, 2.5, "optimized", "/optimized/credits")],
        variants=("naive", "optimized"),
        environment={"users": 1},
        locust_totals={"requests": 1, "failures": 0},
    )
    path = tmp_path / "load.json"
    results.save(path)
    assert (
        load_results.read_load_results(path).dumps() == results.dumps()
    )  # naive without requests too
    data = json.loads(path.read_text())
    for broken, message in (
        ({**data, "schema_version": 2}, "schema_version 2"),
        ({**data, "kind": "other"}, "not a dalperf load results file"),
        ({**data, "extra": 1}, r"at \$: Additional properties are not allowed \('extra' was"),
    ):
        path.write_text(json.dumps(broken))
        with pytest.raises(UsageError, match=message):
            load_results.read_load_results(path)
    path.write_text("{")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_results.read_load_results(path)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("60s", 60), ("2m", 120), ("1h30m", 5400), ("1m5s", 65)]
)
def test_durations(text: str, seconds: int) -> None:
    assert loadtest.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "arguments",
    [
        ["--run-time", "5x"],
        ["--users", "1"],
        ["--variant", "summary"],
        ["--spawn-rate", "0"],
        ["--app", "no_colon"],
    ],
)
def test_bad_load_options_exit_2_before_touching_anything(
    arguments: list[str], dalperf_home: Path, tmp_path: Path
) -> None:
    assert main(["load", *arguments, "--out", str(tmp_path / "load.json")]) == 2
    assert not (tmp_path / "load.json").exists()
    assert not dalperf_home.exists()  # no embedded server was started


def test_report_view_lines_endpoints_up_across_variants() -> None:
    requests = [
        request(1.0, 20.0, "naive", "/naive/projects", queries=21),
        request(1.0, 4.0, "optimized", "/optimized/projects", queries=1),
        request(1.5, 2.0, "optimized", "/optimized/credits", queries=1),
    ]
    view = load_view(summarise(requests, variants=("naive", "optimized"), environment={}))
    assert endpoint_of("/naive/projects", "naive") == "/projects"
    assert endpoint_of("/naivety", "naive") == "/naivety"
    assert [row.endpoint for row in view.endpoints] == ["/credits", "/projects"]
    assert view.endpoints[0].cells["naive"] is None
    assert view.comparison is not None and view.comparison.queries_ratio == pytest.approx(21)
    assert view.comparison.p95_ratio == pytest.approx(20 / np.percentile([4.0, 2.0], 95))


# --------------------------------------------------------------------------------------
# The app, served for real
# --------------------------------------------------------------------------------------


def call(base: str, method: str, path: str) -> tuple[int, Message, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(base + path, method=method)) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


@pytest.fixture(scope="module")
def served(seeded_db: str) -> Iterator[str]:
    with serve(APP, urls.parse(seeded_db), pool_size=4) as base:
        yield base


@pytest.mark.parametrize(
    ("method", "path", "naive", "optimized"),
    [
        ("GET", "user-stats", 4, 1),
        ("GET", "render-context", 4, 1),
        ("GET", "credits", 2, 1),
        ("GET", "projects", 21, 1),
        ("GET", "gallery", 1, 1),
        ("DELETE", "chain", 52, 1),
        ("POST", "renders/status", 20, 1),
    ],
)
def test_every_endpoint_answers_alike_with_the_captured_query_count(
    served: str, method: str, path: str, naive: int, optimized: int
) -> None:
    answers = {}
    for variant, queries in (("naive", naive), ("optimized", optimized)):
        status, headers, body = call(served, method, f"/{variant}/{path}?input=0")
        assert status == 200, body
        assert int(headers[locust_side.QUERIES_HEADER]) == queries
        assert int(headers[locust_side.ROUND_TRIPS_HEADER]) <= queries
        answers[variant] = body
    if method == "GET":  # reads share their inputs: equal answers
        assert answers["naive"] == answers["optimized"]


def test_unknown_variant_is_404_and_a_bad_input_400(served: str) -> None:
    assert call(served, "GET", "/bogus/credits")[0] == 404
    assert call(served, "GET", "/naive/credits?input=x")[0] == 400


def test_writes_are_rolled_back(served: str, seeded_db: str) -> None:
    before = table_checksums(seeded_db)
    for index in range(3):
        for variant in ("naive", "optimized"):
            assert call(served, "DELETE", f"/{variant}/chain?input={index}")[0] == 200
            assert call(served, "POST", f"/{variant}/renders/status?input={index}")[0] == 200
    assert table_checksums(seeded_db) == before


@pytest.mark.parametrize("operation", sorted(ROWS_WRITTEN))
def test_inputs_of_writes_touch_disjoint_rows_and_are_dealt_out(
    operation: str, loop: asyncio.Runner, engines: Engines
) -> None:
    registered = REGISTRY.get(operation)
    inputs = loop.run(draw_inputs(engines, registered))
    kept = {id(i): i for dealt in inputs.values() for i in dealt}.values()
    rows: list[frozenset[tuple[str, int]]] = [
        loop.run(ROWS_WRITTEN[operation](engines.db, i.params)) for i in kept
    ]
    assert sum(len(r) for r in rows) == len(frozenset().union(*rows))  # pairwise disjoint
    if len(kept) >= len(inputs):
        assert not set(map(id, inputs["naive"])) & set(map(id, inputs["optimized"]))


# --------------------------------------------------------------------------------------
# Load runs
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_run(seeded_db: str) -> tuple[LoadResults, dict[int, str], dict[str, str], dict[str, str]]:
    before = table_checksums(seeded_db)
    results, seen = run_watched(seeded_db, config())
    return results, seen, before, table_checksums(seeded_db)


def test_both_variants_run_side_by_side_without_failures(local_run: tuple) -> None:
    results = local_run[0]
    naive, optimized = results.variant("naive"), results.variant("optimized")
    assert naive.users == 2 and optimized.users == 2
    assert naive.requests > 0 and optimized.requests > 0
    assert naive.failures == 0 and optimized.failures == 0
    assert optimized.queries_per_request == 1.0  # every optimized endpoint: one statement
    assert naive.queries_per_request > 2
    by_endpoint = {endpoint_of(e.name, "naive"): e for e in naive.endpoints}
    if "/chain" in by_endpoint:
        assert by_endpoint["/chain"].queries_per_request == 52.0
    assert results.locust == {"requests": naive.requests + optimized.requests, "failures": 0}
    assert results.nodes == {"local": naive.requests + optimized.requests}


def test_latencies_are_exact_floats_not_locust_buckets(local_run: tuple) -> None:
    samples = local_run[0].variant("optimized").latency_ms.samples
    assert any(s != round(s) for s in samples)
    assert local_run[0].variant("optimized").latency_ms.p95 == pytest.approx(
        float(np.percentile(samples, 95))
    )


def test_a_load_run_changes_no_data_and_leaves_no_process(local_run: tuple) -> None:
    _, seen, before, after = local_run
    assert after == before
    assert any("uvicorn" in command for command in seen.values())
    assert any("locust" in command for command in seen.values())
    assert all(gone(pid) for pid in seen)


def test_the_master_aggregates_both_workers(seeded_db: str) -> None:
    results, seen = run_watched(seeded_db, config(users=2, workers=2))
    assert len(results.nodes) == 2 and all(count > 0 for count in results.nodes.values())
    total = sum(v.requests for v in results.variants)
    assert sum(results.nodes.values()) == total
    assert results.locust["requests"] == total  # the master's own statistics agree
    workers = [command for command in seen.values() if "--worker" in command]
    assert len(workers) == 2
    assert all(gone(pid) for pid in seen)


def test_ctrl_c_stops_the_server_and_every_locust_process(
    seeded_db: str, dalperf_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "load.json"
    command = [
        sys.executable,
        "-m",
        "dalperf",
        "load",
        "--database-url",
        seeded_db,
        "--users",
        "2",
        "--workers",
        "1",
        "--run-time",
        "60s",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=os.environ.copy(),
        preexec_fn=interruptible,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen: dict[int, str] = {}
        deadline = time.monotonic() + 60

        def all_up() -> bool:
            # processes, not words: one locust command line says "locust" twice (-m locust,
            # locustfile.py), which once let the master go unwatched
            locusts = sum("-m locust" in command for command in seen.values())
            uvicorn = any("-m uvicorn" in command for command in seen.values())
            return (
                (locusts >= 2 and uvicorn)
                or time.monotonic() > deadline
                or process.poll() is not None
            )

        watch(psutil.Process(process.pid), all_up, seen)
        assert process.poll() is None, process.communicate()
        time.sleep(1.0)  # locust's users are running
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130
    assert json.loads(out.read_text())["partial"] == "interrupted"  # what was made, kept
    assert len(seen) >= 3
    assert all(gone(pid) for pid in seen), {p: c for p, c in seen.items() if not gone(p)}


# --------------------------------------------------------------------------------------
# The gate and the report read the load results file alone
# --------------------------------------------------------------------------------------

HOSTILE = "<script>alert('load')</script>"


def saved_load(folder: Path, *, failures: int = 0) -> Path:
    """Load results of 100 requests per variant over 10 s: naive 21 queries, optimized 1."""
    requests = [
        request(1000.0 + i * 0.1, 40.0 + i % 7, "naive", "/naive/projects", queries=21)
        for i in range(100)
    ]
    requests += [
        request(
            1000.0 + i * 0.1,
            4.0 + i % 5 * 0.5,
            "optimized",
            "/optimized/projects",
            ok=i >= failures,
            queries=1,
            error=None if i >= failures else HOSTILE,
        )
        for i in range(100)
    ]
    path = folder / "load.json"
    summarise(
        requests,
        variants=("naive", "optimized"),
        environment={"users": 4, "workers": 0, "locust": "2.47.0"},
    ).save(path)
    return path


def saved_results(folder: Path) -> Path:
    from tests.test_check import make_measurement, make_results

    path = folder / "results.json"
    make_results(
        make_measurement(variant="naive", queries=20, round_trips=20, budget={}), make_measurement()
    ).save(path)
    return path


def budgets(folder: Path, text: str) -> Path:
    path = folder / "budgets.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("limits", "code", "breached"),
    [
        ("min_rps = 5\nmax_p95_ms = 10\nmax_failure_ratio = 0", 0, []),
        ("min_rps = 50", 1, ["min_rps"]),
        ("max_p95_ms = 5", 1, ["max_p95_ms"]),
        ("min_rps = 500\nmax_p95_ms = 1", 1, ["min_rps", "max_p95_ms"]),
    ],
)
def test_check_gates_on_load_figures(
    tmp_path: Path, limits: str, code: int, breached: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "junit.xml"
    arguments = [
        "check",
        str(saved_results(tmp_path)),
        "--load",
        str(saved_load(tmp_path)),
        "--budgets",
        str(budgets(tmp_path, f"[load.optimized]\n{limits}\n")),
        "--junit",
        str(junit),
    ]
    assert main(arguments) == code
    output = capsys.readouterr().out
    for limit in breached:
        assert limit in output
    assert "load" in junit.read_text()  # the load gate is a test case of its own


def test_check_fails_on_failed_requests_and_refuses_bad_load_budgets(tmp_path: Path) -> None:
    results, load = saved_results(tmp_path), saved_load(tmp_path, failures=3)
    gate = ["check", str(results), "--load", str(load), "--budgets"]
    assert (
        main([*gate, str(budgets(tmp_path, "[load.optimized]\nmax_failure_ratio = 0.05\n"))]) == 0
    )
    assert (
        main([*gate, str(budgets(tmp_path, "[load.optimized]\nmax_failure_ratio = 0.01\n"))]) == 1
    )
    for bad in (
        "[load.optimized]\nmin_rpm = 1\n",
        "[load.optimized]\nmax_failure_ratio = 2\n",
        "[load.optimised]\nmin_rps = 1\n",
        "[load.optimized]\nmax_p95_ms = -1\n",
    ):
        assert main([*gate, str(budgets(tmp_path, bad))]) == 2, bad
    assert main(["check", str(results), "--load", str(tmp_path / "missing.json")]) == 2


def test_report_without_load_has_no_load_section(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    assert main(["report", str(saved_results(tmp_path)), "--html", str(html)]) == 0
    assert 'id="load"' not in html.read_text()


def test_load_section_in_a_real_browser(tmp_path: Path, browser: Any) -> None:
    from tests.test_report_browser import Watched

    html = tmp_path / "report.html"
    assert (
        main(
            [
                "report",
                str(saved_results(tmp_path)),
                "--load",
                str(saved_load(tmp_path, failures=2)),
                "--html",
                str(html),
            ]
        )
        == 0
    )
    watched = Watched(browser)
    watched.open(html)
    page = watched.page
    assert watched.errors == [] and watched.dialogs == []
    assert page.locator("nav a[href='#load']").count() == 1
    section = page.locator("#load")
    assert section.is_visible()
    rows = page.eval_on_selector_all(
        "#load tr.load-row", "rows => rows.map(r => r.dataset.variant)"
    )
    assert rows == ["naive", "optimized"]
    optimized = page.inner_text("#load tr.load-row[data-variant='optimized']")
    assert "1.00" in optimized and "2 (2.00%)" in optimized  # queries/request, failures
    assert "21.00× fewer queries per request" in page.inner_text("#load .load-verdict")
    assert HOSTILE in page.inner_text("#load .load-errors")  # shown as text, never run
    box = section.bounding_box()
    assert box is not None and box["height"] > 300


def test_a_request_takes_a_free_input_when_there_is_one(loop: asyncio.Runner) -> None:
    inputs = tuple(Input(params=n) for n in range(4))

    async def hold_all_but(spare: int) -> list[int]:
        for i in inputs:
            if i.params != spare:
                await i.lock.acquire()
        try:
            return [pick(inputs, random.Random(seed)).params for seed in range(50)]
        finally:
            for i in inputs:
                if i.lock.locked():
                    i.lock.release()

    assert set(loop.run(hold_all_but(2))) == {2}
    assert set(loop.run(hold_all_but(-1))) == {0, 1, 2, 3}  # none free: any, and it waits


@pytest.mark.parametrize(("method", "path"), [("POST", "renders/status"), ("DELETE", "chain")])
def test_concurrent_writes_never_wait_while_an_input_is_free(
    served: str, method: str, path: str
) -> None:
    """As many writes of one variant at once as it has inputs (up to 8): each takes a free
    input, and the wait it answers (apart from the request's time) is nil."""
    _, _, health = call(served, "GET", locust_side.HEALTH_PATH)
    inputs = min(health["inputs"][path]["optimized"], 8)
    with ThreadPoolExecutor(inputs) as pool:
        answers = list(
            pool.map(lambda _: call(served, method, f"/optimized/{path}"), range(inputs))
        )
    assert [status for status, _, _ in answers] == [200] * inputs
    waited = [float(headers[INPUT_WAIT_HEADER]) for _, headers, _ in answers]
    assert max(waited) < 1.0, (inputs, waited)


def test_a_load_run_through_asyncpg(seeded_db: str) -> None:
    """The app's engines on asyncpg (``--driver asyncpg``): same answers, same query counts."""
    before = table_checksums(seeded_db)
    results, seen = run_watched(seeded_db, config(driver=drivers.by_name("asyncpg")))
    assert results.environment["driver"]["name"] == "asyncpg"
    assert results.environment["driver"]["async"].startswith("asyncpg ")
    naive, optimized = results.variant("naive"), results.variant("optimized")
    assert naive.failures == 0 and optimized.failures == 0 and optimized.requests > 0
    assert optimized.queries_per_request == 1.0
    assert table_checksums(seeded_db) == before
    assert all(gone(pid) for pid in seen)
