"""The inbox index: incremental sync, keyset pages, filters, search, and its query plan."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.records import Post, isoformat
from monitor.store import Store
from monitor.web.inbox import InboxFilters, query_inbox, sync_inbox
from monitor.web.reviews import set_status, snooze

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _posts(store: Store, count: int, brand: str = "Acme", start: int = 0) -> list[str]:
    items = []
    for i in range(start, start + count):
        items.append(
            (
                Post(
                    source="rss" if i % 2 else "reddit",
                    native_id=str(i),
                    title=f"post {i}",
                    text="refund never arrived" if i % 3 == 0 else "lovely trip",
                    url=f"https://example.org/{i}",
                    published_at=NOW - timedelta(minutes=i),
                    lang="de" if i % 5 == 0 else "en",
                ),
                [brand],
            )
        )
    store.upsert_posts(items, seen_at=NOW)
    return [post.id for post, _ in items]


def _risk(store: Store, post_id: str, risk: float, at: datetime, severity: str | None) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO risk_scores (post_id, brand, at, risk, severity, reasons) VALUES (?, 'Acme', ?, ?, ?, ?)",
            (post_id, isoformat(at), risk, severity, json.dumps(["why"])),
        )


def _all_pages(store: Store, filters: InboxFilters, size: int = 7) -> list[str]:
    seen: list[str] = []
    cursor = ""
    for _ in range(100):
        page = query_inbox(
            store, InboxFilters(**{**_fields(filters), "cursor": cursor}), page_size=size, now=NOW
        )
        seen += [row["post_id"] for row in page.rows]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


def _fields(filters: InboxFilters) -> dict[str, str]:
    return {name: getattr(filters, name) for name in InboxFilters._FIELDS}


def test_sync_is_incremental_and_follows_latest_risk(store: Store) -> None:
    ids = _posts(store, 10)
    assert sync_inbox(store) == {"posts": 10}
    assert sync_inbox(store) == {}  # nothing new: no write
    _risk(store, ids[4], 0.3, NOW, "info")
    _risk(store, ids[4], 0.9, NOW + timedelta(hours=1), "critical")
    assert sync_inbox(store)["risk_scores"] == 1
    assert store.conn.execute(
        "SELECT risk, severity FROM inbox WHERE post_id = ?", (ids[4],)
    ).fetchone() == (0.9, "critical")
    _risk(store, ids[4], 0.4, NOW + timedelta(hours=2), "info")  # latest wins, even if lower
    sync_inbox(store)
    assert store.conn.execute("SELECT risk FROM inbox WHERE post_id = ?", (ids[4],)).fetchone() == (
        0.4,
    )
    more = _posts(store, 3, start=100)
    assert sync_inbox(store) == {"posts": 3}
    assert store.conn.execute("SELECT count(*) FROM inbox").fetchone()[0] == 13
    assert more[0] in _all_pages(store, InboxFilters(sort="time"))


@pytest.mark.parametrize("sort", ["risk", "time"])
def test_keyset_pages_cover_everything_once_in_order(store: Store, sort: str) -> None:
    ids = _posts(store, 50)
    for n, post_id in enumerate(ids[:20]):
        _risk(store, post_id, round((n % 4) / 4, 2), NOW, "warning")  # many ties on risk
    sync_inbox(store)
    seen = _all_pages(store, InboxFilters(sort=sort))
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    rows = {r[0]: r[1:] for r in store.conn.execute("SELECT post_id, risk, at FROM inbox")}
    keys = [(rows[i][0], rows[i][1], i) if sort == "risk" else (rows[i][1], i) for i in seen]
    assert keys == sorted(keys, reverse=True)


def test_filters(store: Store) -> None:
    ids = _posts(store, 30)
    rivals = _posts(store, 5, brand="Rival", start=200)
    every = ids + rivals
    _risk(store, ids[1], 0.9, NOW, "critical")
    _risk(store, ids[2], 0.6, NOW, "warning")
    sync_inbox(store)
    set_status(store, ids[1], "assigned", "rita", now=NOW)
    set_status(store, ids[3], "resolved", "rita", now=NOW)
    snooze(store, ids[5], "rita", timedelta(hours=4), now=NOW)

    def run(**kw: str) -> set[str]:
        return set(_all_pages(store, InboxFilters.from_params(kw), size=50))

    assert run(severity="flagged") == {ids[1], ids[2]}
    assert run(severity="critical") == {ids[1]}
    assert (
        run(assignee="me") == set()
        and query_inbox(store, InboxFilters(assignee="me"), user="rita", now=NOW).rows[0]["post_id"]
        == ids[1]
    )
    assert ids[3] not in run() and run(status="resolved") == {ids[3]}
    assert ids[5] not in run() and run(status="snoozed") == {ids[5]}
    assert all(i.startswith("reddit:") for i in run(source="reddit"))
    assert run(lang="de") == {i for i in every if int(i.split(":")[1]) % 5 == 0} - {ids[5]}
    assert len(run(brand="Rival")) == 5
    assert len(run(competitor="only")) == 0  # no competitor list given
    rival_only = query_inbox(
        store, InboxFilters(competitor="only"), competitors=["Rival"], page_size=50, now=NOW
    )
    assert {r["post_id"] for r in rival_only.rows} == set(run(brand="Rival"))
    assert run(since="2024-05-01", until="2024-04-30") == set()
    assert run(q="refund NEAR/2 arrived") == {i for i in every if int(i.split(":")[1]) % 3 == 0} - {
        ids[3]
    }
    assert run(q='"lovely trip" NOT refund') == {i for i in every if int(i.split(":")[1]) % 3} - {
        ids[5]
    }
    bad = query_inbox(store, InboxFilters(q='"unclosed'), now=NOW)
    assert bad.error and bad.rows == []


def test_filters_round_trip_through_the_url() -> None:
    filters = InboxFilters.from_params(
        {
            "brand": "Acme",
            "severity": "flagged",
            "status": "all",
            "q": "a b",
            "since": "2024-01-02",
            "sort": "time",
            "x": "1",
        }
    )
    again = InboxFilters.from_params(
        dict(pair.split("=") for pair in filters.query_string().replace("+", " ").split("&"))
    )
    assert again == filters
    assert (
        InboxFilters.from_params({"status": "evil", "since": "yesterday", "sort": "x"})
        == InboxFilters()
    )


def test_bad_cursor_is_ignored(store: Store) -> None:
    _posts(store, 5)
    sync_inbox(store)
    page = query_inbox(store, InboxFilters(cursor="!!notbase64"), now=NOW)
    assert len(page.rows) == 5


@pytest.mark.parametrize("sort", ["risk", "time"])
def test_inbox_query_walks_an_index_without_sorting(store: Store, sort: str) -> None:
    _posts(store, 5)
    sync_inbox(store)
    from monitor.web import inbox

    order = (
        "ORDER BY i.risk DESC, i.at DESC, i.post_id DESC"
        if sort == "risk"
        else "ORDER BY i.at DESC, i.post_id DESC"
    )
    keyset = (
        "(i.risk, i.at, i.post_id) < (?, ?, ?)" if sort == "risk" else "(i.at, i.post_id) < (?, ?)"
    )
    args = [1.0, "z", "z"] if sort == "risk" else ["z", "z"]
    plan = store.conn.execute(
        f"EXPLAIN QUERY PLAN {inbox._SELECT} WHERE i.status IN ('new') AND {keyset} {order} LIMIT 51",
        args,
    ).fetchall()
    text = " | ".join(row[-1] for row in plan)
    assert "USE TEMP B-TREE" not in text, text
    assert ("idx_inbox_risk" if sort == "risk" else "idx_inbox_at") in text, text


# Each plan the search can take, forced on a small archive by shrinking its thresholds:
# (_FTS_CAP, _WALK_SET_CAP, _WALK_BUDGET, _FALLBACK_CAP).
PLANS = {
    "driven from the full-text index": (10_000, 10_000, 10_000, 10_000),
    "inbox walk checking a match set": (2, 10_000, 10_000, 10_000),
    "walk over budget, finished from the index": (2, 10_000, 5, 10_000),
    "walk over budget, page stops with a cursor": (2, 10_000, 5, 2),
    "walk re-checking every text": (2, 3, 10_000, 10_000),
}
SEARCHES = [
    ("refund NEAR/2 arrived", {}),
    ("refund", {"lang": "en"}),
    ('"lovely trip" NOT refund', {"source": "rss"}),
    ("refund", {"severity": "warning", "status": "all"}),
    ("lovely", {"since": "2024-05-01", "until": "2024-05-01"}),
    ("post", {"brand": "Acme", "lang": "de"}),
]


@pytest.mark.parametrize("plan", list(PLANS))
def test_search_gives_the_same_pages_whatever_the_plan(
    store: Store, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same rows in the same order as filtering the plain inbox with the exact query, page
    after page, whichever way the candidates are found."""
    from monitor.query import parse
    from monitor.web import inbox

    ids = _posts(store, 60)
    for n, post_id in enumerate(ids[:24]):
        _risk(store, post_id, round((n % 5) / 5, 2), NOW, "warning" if n % 2 else "info")
    sync_inbox(store)
    for name, value in zip(
        ("_FTS_CAP", "_WALK_SET_CAP", "_WALK_BUDGET", "_FALLBACK_CAP"), PLANS[plan], strict=True
    ):
        monkeypatch.setattr(inbox, name, value)
    for q, extra in SEARCHES:
        for sort in ("risk", "time"):
            filters = InboxFilters.from_params({**extra, "sort": sort})
            query = parse(q)
            texts = {
                r[0]: inbox._document(
                    dict(
                        zip(
                            ("title", "text", "author", "site", "url", "lang", "source"),
                            r[1:],
                            strict=True,
                        )
                    )
                )
                for r in store.conn.execute(
                    "SELECT id, title, text, author, site, url, lang, source FROM posts"
                )
            }
            expected = [i for i in _all_pages(store, filters, size=50) if query.matches(texts[i])]
            got = _all_pages(store, replace(filters, q=q), size=4)
            assert got == expected, (plan, q, extra, sort)


