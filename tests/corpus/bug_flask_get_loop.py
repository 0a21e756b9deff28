"""A Flask-SQLAlchemy view computing a cart total by ``db.session.get(Product, id)`` for each
of the 12 product ids in the cart.  BUG: repeated-statement, call site the view's loop."""

from flask import Flask
from sqlalchemy import select

from corpus_app.flaskmodels import Product, create_app, db

EXPECT = {"repeated-statement"}
FIX = "select(Product).where(Product.id.in_(ids))"
CART = list(range(1, 13))


def make_app(batched: bool) -> Flask:
    app = create_app(__name__)

    @app.get("/cart")
    def cart() -> dict[str, int]:
        if batched:
            products = db.session.scalars(select(Product).where(Product.id.in_(CART)))
            return {"total": sum(p.price for p in products)}
        return {"total": sum(db.session.get(Product, i).price for i in CART)}

    return app


def test_bug() -> None:
    assert make_app(batched=False).test_client().get("/cart").json["total"] == 300


def test_fixed() -> None:
    assert make_app(batched=True).test_client().get("/cart").json["total"] == 300
