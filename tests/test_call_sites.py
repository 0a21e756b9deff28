"""Call sites are in the user's code: never in SQLModel, jinja2, pydantic, anyio or any other
installed distribution, the same frame in the terminal, the JSON and SARIF, and inside
``dalperf_app_packages`` when the user names an installed package as theirs.

Real pytest sessions (``pytester``) with the plugin on, against the embedded server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dalperf.db import urls
from tests.test_pytest_plugin import failure, run

pytest_plugins = ["pytester"]

LIBRARY_TESTS = """
import os

import anyio
import anyio.to_thread
import jinja2
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, create_engine, text
from sqlmodel import Field, Relationship, Session, SQLModel, select

engine = create_engine(os.environ["SITES_URL"])


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    heroes: list["Hero"] = Relationship(back_populates="team")


class Hero(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    team: Team | None = Relationship(back_populates="heroes")


class HeroOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    team: "TeamOut"


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str


def setup_module():
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        for i in range(6):
            session.add(Hero(team=Team(name=f"t{i}")))
        session.commit()


def test_sqlmodel_get_loop():
    with Session(engine) as session:
        for pk in range(1, 7):
            session.exec(select(Hero).where(Hero.id == pk)).one()  # the sqlmodel loop


def test_jinja2_template():
    template = jinja2.Template("{% for h in heroes %}{{ h.team.name }} {% endfor %}")
    with Session(engine) as session:
        heroes = session.exec(select(Hero)).all()
        template.render(heroes=heroes)  # the template render


def test_pydantic_from_attributes():
    with Session(engine) as session:
        heroes = session.exec(select(Hero)).all()
        [HeroOut.model_validate(h) for h in heroes]  # the validation


def test_anyio_worker_thread():
    def report():
        with Session(engine) as session:
            return [h.team.name for h in session.exec(select(Hero)).all()]  # the worker's loop

    async def main():
        return await anyio.to_thread.run_sync(report)

    anyio.run(main)
"""


@pytest.fixture
def sites(
    pytester: pytest.Pytester, fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.setenv("SITES_URL", urls.sqlalchemy_url(urls.parse(fresh_db)))
    pytester.makepyfile(test_libs=LIBRARY_TESTS)
    return pytester


def marked_line(path: Path, marker: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if marker in line)


def test_call_sites_skip_installed_libraries_in_every_output(sites: pytest.Pytester) -> None:
    result = run(sites, "--dalperf-json", "out.json", "--dalperf-sarif", "out.sarif")
    result.assert_outcomes(failed=4)
    source = sites.path / "test_libs.py"
    expected = {
        "test_sqlmodel_get_loop": marked_line(source, "# the sqlmodel loop"),
        "test_jinja2_template": marked_line(source, "# the template render"),
        "test_pydantic_from_attributes": marked_line(source, "# the validation"),
        "test_anyio_worker_thread": marked_line(source, "# the worker's loop"),
    }
    for test, line in expected.items():
        assert f"first at test_libs.py:{line} in " in failure(result, test), test
    report = json.loads((sites.path / "out.json").read_text())
    for record in report["tests"]:
        test = record["test"].split("::")[1]
        assert [(f["file"], f["line"]) for f in record["findings"]] == [
            ("test_libs.py", expected[test])
        ], test
    sarif = json.loads((sites.path / "out.sarif").read_text())
    locations = {
        (
            r["properties"]["test"].split("::")[1],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in sarif["runs"][0]["results"]
    }
    assert locations == {(test, "test_libs.py", line) for test, line in expected.items()}


def test_app_packages_are_the_users_code_and_sarif_keeps_to_the_repository(
    sites: pytest.Pytester,
) -> None:
    result = run(
        sites,
        "-o",
        "dalperf_app_packages=sqlmodel",
        "-k",
        "sqlmodel_get_loop",
        "--dalperf-sarif",
        "out.sarif",
        "--dalperf-json",
        "out.json",
    )
    result.assert_outcomes(failed=1)
    assert "first at " in failure(result, "test_sqlmodel_get_loop")
    site = failure(result, "test_sqlmodel_get_loop").split("first at ")[1].split("\n")[0]
    assert "sqlmodel" in site and "site-packages" in site  # named as the user's: stops there
    (finding,) = json.loads((sites.path / "out.json").read_text())["tests"][0]["findings"]
    assert finding["file"].endswith("session.py") and "sqlmodel" in finding["file"]
    sarif_text = (sites.path / "out.sarif").read_text()
    (sarif_result,) = json.loads(sarif_text)["runs"][0]["results"]
    assert "locations" not in sarif_result  # outside the repository: no absolute path
    assert "site-packages" not in sarif_text
