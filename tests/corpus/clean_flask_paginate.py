"""Flask-SQLAlchemy's ``db.paginate`` over products, one page per request (5 requests):
each request runs a count and a page query.  Pagination across requests.  CLEAN."""

from flask import request
from sqlalchemy import select

from corpus_app.flaskmodels import Product, create_app, db

app = create_app(__name__)


@app.get("/products")
def products() -> dict[str, object]:
    page = db.paginate(
        select(Product).order_by(Product.id), page=int(request.args["page"]), per_page=4
    )
    return {"total": page.total, "names": [p.name for p in page.items]}


def test_clean() -> None:
    client = app.test_client()
    for number in range(1, 6):
        assert len(client.get(f"/products?page={number}").json["names"]) == 4
