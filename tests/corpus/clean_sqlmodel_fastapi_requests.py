"""FastAPI + SQLModel, as its tutorial writes it: a session dependency, a list route that
loads heroes with their teams (``selectinload``) and a detail route by key, six requests.
Every statement runs at most once per request.  CLEAN."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from corpus_app.db import engine
from corpus_app.sqlmodels import Hero

app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@app.get("/heroes")
def heroes(session: Annotated[Session, Depends(get_session)]) -> list[str]:
    found = session.exec(select(Hero).options(selectinload(Hero.team))).all()
    return [f"{h.name}/{h.team.name}" for h in found]


@app.get("/heroes/{hero_id}")
def hero(hero_id: int, session: Annotated[Session, Depends(get_session)]) -> dict[str, str]:
    return {"name": session.get(Hero, hero_id).name}


def test_clean() -> None:
    with TestClient(app) as client:
        for i in range(1, 4):
            assert len(client.get("/heroes").json()) == 12
            assert client.get(f"/heroes/{i}").status_code == 200
