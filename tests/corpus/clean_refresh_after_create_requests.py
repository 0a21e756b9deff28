"""A FastAPI CRUD flow: create a user (add, commit, refresh), read it, rename it (get,
commit, refresh), read it again, create two more.  Each request has its own Session; the
user's SELECT by key runs several times with a few different keys, but every time as a
refresh after a write or one read per request.  No loop anywhere.  CLEAN."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import User

app = FastAPI()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def save(session: Session, user: User) -> User:
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


@app.post("/users")
def create(name: str, session: Annotated[Session, Depends(get_session)]) -> dict[str, int]:
    return {"id": save(session, User(name=name, token=f"new-{name}")).id}


@app.get("/users/{user_id}")
def read(user_id: int, session: Annotated[Session, Depends(get_session)]) -> dict[str, str]:
    return {"name": session.get(User, user_id).name}


@app.patch("/users/{user_id}")
def rename(
    user_id: int, name: str, session: Annotated[Session, Depends(get_session)]
) -> dict[str, str]:
    user = session.get(User, user_id)
    user.name = name
    return {"name": save(session, user).name}


def test_clean() -> None:
    with TestClient(app) as client:
        user_id = client.post("/users", params={"name": "ada"}).json()["id"]
        assert client.get(f"/users/{user_id}").json() == {"name": "ada"}
        assert client.patch(f"/users/{user_id}", params={"name": "grace"}).status_code == 200
        assert client.get(f"/users/{user_id}").json() == {"name": "grace"}
        client.post("/users", params={"name": "linus"})
        client.post("/users", params={"name": "guido"})
