"""A server-rendered page: a Jinja2 template loops over posts and prints
``post.author.name``; the lazy many-to-one loads inside ``jinja2``'s attribute lookup, one
SELECT per author.  BUG: lazy-load, call site the ``render`` line here."""

from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from corpus_app.db import engine
from corpus_app.models import Post

EXPECT = {"lazy-load"}
FIX = "select(Post).options(joinedload(Post.author))"
PAGE = Environment(autoescape=True).from_string(
    "{% for post in posts %}<li>{{ post.title }} by {{ post.author.name }}</li>{% endfor %}"
)


def page(*options: object) -> str:
    with Session(engine) as session:
        posts = session.scalars(select(Post).options(*options)).all()
        return PAGE.render(posts=posts)


def test_bug() -> None:
    assert page().count("<li>") == 20


def test_fixed() -> None:
    assert page(joinedload(Post.author)).count("<li>") == 20
