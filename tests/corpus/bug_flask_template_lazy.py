"""A Flask view rendering a template string that prints each product's shop name:
``Product.shop`` lazy-loads inside Jinja2 for each distinct shop (5).  BUG: lazy-load, call
site the ``render_template_string`` line in the view."""

from typing import Any

from flask import Flask, render_template_string
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from corpus_app.flaskmodels import Product, create_app, db

EXPECT = {"lazy-load"}
FIX = "select(Product).options(joinedload(Product.shop))"
PAGE = "{% for p in products %}<li>{{ p.name }} at {{ p.shop.name }}</li>{% endfor %}"


def make_app(*options: Any) -> Flask:
    app = create_app(__name__)

    @app.get("/products")
    def products() -> str:
        found = db.session.scalars(select(Product).options(*options)).all()
        return render_template_string(PAGE, products=found)

    return app


def test_bug() -> None:
    assert make_app().test_client().get("/products").text.count("<li>") == 20


def test_fixed() -> None:
    page = make_app(joinedload(Product.shop)).test_client().get("/products").text
    assert page.count("<li>") == 20
