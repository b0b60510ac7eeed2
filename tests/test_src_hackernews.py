"""Hacker News (Algolia): parser on recorded-shape fixtures and broken variants; collector paging,
cursor windows and errors against a loopback server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from monitor.config import Brand, Problems, SourceSpec
from monitor.loopback import LoopbackServer, Reply, Request
from monitor.store import SourceState
from sources.errors import BlockedError, HttpStatusError, ParseError, RateLimitedError
from sources.hackernews import HackerNewsCollector, parse_item, parse_search
from sources.http import HttpClient, RetryPolicy

FIX = Path(__file__).parent / "fixtures" / "hackernews"
NOW = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
BRAND = Brand(name="Acme Air", query=None, aliases=("acmeair",))


def _parse(name: str) -> list[Any]:
    return parse_search((FIX / name).read_bytes(), fetched_at=NOW, url="https://hn.test/x")


def test_stories_and_comments_are_normalised() -> None:
    comment, ask, link = _parse("search_page0.json")
    assert comment.native_id == "45000003" and comment.extra["kind"] == "comment"
    assert comment.title == ""
    assert (
        comment.text
        == 'Acme Air lost my bike too / third time this year.\nSupport said "not our problem".'
    )
    assert comment.url == "https://news.ycombinator.com/item?id=45000003"
    assert comment.extra["story_id"] == 45000001
    assert comment.engagement is None  # comments carry no points in search hits
    assert ask.title == "Ask HN: Has anyone got a refund from Acme Air?"
    assert ask.text == "Six weeks and counting. Anyone succeed?"
    assert link.extra["link"] == "https://news.example/acme-guitars?utm_source=hn"
    assert link.engagement is not None
    assert (link.engagement.likes, link.engagement.comments) == (120, 48)
    assert link.engagement.at == NOW
    assert link.published_at == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    assert link.raw_date == "2026-11-02T10:00:00.000Z"
    assert link.author == "pat" and link.site == "news.ycombinator.com"


def test_empty_url_string_and_extra_keys() -> None:
    blank, none = _parse("search_page1.json")
    assert "link" not in blank.extra and "link" not in none.extra
    assert blank.title == "Acme Air’s new CEO interview"


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("search_past_last_page.json", []),
        # invalid hits are skipped, duplicates dropped, odd types read as best as possible
        ("search_odd_hits.json", ["45000010", "45000011", "45000012"]),
    ],
)
def test_odd_and_empty_pages(name: str, ids: list[str]) -> None:
    assert [p.native_id for p in _parse(name)] == ids


def test_odd_values() -> None:
    good, text_date, nulls = _parse("search_odd_hits.json")
    assert good.engagement is not None and good.engagement.likes == 7  # "7" → 7
    assert good.engagement.comments == 1  # 1.0 → 1
    assert text_date.published_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # epoch unreadable
    assert nulls.engagement is None and nulls.author is None and nulls.title == ""


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        ((FIX / "search_truncated.json").read_bytes(), ParseError, "truncated"),
        ((FIX / "search_html_200.html").read_bytes(), BlockedError, "HTML page"),
        ((FIX / "search_hits_not_list.json").read_bytes(), ParseError, "'hits'"),
        (b"", ParseError, "empty"),
        (b"[1, 2]", ParseError, "'hits'"),
    ],
)
def test_broken_payloads_raise_clear_errors(
    payload: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        parse_search(payload, fetched_at=NOW, url="https://hn.test/x")
    assert "https://hn.test/x" in str(info.value)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    body = (FIX / "search_page0.json").read_bytes().replace(b"Six weeks", b"Six \xff weeks")
    posts = parse_search(body, fetched_at=NOW)
    assert posts[1].text.startswith("Six \ufffd weeks")


def test_huge_page_parses() -> None:
    hits = json.loads((FIX / "search_page0.json").read_text())["hits"]
    many = [dict(hits[2], objectID=str(i), created_at_i=1793613600 - i) for i in range(5000)]
    posts = parse_search(json.dumps({"hits": many}).encode(), fetched_at=NOW)
    assert len(posts) == 5000


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("item_45000001.json", ("45000001", 188, 71, "Acme Air breaks guitars, again")),
        ("item_comment.json", ("45000003", None, None, "")),
        ("item_deleted.json", None),
    ],
)
def test_firebase_items(name: str, expected: tuple[Any, ...] | None) -> None:
    post = parse_item((FIX / name).read_bytes(), fetched_at=NOW)
    if expected is None:
        assert post is None
        return
    assert post is not None
    likes = post.engagement.likes if post.engagement else None
    comments = post.engagement.comments if post.engagement else None
    assert (post.native_id, likes, comments, post.title) == expected


def test_item_null_is_missing() -> None:
    assert parse_item(b"null", fetched_at=NOW) is None


# --- collector against a loopback server ------------------------------------------------------


def _spec(server: LoopbackServer, **params: Any) -> SourceSpec:
    base = {"api_url": server.url("/api/v1"), "item_api_url": server.url("/v0")}
    return SourceSpec(name="hn", type="hackernews", params=MappingProxyType(base | params))


def _http() -> HttpClient:
    return HttpClient(
        timeout=2.0, sleep=lambda _s: None, jitter=lambda: 0.0, retry=RetryPolicy(attempts=2)
    )


def _state() -> SourceState:
    return SourceState(key="hn|Acme Air", source="hn", type="hackernews", brand="Acme Air")


def _search_handler(pages: dict[str, list[bytes]]) -> Any:
    def handle(request: Request) -> Reply:
        term = request.query["query"][0]
        page = int(request.query["page"][0])
        bodies = pages.get(term, [])
        body = (
            bodies[page]
            if page < len(bodies)
            else (FIX / "search_past_last_page.json").read_bytes()
        )
        return Reply(200, body, {"Content-Type": "application/json; charset=utf-8"})

    return handle


def test_collect_pages_every_term_and_sets_cursor(loopback: LoopbackServer) -> None:
    pages = [(FIX / "search_page0.json").read_bytes(), (FIX / "search_page1.json").read_bytes()]
    loopback.routes["/api/v1/search_by_date"] = _search_handler({"Acme Air": pages})
    with _http() as http:
        collector = HackerNewsCollector(_spec(loopback), http, lambda: NOW)
        result = collector.collect(_state(), BRAND)
    assert len(result.posts) == 5
    queries = [(r.query["query"][0], r.query["page"][0]) for r in loopback.requests]
    assert queries == [("Acme Air", "0"), ("Acme Air", "1"), ("acmeair", "0")]
    first = loopback.requests[0].query
    assert first["tags"] == ["(story,comment)"]
    lookback_start = int((NOW - timedelta(days=1) - timedelta(seconds=300)).timestamp())
    assert first["numericFilters"] == [f"created_at_i>{lookback_start}"]
    # the cursor is the newest creation time seen; the next poll starts there minus the overlap
    assert result.state.cursor == "2026-11-02T10:05:00.000000Z"
    assert "gap_until" not in result.state.extra
    loopback.requests.clear()
    with _http() as http:
        HackerNewsCollector(_spec(loopback), http, lambda: NOW).collect(result.state, BRAND)
    assert loopback.requests[0].query["numericFilters"] == [f"created_at_i>{1793613900 - 300}"]


def test_truncated_window_reads_new_hits_first_then_fills_the_gap(
    loopback: LoopbackServer,
) -> None:
    pages = [(FIX / "search_page0.json").read_bytes(), (FIX / "search_page1.json").read_bytes()]
    loopback.routes["/api/v1/search_by_date"] = _search_handler({"Acme Air": pages})
    brand = Brand(name="Acme Air", query=None)
    with _http() as http:
        collector = HackerNewsCollector(_spec(loopback, max_pages=1), http, lambda: NOW)
        first = collector.collect(_state(), brand)
        assert [p.native_id for p in first.posts] == ["45000003", "45000002", "45000001"]
        assert first.notes and "page budget" in first.notes[0]
        assert first.state.cursor == "2026-11-02T10:05:00.000000Z"
        lookback = "2026-11-01T10:30:00.000000Z"
        assert first.state.extra["gaps"] == [[lookback, "2026-11-02T10:00:00.000000Z"]]
        loopback.requests.clear()
        # the gap is still deeper than one page: it shrinks, and new hits are asked for first
        second = collector.collect(first.state, brand)
        numeric = [r.query["numericFilters"][0] for r in loopback.requests]
        assert numeric == [
            f"created_at_i>{1793613900 - 300}",
            f"created_at_i>{int(NOW.timestamp()) - 86400 - 300},created_at_i<={1793613600 + 300}",
        ]
        assert second.state.extra["gaps"] == [[lookback, "2026-11-02T10:00:00.000000Z"]]
    # a gap read that reaches its end closes the gap
    last = json.loads((FIX / "search_page1.json").read_text()) | {"page": 0, "nbPages": 1}
    loopback.routes["/api/v1/search_by_date"] = _search_handler(
        {"Acme Air": [json.dumps(last).encode()]}
    )
    with _http() as http:
        third = HackerNewsCollector(_spec(loopback, max_pages=1), http, lambda: NOW).collect(
            second.state, brand
        )
    assert third.state.cursor == "2026-11-02T10:05:00.000000Z"
    assert "gaps" not in third.state.extra


def test_windows_collect_every_item_through_bursts() -> None:
    """A simulated stream with bursts bigger than the page budget: every poll sees the newest
    items at once, and the backlog is caught up by later polls without holes (the overlap may
    return an item twice; the archive stores it once)."""
    from monitor.records import Post
    from sources.social import RangeResult, collect_windows

    start = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    # 30 items in the first 10 minutes (a burst), then 1 a minute
    times = [start + timedelta(seconds=20 * i) for i in range(30)]
    times += [start + timedelta(minutes=10 + i) for i in range(60)]
    items = {f"i{n}": t for n, t in enumerate(times)}
    budget = 8

    def fetch(now: datetime) -> Any:
        def search(term: str, since: datetime, until: datetime | None) -> RangeResult:
            hits = sorted(
                (
                    (t, i)
                    for i, t in items.items()
                    if since < t <= now and (until is None or t <= until)
                ),
                reverse=True,
            )
            posts = [Post(source="t", native_id=i, published_at=t) for t, i in hits[:budget]]
            return RangeResult.of(posts, truncated=len(hits) > budget)

        return search

    state = _state()
    collected: dict[str, int] = {}
    for minute in range(10, 71, 5):
        now = start + timedelta(minutes=minute)
        posts, state, _notes = collect_windows(
            state,
            now,
            ["acme"],
            fetch(now),
            lookback=timedelta(minutes=15),
            overlap=timedelta(seconds=30),
        )
        for post in posts:
            collected[post.native_id] = collected.get(post.native_id, 0) + 1
        newest = max((t, i) for i, t in items.items() if t <= now)[1]
        assert newest in {p.native_id for p in posts}  # fresh items are never held back
    for _ in range(10):  # quiet polls drain the backlog
        posts, state, _notes = collect_windows(
            state,
            now,
            ["acme"],
            fetch(now),
            lookback=timedelta(minutes=15),
            overlap=timedelta(seconds=30),
        )
        for post in posts:
            collected[post.native_id] = collected.get(post.native_id, 0) + 1
    assert set(collected) == {i for i, t in items.items() if t <= now}
    assert "gaps" not in state.extra


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (Reply(429, b"", {"Retry-After": "3600"}), RateLimitedError, "rate limited"),
        (Reply(503, b"down"), HttpStatusError, "HTTP 503"),
        (Reply(404, b"no"), HttpStatusError, "HTTP 404"),
        (Reply(200, b"<html><body>maintenance</body></html>"), BlockedError, "HTML page"),
        (Reply(200, b'{"hits": [{"objectID": "1"'), ParseError, "truncated"),
    ],
)
def test_collect_errors_are_clear_and_keep_state(
    loopback: LoopbackServer, reply: Reply, error: type[Exception], message: str
) -> None:
    loopback.routes["/api/v1/search_by_date"] = reply
    state = _state().evolve(cursor="2026-11-02T09:00:00.000000Z")
    with _http() as http, pytest.raises(error, match=message):
        HackerNewsCollector(_spec(loopback), http, lambda: NOW).collect(state, BRAND)


def test_timeout_is_a_fetch_error(loopback: LoopbackServer) -> None:
    from sources.errors import TimeoutFetchError

    loopback.routes["/api/v1/search_by_date"] = Reply(200, b"{}", delay=1.0)
    http = HttpClient(timeout=0.2, sleep=lambda _s: None, retry=RetryPolicy(attempts=1))
    with http, pytest.raises(TimeoutFetchError):
        HackerNewsCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)


def test_refresh_reads_items_and_skips_missing(loopback: LoopbackServer) -> None:
    loopback.routes["/v0/item/45000001.json"] = Reply(
        200, (FIX / "item_45000001.json").read_bytes()
    )
    loopback.routes["/v0/item/45000004.json"] = Reply(200, (FIX / "item_deleted.json").read_bytes())
    loopback.routes["/v0/item/1.json"] = Reply(200, b"null")
    with _http() as http:
        posts = HackerNewsCollector(_spec(loopback), http, lambda: NOW).refresh(
            ["45000001", "45000004", "1", "not-an-id", "404404"]
        )
    assert [(p.native_id, p.engagement.likes if p.engagement else None) for p in posts] == [
        ("45000001", 188)
    ]


def test_validate_params_names_key_and_hint() -> None:
    problems = Problems()
    HackerNewsCollector.validate_params(
        {"tags": ["story", "poll"], "hits_per_page": 5000, "api_url": "ftp://x", "tagz": 1},
        "sources.hn.params",
        problems,
    )
    found = {p.path: p.message for p in problems.items}
    assert found["sources.hn.params.tags[1]"] == "unknown tag 'poll'"
    assert found["sources.hn.params.hits_per_page"] == "out of range: 5000"
    assert "not an http(s) URL" in found["sources.hn.params.api_url"]
    assert found["sources.hn.params.tagz"] == "unknown key"


def test_pipeline_restart_neither_restores_nor_skips(loopback: LoopbackServer, store: Any) -> None:
    """Two polls through the real pipeline and archive, with a new HTTP client in between."""
    from monitor.config import Config
    from monitor.pipeline import poll
    from monitor.query import parse

    pages = [(FIX / "search_page0.json").read_bytes(), (FIX / "search_page1.json").read_bytes()]
    loopback.routes["/api/v1/search_by_date"] = _search_handler({"Acme Air": pages})
    brand = Brand(name="Acme Air", query=parse('"acme air"'))
    config = Config(brands=(brand,), sources=(_spec(loopback),))
    with _http() as http:
        first = poll(config, store, http, clock=lambda: NOW)
    assert first.sources[0].ok and first.new == 5
    state = store.get_state("hn|Acme Air")
    assert state is not None and state.cursor == "2026-11-02T10:05:00.000000Z"
    # the story gained points; the second poll (a restarted process) re-reads the overlap only
    bumped = json.loads(pages[0])
    bumped["hits"][2]["points"] = 150
    loopback.routes["/api/v1/search_by_date"] = _search_handler(
        {"Acme Air": [json.dumps(bumped | {"nbPages": 1}).encode()]}
    )
    later = NOW + timedelta(minutes=10)
    with _http() as http:
        second = poll(config, store, http, clock=lambda: later)
    assert second.sources[0].ok and second.new == 0
    assert store.count("posts") == 5
    likes = [s.likes for s in store.snapshots("hackernews:45000001")]
    assert likes == [120, 150]
