"""``dalperf load`` serves only an app it proved it started, and refuses what is no app.

The app server's port is bound by dalperf first and handed to uvicorn (``--fd``), held
for as long as the server runs: no other process can take it between choosing and
serving, so the readiness probe and locust can only reach dalperf's own server.  An
``--app`` that is not an ASGI app, or names no attribute, is exit 2 in one line before
anything is load-tested.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import psutil
import pytest

from dalperf.db import urls
from dalperf.loadtest import driver
from dalperf.loadtest.locust_side import HEALTH_PATH
from tests.test_project import (
    APP,
    LOCUSTFILE,
    Project,
    make_app,
    project,  # noqa: F401 (a fixture)
    project_server,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.faults

NOT_APPS = (
    APP
    + """

settings = {"debug": False}


def sync_view(scope, receive, send):
    return None


async def two_arguments(scope, receive):
    return None
"""
)


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        (
            "settings",
            (
                "error: --app 'shop.main:settings' is not an ASGI app (a dict, not an async "
                "callable taking scope, receive, send)"
            ),
        ),
        (
            "sync_view",
            (
                "error: --app 'shop.main:sync_view' is not an ASGI app (a function, not an "
                "async callable taking scope, receive, send)"
            ),
        ),
        (
            "two_arguments",
            (
                "error: --app 'shop.main:two_arguments' is not an ASGI app: it does "
                "not take (scope, receive, send)"
            ),
        ),
        ("ap", "error: --app 'shop.main:ap': shop.main has no attribute 'ap'"),
    ],
)
def test_an_app_that_is_no_asgi_app_is_exit_2_before_serving(
    tmp_path: Path, project: Project, attribute: str, expected: str
) -> None:
    app = make_app(tmp_path)
    (app / "shop" / "main.py").write_text(NOT_APPS)
    (app / "perf" / "locustfile.py").write_text(LOCUSTFILE)
    proc = project.run(
        app,
        "load",
        "--app",
        f"shop.main:{attribute}",
        "--locustfile",
        "perf/locustfile.py",
        "--users",
        "2",
        "--run-time",
        "2s",
        "--out",
        "load.json",
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert error == [expected], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (app / "load.json").exists()


TINY_APP = """
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def test_the_app_server_serves_on_a_port_dalperf_bound_first(tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(TINY_APP)
    url = urls.parse("postgresql://nobody@127.0.0.1:1/none")  # the tiny app never connects
    with driver.serve("tiny:app", url, wrap=True, app_dir=tmp_path) as base:
        port = int(base.rsplit(":", 1)[1])
        held = [
            c
            for c in psutil.Process().net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
        assert held, "the port was not bound by dalperf before the server started"
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            base + HEALTH_PATH, timeout=10
        ) as response:
            assert response.status == 200
        server = [
            p
            for p in psutil.Process().children(recursive=True)
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == port
                for c in p.net_connections(kind="tcp")
            )
        ]
        assert server, "no child of dalperf serves on the port"
    assert not [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    ]
    assert not server[0].is_running() or server[0].status() == psutil.STATUS_ZOMBIE
