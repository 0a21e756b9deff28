"""Flask-SQLAlchemy models on the extension's own ``db.Model``: shops and their products."""

from __future__ import annotations

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from corpus_app import db as corpus_db


class FlaskBase(DeclarativeBase):
    """The declarative base Flask-SQLAlchemy builds ``db.Model`` on."""


db = SQLAlchemy(model_class=FlaskBase)


class Shop(db.Model):
    __tablename__ = "fl_shops"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    products: Mapped[list[Product]] = relationship(back_populates="shop", order_by="Product.id")


class Product(db.Model):
    __tablename__ = "fl_products"
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("fl_shops.id"))
    name: Mapped[str] = mapped_column(String(50))
    price: Mapped[int]
    shop: Mapped[Shop] = relationship(back_populates="products")


def create_app(name: str) -> Flask:
    """A Flask app named after the scenario module, with the extension on the corpus
    database; the scenario registers its own views on it."""
    app = Flask(name)
    app.config["SQLALCHEMY_DATABASE_URI"] = corpus_db.url("psycopg")
    db.init_app(app)
    return app
