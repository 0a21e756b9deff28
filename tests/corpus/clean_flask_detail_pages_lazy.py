"""Six requests to a Flask-SQLAlchemy detail view, one shop each: the view reads that shop's
lazy ``products``.  Over the test ``Shop.products`` loads for 5 different shops, but each
request (its own app context and session) loads it for one shop only.  CLEAN."""

from corpus_app.flaskmodels import Shop, create_app, db

# counted over the whole test (dalperf_repeat_scope = test), the requests' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"lazy-load", "repeated-statement"}}

app = create_app(__name__)


@app.get("/shops/<int:shop_id>")
def shop(shop_id: int) -> dict[str, object]:
    found = db.get_or_404(Shop, shop_id)
    return {"name": found.name, "products": [p.name for p in found.products]}


def test_clean() -> None:
    client = app.test_client()
    for shop_id in (1, 2, 3, 4, 5, 1):
        assert len(client.get(f"/shops/{shop_id}").json["products"]) == 4
