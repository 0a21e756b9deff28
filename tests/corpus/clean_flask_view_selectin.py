"""A Flask-SQLAlchemy view that loads products with each shop (``selectinload``) and
reads each product's shop back (already in the identity map): two statements, requested
three times.  CLEAN."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from corpus_app.flaskmodels import Shop, create_app, db

app = create_app(__name__)


@app.get("/catalogue")
def catalogue() -> dict[str, list[str]]:
    shops = db.session.scalars(select(Shop).options(selectinload(Shop.products)))
    return {s.name: [f"{p.name}@{p.shop.name}" for p in s.products] for s in shops}


def test_clean() -> None:
    client = app.test_client()
    for _ in range(3):
        assert len(client.get("/catalogue").json) == 5
