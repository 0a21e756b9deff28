"""The GitHub Action (``action.yml``): its steps run here with the variables GitHub sets.

``action/run.sh`` runs the real command (pytest with the plugin, ``dalperf audit``) against
the session's embedded server and must leave the exit code, the digest, the SARIF file and
the step summary where the next steps read them. ``action/comment.py`` talks to GitHub's
REST API; with no network here it talks to a local HTTP server that answers the three
endpoints it uses the way GitHub documents them, and records what it was sent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from dalperf.db import urls

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
TOKEN = "ghs_secret-token-for-the-test"

APP = """
import os

from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

engine = create_engine(os.environ["SHOP_URL"])


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    lines: Mapped[list["Line"]] = relationship()


class Line(Base):
    __tablename__ = "lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    sku: Mapped[str] = mapped_column(String(20))


def populate():
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Order(lines=[Line(sku=f"s{i}{j}") for j in range(2)])
                         for i in range(8)])
        session.commit()


def skus_per_order(session):
    return [[line.sku for line in order.lines] for order in session.scalars(select(Order))]
"""

TESTS = """
import pytest
from sqlalchemy.orm import Session

import shop


@pytest.fixture(scope="session", autouse=True)
def data():
    shop.populate()


def test_skus():
    with Session(shop.engine) as session:
        assert len(shop.skus_per_order(session)) == 8


def test_nothing():
    pass
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment GitHub gives a step, with the venv that runs this suite on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "DALPERF_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        GITHUB_OUTPUT=str(tmp_path / "github_output"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "step_summary.md"),
        GITHUB_ACTION_PATH=str(ROOT),
        **extra,
    )
    return env


def _outputs(tmp_path: Path) -> dict[str, str]:
    text = (tmp_path / "github_output").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def _run_step(tmp_path: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "action" / "run.sh")],
        cwd=cwd,
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_action_steps_name_what_exists() -> None:
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    used = set(re.findall(r"\binputs\.([a-z-]+)", ACTION.read_text()))
    assert used and used <= set(action["inputs"]), used - set(action["inputs"])
    for step in action["runs"]["steps"]:
        script = step.get("run", "")
        if "$GITHUB_ACTION_PATH/" in script:
            relative = script.split("$GITHUB_ACTION_PATH/")[1].split('"')[0]
            assert (ROOT / relative).is_file(), relative
    steps = [s.get("id") for s in action["runs"]["steps"]]
    for output in action["outputs"].values():
        assert output["value"].split("steps.")[1].split(".")[0] in steps
    assert action["runs"]["steps"][-1]["if"] == "always()"  # the gate runs last, always


