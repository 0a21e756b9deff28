"""pytest-benchmark suite: wall time of every case-study operation x variant.

Not part of the test suite (``testpaths`` is ``tests/``); run it on purpose::

    pytest benchmarks/ --benchmark-only [--dalperf-scale 1] --benchmark-save=main
    pytest benchmarks/ --benchmark-only --benchmark-compare --benchmark-compare-fail=median:10%

The seeded database is the dalperf pytest plugin's ``dalperf_database`` (a throwaway
embedded server, ``--dalperf-scale``, default 0.05).  Every variant is async: one
``asyncio.Runner`` serves the whole session and each round runs one call on its loop,
with no ``asyncio.run`` (a new event loop) per round; the engines and their pooled
connections live on that loop.  Mutating operations run inside the runner's isolation
(an outer transaction rolled back after every call), so each round starts from the same
data.  Benchmarks are grouped by operation, so each table compares its variants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from dalperf.db import urls
from dalperf.measure.engines import Engines, open_engines
from dalperf.measure.loader import load_modules
from dalperf.measure.operations import Operation, invoke
from dalperf.measure.registry import REGISTRY
from dalperf.pytest_plugin import SeededDatabase

CASE_STUDY = "dalperf.scenarios"

load_modules([CASE_STUDY])
CASES = [
    (op.name, variant.name)
    for op in REGISTRY
    if op.module.startswith(CASE_STUDY + ".")
    for variant in op.variants
]


@pytest.fixture(scope="session")
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture(scope="session")
def engines(loop: asyncio.Runner, dalperf_database: SeededDatabase) -> Iterator[Engines]:
    opened = open_engines(urls.parse(dalperf_database.url))
    yield loop.run(opened.__aenter__())
    loop.run(opened.__aexit__(None, None, None))


@pytest.fixture(scope="session")
def params_of(loop: asyncio.Runner, engines: Engines) -> Callable[[Operation], Any]:
    """Each operation's default inputs, drawn once (the same for all its variants)."""
    drawn: dict[str, Any] = {}

    def params(operation: Operation) -> Any:
        if operation.name not in drawn:
            drawn[operation.name] = loop.run(operation.draw_params(engines))
        return drawn[operation.name]

    return params


@pytest.mark.parametrize(("operation", "variant"), CASES)
def test_operation(
    benchmark: BenchmarkFixture,
    loop: asyncio.Runner,
    engines: Engines,
    params_of: Callable[[Operation], Any],
    operation: str,
    variant: str,
) -> None:
    op = REGISTRY.get(operation)
    implementation = op.variant(variant)
    params = params_of(op)
    benchmark.group = operation
    benchmark.extra_info["size"] = op.size.default if op.size else None
    result = benchmark(lambda: loop.run(invoke(op, implementation, engines, params)))
    assert result is not None
