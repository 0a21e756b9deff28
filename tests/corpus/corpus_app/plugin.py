"""The corpus session's own plugin (``-p corpus_app.plugin``, named in ``pytest.ini``).

- The schema is created and seeded once per session, in set-up (never in a test body, so
  the dalperf plugin never counts it).
- After each test, the tables it changed are put back to the seed data
  (:func:`corpus_app.db.reset`), so every scenario sees the same rows.
- Each test's verdict is written to ``CORPUS_OUTCOMES`` (JSON) at the end: ``dalperf`` when
  the dalperf plugin failed it (a finding or a budget), ``error`` with the exception when the
  scenario itself raised or its set-up did, ``passed`` otherwise (the judge needs the
  difference: a scenario that raises is an error of that scenario, not a finding), and
  ``wrote`` when it changed rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from corpus_app import db, flaskmodels, sqlmodels

db.register_metadata(sqlmodels.SQLModel.metadata)
db.register_metadata(flaskmodels.FlaskBase.metadata)

_outcomes: dict[str, dict[str, str]] = {}


@db.seeder
def _seed_sqlmodel_and_flask(session: Any) -> None:
    from sqlalchemy import insert

    session.execute(insert(sqlmodels.Team), [{"id": i, "name": f"team{i}"} for i in range(1, 5)])
    session.execute(
        insert(sqlmodels.Hero),
        [
            {"id": i, "name": f"hero{i}", "power": i, "team_id": (i - 1) % 4 + 1}
            for i in range(1, 13)
        ],
    )
    session.execute(insert(flaskmodels.Shop), [{"id": i, "name": f"shop{i}"} for i in range(1, 6)])
    session.execute(
        insert(flaskmodels.Product),
        [
            {"id": (s - 1) * 4 + k, "shop_id": s, "name": f"product{s}.{k}", "price": k * 10}
            for s in range(1, 6)
            for k in range(1, 5)
        ],
    )


@pytest.fixture(scope="session", autouse=True)
def corpus_database() -> Iterator[None]:
    """Schema and seed data, once for the session."""
    db.create_schema()
    yield
    db.engine.dispose()
    db.psycopg2_engine.dispose()


@pytest.fixture(autouse=True)
def restore(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test, the tables it changed are put back to the seed data (and the test
    is noted as one that wrote: the write rules are judged on those)."""
    yield
    if db.reset():
        _outcomes.setdefault(request.node.nodeid, _blank())["wrote"] = "yes"


def _blank() -> dict[str, str]:
    return {"verdict": "passed", "detail": "", "wrote": ""}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report = yield
    entry = _outcomes.setdefault(item.nodeid, _blank())
    if report.failed and entry["verdict"] != "error":
        excinfo = call.excinfo
        message = str(excinfo.value) if excinfo is not None else str(report.longrepr)
        dalperf = (
            call.when == "call"
            and excinfo is not None
            and excinfo.errisinstance(pytest.fail.Exception)
            and message.startswith("dalperf")
        )
        entry["verdict"] = "dalperf" if dalperf else "error"
        entry["detail"] = message if dalperf else f"{call.when}: {report.longreprtext[-2000:]}"
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("CORPUS_OUTCOMES")
    if path:
        Path(path).write_text(json.dumps(_outcomes, indent=1))