def test_a_search_stopped_by_its_budget_says_so(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.web import inbox

    _posts(store, 30)
    sync_inbox(store)
    for name, value in (("_FTS_CAP", 1), ("_WALK_BUDGET", 3), ("_FALLBACK_CAP", 1)):
        monkeypatch.setattr(inbox, name, value)
    page = query_inbox(store, InboxFilters(q="refund"), page_size=5, now=NOW)
    assert len(page.rows) == 1 and page.next_cursor  # ids 0..2 walked: only 0 matches
    assert page.notes and "continue to the next page" in page.notes[0]


@pytest.mark.parametrize("sort", ["risk", "time"])
def test_search_walk_stays_in_index_order(
    store: Store, sort: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A common term walks the sort index (no sort step) and checks matches against a set
    built once, not by looking each match up in the inbox and sorting them all."""
    from monitor.web import inbox

    _posts(store, 20)
    sync_inbox(store)
    monkeypatch.setattr(inbox, "_FTS_CAP", 2)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        query_inbox(store, InboxFilters(q="refund", sort=sort, lang="en"), page_size=3, now=NOW)
    finally:
        store.conn.set_trace_callback(None)
    walk = next(s for s in statements if "+i.post_rowid IN" in s)
    plan = " | ".join(
        row[-1] for row in store.conn.execute(f"EXPLAIN QUERY PLAN {walk}").fetchall()
    )
    assert "USE TEMP B-TREE" not in plan, plan
    assert ("idx_inbox_risk" if sort == "risk" else "idx_inbox_at") in plan, plan
    assert "idx_inbox_post_rowid" not in plan, plan


def test_inbox_rows_know_their_post_rowid(store: Store) -> None:
    _posts(store, 5)
    sync_inbox(store)
    mismatched = store.conn.execute(
        "SELECT count(*) FROM inbox i JOIN posts p ON p.id = i.post_id "
        "WHERE i.post_rowid IS NOT p.rowid"
    ).fetchone()[0]
    assert mismatched == 0


def test_source_filter_matches_type_or_configured_name_without_posts(store: Store) -> None:
    post = Post(
        source="rss",
        native_id="n1",
        title="refund news",
        text="refund never arrived",
        url="https://example.org/n1",
        published_at=NOW,
        source_name="travel-news",
    )
    store.upsert_posts([(post, ["Acme"])], seen_at=NOW)
    _posts(store, 4)
    sync_inbox(store)
    for value in ("travel-news", "rss"):
        for q in ("", "refund"):
            ids = {
                r["post_id"]
                for r in query_inbox(store, InboxFilters(source=value, q=q), now=NOW).rows
            }
            assert post.id in ids and all(i.startswith("rss:") for i in ids), (value, q)
    assert store.conn.execute(
        "SELECT source_name FROM inbox WHERE post_id = ?", (post.id,)
    ).fetchone() == ("travel-news",)
