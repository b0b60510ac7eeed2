"""Inbox search on the PostgreSQL archive: every plan gives the pages the SQLite archive gives."""

from __future__ import annotations

from typing import cast

import pytest

pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install 'groundswell[postgres]'"
)
pytest.importorskip(
    "sqlglot", reason="sqlglot is not installed: pip install 'groundswell[postgres]'"
)

from monitor.pg.store import PgStore
from monitor.query import Document, parse
from monitor.store import Store
from monitor.web import inbox
from monitor.web.inbox import InboxFilters, sync_inbox
from tests.test_web_inbox import NOW, PLANS, _all_pages, _posts, _risk


@pytest.mark.parametrize("plan", list(PLANS))
def test_search_plans_on_postgresql(
    pg_archive: str, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PgStore.open(pg_archive) as pg:
        store = cast(Store, pg)  # the same public methods
        ids = _posts(store, 30)
        for n, post_id in enumerate(ids[:12]):
            _risk(store, post_id, round((n % 4) / 4, 2), NOW, "warning")
        sync_inbox(store)
        for name, value in zip(
            ("_FTS_CAP", "_WALK_SET_CAP", "_WALK_BUDGET", "_FALLBACK_CAP"), PLANS[plan], strict=True
        ):
            monkeypatch.setattr(inbox, name, value)
        query = parse("refund NEAR/2 arrived")
        for sort in ("risk", "time"):
            every = _all_pages(store, InboxFilters(sort=sort, lang="en"), size=50)
            texts = dict(store.conn.execute("SELECT id, text FROM posts").fetchall())
            expected = [i for i in every if query.matches(Document(text=texts[i]))]
            got = _all_pages(
                store, InboxFilters(sort=sort, lang="en", q="refund NEAR/2 arrived"), size=4
            )
            assert expected and got == expected, (plan, sort)
