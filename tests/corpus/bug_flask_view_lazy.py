"""A Flask-SQLAlchemy view listing every shop with its products: ``Shop.products`` is lazy,
one SELECT per shop in the request.  BUG: lazy-load, with the view as its call site."""

from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from corpus_app.flaskmodels import Shop, create_app, db

EXPECT = {"lazy-load"}
FIX = "select(Shop).options(selectinload(Shop.products))"


def make_app(*options: Any) -> Flask:
    app = create_app(__name__)

    @app.get("/shops")
    def shops() -> dict[str, list[str]]:
        found = db.session.scalars(select(Shop).options(*options).order_by(Shop.id))
        return {shop.name: [p.name for p in shop.products] for shop in found}

    return app


def test_bug() -> None:
    assert len(make_app().test_client().get("/shops").json) == 5


def test_fixed() -> None:
    assert len(make_app(selectinload(Shop.products)).test_client().get("/shops").json) == 5