@pytest.fixture
def shop_project(tmp_path: Path, fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small app with one lazy-load N+1 and its own test suite, on a fresh database."""
    project = tmp_path / "shop"
    project.mkdir()
    (project / "shop.py").write_text(APP)
    (project / "test_shop.py").write_text(TESTS)
    monkeypatch.setenv("SHOP_URL", urls.sqlalchemy_url(urls.parse(fresh_db)))
    return project


def test_pytest_mode_leaves_digest_sarif_summary_and_exit_code(
    tmp_path: Path, shop_project: Path
) -> None:
    result = _run_step(
        tmp_path,
        shop_project,
        DALPERF_COMMAND="pytest",
        DALPERF_ARGS="-p no:randomly -p no:cacheprovider -q",
        SHOP_URL=os.environ["SHOP_URL"],
    )
    assert result.returncode == 0, result.stdout + result.stderr  # the gate is the last step
    outputs = _outputs(tmp_path)
    assert outputs["exit-code"] == "1"  # the lazy load failed test_skus
    digest = Path(outputs["digest"]).read_text()
    assert "dalperf: failed" in digest
    assert "Order.lines" in digest and "`shop.py:" in digest  # the call site in the app
    assert "selectinload(Order.lines)" in digest
    sarif = json.loads(Path(outputs["sarif"]).read_text())
    assert sarif["runs"][0]["results"], "no SARIF result for the finding"
    assert (tmp_path / "step_summary.md").read_text() == digest


def test_pytest_mode_passes_a_clean_suite(tmp_path: Path, shop_project: Path) -> None:
    result = _run_step(
        tmp_path,
        shop_project,
        DALPERF_COMMAND="pytest",
        DALPERF_ARGS="-p no:randomly -p no:cacheprovider -q -k nothing",
        SHOP_URL=os.environ["SHOP_URL"],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = _outputs(tmp_path)
    assert outputs["exit-code"] == "0"
    assert "dalperf: passed" in Path(outputs["digest"]).read_text()


def test_audit_mode_on_a_database_url(tmp_path: Path, fresh_db: str) -> None:
    result = _run_step(
        tmp_path,
        tmp_path,
        DALPERF_COMMAND="audit",
        DALPERF_ARGS=f"--database-url {fresh_db} --only gallery.list_public "
        "--iterations 3 --scale 0.05",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = _outputs(tmp_path)
    assert outputs["exit-code"] == "0" and outputs["sarif"] == ""
    digest = Path(outputs["digest"]).read_text()
    assert "dalperf audit: passed" in digest
    assert (tmp_path / "step_summary.md").read_text() == digest
    assert (tmp_path / "dalperf-out" / "results.json").is_file()


def test_bad_command_and_bad_quoting_exit_2(tmp_path: Path) -> None:
    result = _run_step(tmp_path, tmp_path, DALPERF_COMMAND="benchmark")
    assert result.returncode == 2
    assert "must be audit, pytest or compare" in result.stderr
    result = _run_step(tmp_path, tmp_path, DALPERF_COMMAND="audit", DALPERF_ARGS="--only 'x")
    assert result.returncode == 2
    assert "not a valid shell-quoted string" in result.stderr


class _GitHub(BaseHTTPRequestHandler):
    """The three issue-comment endpoints of GitHub's REST API that ``comment.py`` calls."""

    comments: list[dict[str, Any]]
    requests: list[tuple[str, str, str | None]]
    refuse: bool = False

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        type(self).requests.append((self.command, self.path, self.headers["Authorization"]))
        if type(self).refuse:
            return self._reply(403, {"message": "Resource not accessible by integration"})
        url = urlsplit(self.path)
        if self.command == "GET" and url.path.endswith("/issues/7/comments"):
            query = parse_qs(url.query)
            per_page, page = int(query["per_page"][0]), int(query["page"][0])
            return self._reply(200, self.comments[(page - 1) * per_page : page * per_page])
        if self.command == "POST" and url.path.endswith("/issues/7/comments"):
            comment = {"id": 1000 + len(self.comments), "body": body["body"]}
            self.comments.append(comment)
            return self._reply(201, comment)
        if self.command == "PATCH" and "/issues/comments/" in url.path:
            wanted = int(url.path.rsplit("/", 1)[1])
            for comment in self.comments:
                if comment["id"] == wanted:
                    comment["body"] = body["body"]
                    return self._reply(200, comment)
        return self._reply(404, {"message": "Not Found"})

    do_GET = do_POST = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def github() -> Iterator[tuple[str, type[_GitHub]]]:
    handler = type("GitHub", (_GitHub,), {"comments": [], "requests": []})
    # earlier comments of other people, over one page, so the marker is on page 2
    handler.comments.extend({"id": i, "body": f"comment {i}"} for i in range(130))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _comment(tmp_path: Path, api: str, digest: str) -> subprocess.CompletedProcess[str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    (tmp_path / "digest.md").write_text(digest)
    env = _env(
        tmp_path,
        GITHUB_EVENT_PATH=str(event),
        GITHUB_REPOSITORY="acme/shop",
        GITHUB_API_URL=api,
        GITHUB_TOKEN=TOKEN,
    )
    return subprocess.run(
        [sys.executable, str(ROOT / "action" / "comment.py"), str(tmp_path / "digest.md")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_comment_is_posted_once_then_updated(
    tmp_path: Path, github: tuple[str, type[_GitHub]]
) -> None:
    api, server = github
    first = _comment(tmp_path, api, "### dalperf: failed\n")
    assert first.returncode == 0, first.stderr
    assert "posted as comment 1130" in first.stdout
    second = _comment(tmp_path, api, "### dalperf: passed\n")
    assert "updated as comment 1130" in second.stdout
    ours = [c for c in server.comments if "dalperf-digest" in c["body"]]
    assert len(ours) == 1 and "dalperf: passed" in ours[0]["body"]
    assert len(server.comments) == 131
    assert {auth for _, _, auth in server.requests} == {f"Bearer {TOKEN}"}
    assert ("PATCH", "/repos/acme/shop/issues/comments/1130") in {
        (method, path) for method, path, _ in server.requests
    }
    assert TOKEN not in first.stdout + first.stderr + second.stdout + second.stderr


def test_a_refused_comment_warns_and_never_fails_the_gate(
    tmp_path: Path, github: tuple[str, type[_GitHub]]
) -> None:
    api, server = github
    server.refuse = True
    result = _comment(tmp_path, api, "### dalperf: failed\n")
    assert result.returncode == 0
    assert result.stdout.startswith("::warning title=dalperf::could not comment")
    assert "403" in result.stdout and TOKEN not in result.stdout + result.stderr
