"""The review UI on the PostgreSQL archive: pages render, review actions land and are audited."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install 'groundswell[postgres]'"
)
pytest.importorskip(
    "sqlglot", reason="sqlglot is not installed: pip install 'groundswell[postgres]'"
)

from monitor import audit
from monitor.pg.store import PgStore
from monitor.web.auth import add_user
from monitor.web.sample import seed
from tests.test_web_support import CONFIG, NOW, PASSWORD, csrf_of, make_app, signed_in


def test_review_ui_on_postgresql(pg_archive: str) -> None:
    with PgStore.open(pg_archive) as store:
        sample = seed(store, NOW)
        add_user(store, "rita", PASSWORD, "reviewer")
    app = make_app(pg_archive, CONFIG)  # type: ignore[arg-type]
    try:
        _review(app, sample.top_post_id)
    finally:
        app.state.web.close()  # the per-thread connections (no lifespan without `with client`)
    with PgStore.open(pg_archive, readonly=True) as store:
        post_id = sample.top_post_id
        assert store.conn.execute(
            "SELECT status, assignee FROM reviews WHERE post_id = ?", (post_id,)
        ).fetchone() == ("assigned", "rita")
        actions = [e.action for e in audit.entries(store, actor="rita")]
        assert actions == ["review.assign", "review.note"]
        assert audit.verify(store).ok


def _review(app: Any, post_id: str) -> None:
    client = signed_in(app, "rita")
    for page in (
        "/",
        "/?sort=risk",
        "/?q=refund*",
        "/alerts",
        "/dashboard",
        "/sources",
        "/metrics",
    ):
        assert client.get(page).status_code == 200, page
    token = csrf_of(client)
    for data in ({"op": "assign", "assignee": "rita"}, {"op": "note", "text": "called back"}):
        response = client.post("/review", data={**data, "post_id": post_id, "csrf_token": token})
        assert response.status_code == 200 and "notice=" in str(response.url), data
    assert "called back" in client.get(f"/post/{post_id}").text
