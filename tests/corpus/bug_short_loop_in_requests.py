"""A FastAPI route that summarises three departments: per department it counts the
employees and reads the newest one's id, two statements per department, each with the
department's id.  The test sends two requests.  Three iterations per request, below the
repeat threshold, but one loop of the route sends them (the same lines, the same pair of
statements, a new key each time).  BUG: repeated-statement; one grouped query."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_app.db import engine
from corpus_app.models import Department, Employee

EXPECT = {"repeated-statement"}
FIX = (
    "select(Employee.department_id, func.count(), func.max(Employee.id))"
    ".group_by(Employee.department_id)"
)


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def make_app(batched: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/departments")
    def departments(session: Annotated[Session, Depends(get_session)]) -> dict[str, int]:
        names = session.execute(select(Department.id, Department.name)).all()
        if batched:
            counts = {
                d: n
                for d, n, _ in session.execute(
                    select(Employee.department_id, func.count(), func.max(Employee.id)).group_by(
                        Employee.department_id
                    )
                )
            }
            return {name: counts[d] for d, name in names}
        summary = {}
        for department, name in names:
            count = session.scalar(select(func.count()).where(Employee.department_id == department))
            session.scalar(
                select(func.max(Employee.id)).where(Employee.department_id == department)
            )
            summary[name] = count
        return summary

    return app


def run(app: FastAPI) -> None:
    with TestClient(app) as client:
        for _ in range(2):
            response = client.get("/departments")
            assert response.status_code == 200
            assert response.json() == {"dept1": 4, "dept2": 4, "dept3": 4}


def test_bug() -> None:
    run(make_app(batched=False))


def test_fixed() -> None:
    run(make_app(batched=True))
