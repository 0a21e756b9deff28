"""A Flask-SQLAlchemy app under Flask's test client: six requests, each one app context and
so its own ``db.session``, each checking the caller's token and reading one shop by key.
The same two statements six times in the test, once per request.  CLEAN."""

from flask import abort, request
from sqlalchemy import select

from corpus_app.flaskmodels import Shop, create_app, db
from corpus_app.models import User

# counted over the whole test (dalperf_repeat_scope = test), the requests' repeats add up
EXPECT_WITH = {"repeat-scope-test": {"repeated-statement"}}

app = create_app(__name__)


@app.get("/shops/<int:shop_id>")
def shop(shop_id: int) -> dict[str, str]:
    user = db.session.scalar(select(User).where(User.token == request.headers["Authorization"]))
    if user is None:
        abort(403)
    return {"shop": db.get_or_404(Shop, shop_id).name, "user": user.name}


def test_clean() -> None:
    client = app.test_client()
    for i in range(1, 6):
        response = client.get(f"/shops/{i}", headers={"Authorization": f"token{i}"})
        assert response.status_code == 200
    assert client.get("/shops/1", headers={"Authorization": "token6"}).status_code == 200
