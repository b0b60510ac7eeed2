"""Reddit: listing/comment/RSS parsers on recorded-shape fixtures and broken variants; the
collector's OAuth token handling, paging, rate budget, block pages and RSS fallback against a
loopback server."""

from __future__ import annotations

import base64
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
from sources.http import HttpClient, RetryPolicy
from sources.reddit import RedditCollector, parse_listing, parse_rss, search_query

FIX = Path(__file__).parent / "fixtures" / "reddit"
NOW = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
BRAND = Brand(name="Acme Air", query=None, aliases=("acmeair",))
JSON = {"Content-Type": "application/json; charset=UTF-8"}


def _listing(name: str) -> list[Any]:
    return parse_listing((FIX / name).read_bytes(), fetched_at=NOW, url="https://r.test/x")


def test_link_posts_are_normalised() -> None:
    self_post, link_post, removed = _listing("search_page0.json")
    assert self_post.native_id == "t3_aa3"
    assert self_post.title == "Acme Air & the broken guitar — again"
    assert self_post.text == "Third time this year. They **refused** a refund."
    assert self_post.url == "https://www.reddit.com/r/gadgets/comments/aa3/x/"  # no ?ref=
    assert self_post.published_at == datetime(2026, 11, 2, 10, 5, tzinfo=UTC)
    assert self_post.source_name == "r/gadgets" and self_post.site == "reddit.com"
    assert self_post.engagement is not None
    assert (self_post.engagement.likes, self_post.engagement.comments) == (15, 4)
    assert self_post.extra["upvote_ratio"] == 0.93 and "link" not in self_post.extra
    assert link_post.author is None  # "[deleted]"
    assert link_post.extra["link"] == "https://news.example/acme-ceo"
    assert removed.text == "" and removed.extra["removed"] == "[removed]"
    assert removed.extra["over_18"] is True


def test_comments_listing() -> None:
    reply, deleted = _listing("comments.json")
    assert reply.native_id == "t1_c2" and reply.title == "" and reply.extra["kind"] == "comment"
    assert reply.text == "Same thing happened to me with Acme Air."
    assert reply.extra["link_title"] == "Acme Air lost my guitar"
    assert reply.url == "https://www.reddit.com/r/gadgets/comments/aa1/acme_air_lost_my_guitar/c2/"
    assert reply.engagement is not None and reply.engagement.likes == 3
    # no permalink in older comment shapes: built from link_id and id
    assert deleted.url == "https://www.reddit.com/r/gadgets/comments/aa1/_/c1/"
    assert deleted.author is None and deleted.text == ""


def test_odd_children_are_skipped_or_read_leniently() -> None:
    posts = _listing("odd_children.json")
    assert [p.native_id for p in posts] == ["t3_ok1", "t3_ok2"]
    ok1, ok2 = posts
    assert ok1.engagement is not None and ok1.engagement.likes == 12
    assert ok1.extra.get("upvote_ratio") is None  # a string ratio is not trusted
    assert ok2.published_at is None and ok2.engagement is None and ok2.url is None


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        ((FIX / "search_truncated.json").read_bytes(), ParseError, "truncated"),
        ((FIX / "whoa_there.html").read_bytes(), BlockedError, "HTML page"),
        ((FIX / "error_object.json").read_bytes(), ParseError, "Forbidden"),
        ((FIX / "not_a_listing.json").read_bytes(), ParseError, "data.children"),
        (b"\n\n", ParseError, "empty"),
    ],
)
def test_broken_listings(payload: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_listing(payload, fetched_at=NOW)


def test_invalid_utf8_keeps_the_page() -> None:
    body = (FIX / "comments.json").read_bytes().replace(b"Same thing", b"Same \xc3 thing")
    assert parse_listing(body, fetched_at=NOW)[0].text.startswith("Same \ufffd thing")


def test_rss_fallback_parse() -> None:
    posts = parse_rss((FIX / "search.rss").read_bytes())
    first, second = posts
    assert first.native_id == "t3_aa3"  # same identity as the API: one post across modes
    assert first.author == "someone" and first.source_name == "r/gadgets"
    assert first.text == "Third time this year. They refused a refund."  # footer dropped
    assert first.engagement is None
    assert second.author is None and second.text == ""
    assert second.published_at == datetime(2026, 11, 2, 10, 1, 40, tzinfo=UTC)  # <updated> only


def test_search_query_quotes_and_limits() -> None:
    assert (
        search_query(["Acme Air", "acmeair", 'Bad "quote"'])
        == '"Acme Air" OR acmeair OR "Bad quote"'
    )
    assert len(search_query(["x" * 300, "y" * 300])) <= 512


# --- collector ------------------------------------------------------------------------------


class FakeReddit:
    """A loopback Reddit: token endpoint, search pages, listings, /api/info; counts calls."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.tokens = 0
        self.expired: set[str] = set()
        self.rate_remaining = "98.0"
        server.routes["/api/v1/access_token"] = self.token
        server.routes["/search"] = self.search
        server.routes["/r/gadgets+travel/search"] = self.search
        server.routes["/api/info"] = self.info

    def token(self, request: Request) -> Reply:
        self.tokens += 1
        expected = "Basic " + base64.b64encode(b"app-id:app-secret").decode()
        if request.headers.get("authorization") != expected:
            return Reply(401, b'{"message": "Unauthorized", "error": 401}', JSON)
        body = {"access_token": f"tok-{self.tokens}", "token_type": "bearer", "expires_in": 86400}
        return Reply(200, json.dumps(body).encode(), JSON)

    def _auth(self, request: Request) -> Reply | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("bearer tok-") or auth[7:] in self.expired:
            return Reply(401, b'{"message": "Unauthorized", "error": 401}', JSON)
        return None

    def _headers(self) -> dict[str, str]:
        return JSON | {
            "x-ratelimit-remaining": self.rate_remaining,
            "x-ratelimit-used": "2",
            "x-ratelimit-reset": "420",
        }

    def search(self, request: Request) -> Reply:
        denied = self._auth(request)
        if denied:
            return denied
        page = "search_page1.json" if request.query.get("after") else "search_page0.json"
        return Reply(200, (FIX / page).read_bytes(), self._headers(), etag=False)

    def info(self, request: Request) -> Reply:
        denied = self._auth(request)
        if denied:
            return denied
        return Reply(200, (FIX / "search_page0.json").read_bytes(), self._headers(), etag=False)


def _spec(server: LoopbackServer, **params: Any) -> SourceSpec:
    base = {
        "client_id_env": "TEST_REDDIT_ID",
        "client_secret_env": "TEST_REDDIT_SECRET",
        "user_agent": "linux:groundswell-test:0.1 (by /u/tester)",
        "api_url": server.url(""),
        "token_url": server.url("/api/v1/access_token"),
        "web_url": server.url(""),
    }
    return SourceSpec(name="reddit", type="reddit", params=MappingProxyType(base | params))


def _http() -> HttpClient:
    return HttpClient(
        timeout=2.0, sleep=lambda _s: None, jitter=lambda: 0.0, retry=RetryPolicy(attempts=2)
    )


def _state() -> SourceState:
    return SourceState(key="reddit|Acme Air", source="reddit", type="reddit", brand="Acme Air")


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_REDDIT_ID", "app-id")
    monkeypatch.setenv("TEST_REDDIT_SECRET", "app-secret")


def test_oauth_search_pages_and_caches_token(loopback: LoopbackServer, creds: None) -> None:
    fake = FakeReddit(loopback)
    with _http() as http:
        result = RedditCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)
        assert result.mode == "oauth"
        assert len(result.posts) == 5
        searches = [r for r in loopback.requests if r.path == "/search"]
        assert len(searches) == 2 and searches[1].query["after"] == ["t3_aa1"]
        first = searches[0]
        assert first.query["q"] == ['"Acme Air" OR acmeair']
        assert first.query["sort"] == ["new"] and first.query["raw_json"] == ["1"]
        assert first.headers["user-agent"] == "linux:groundswell-test:0.1 (by /u/tester)"
        assert result.state.extra["cursors"]["search"] == "2026-11-02T10:05:00.000000Z"
        # a second round on the same client reuses the token and stops at the watermark
        loopback.requests.clear()
        spec = _spec(loopback, overlap=60)
        again = RedditCollector(spec, http, lambda: NOW).collect(result.state, BRAND)
    assert fake.tokens == 1
    # page 0 already holds an item older than the watermark minus the overlap: no page 1
    assert [r.path for r in loopback.requests] == ["/search"]
    assert again.state.extra["cursors"]["search"] == "2026-11-02T10:05:00.000000Z"


def test_expired_token_is_renewed_once(loopback: LoopbackServer, creds: None) -> None:
    fake = FakeReddit(loopback)
    with _http() as http:
        collector = RedditCollector(_spec(loopback), http, lambda: NOW)
        collector.collect(_state(), BRAND)
        fake.expired.add("tok-1")
        result = collector.collect(_state(), BRAND)
    assert fake.tokens == 2 and len(result.posts) == 5


def test_rate_budget_from_headers_stops_before_asking(
    loopback: LoopbackServer, creds: None
) -> None:
    fake = FakeReddit(loopback)
    fake.rate_remaining = "0.0"
    with _http() as http:
        collector = RedditCollector(_spec(loopback), http, lambda: NOW)
        first = collector.collect(_state(), BRAND)
        assert "rate budget used up" in first.notes[0]
        assert first.state.extra["cursors"] == {}  # stopped early: the watermark does not move
        before = len(loopback.requests)
        with pytest.raises(RateLimitedError, match=r"retry after 420s"):
            collector.collect(_state(), BRAND)
    assert len(loopback.requests) == before  # no request was spent on a known-empty budget


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (Reply(403, (FIX / "whoa_there.html").read_bytes()), BlockedError, "whoa there"),
        (Reply(429, b"", {"Retry-After": "600"}), RateLimitedError, "retry after 600s"),
        (
            Reply(200, (FIX / "whoa_there.html").read_bytes(), {"Content-Type": "text/html"}),
            BlockedError,
            "HTML page",
        ),
        (Reply(500, b"oops"), HttpStatusError, "HTTP 500"),
    ],
)
def test_api_errors_are_clear(
    loopback: LoopbackServer, creds: None, reply: Reply, error: type[Exception], message: str
) -> None:
    FakeReddit(loopback)
    loopback.routes["/search"] = reply
    with _http() as http, pytest.raises(error, match=message):
        RedditCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)


def test_bad_credentials_name_the_env_vars_not_the_secret(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_REDDIT_ID", "app-id")
    monkeypatch.setenv("TEST_REDDIT_SECRET", "wrong-secret")
    FakeReddit(loopback)
    with _http() as http, pytest.raises(HttpStatusError) as info:
        RedditCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)
    assert "TEST_REDDIT_ID/TEST_REDDIT_SECRET" in str(info.value)
    assert "wrong-secret" not in str(info.value) and "wrong-secret" not in repr(info.value)


def test_subreddit_search_and_listings(loopback: LoopbackServer, creds: None) -> None:
    FakeReddit(loopback)
    loopback.routes["/r/gadgets+travel/new"] = Reply(
        200, (FIX / "search_page1.json").read_bytes(), JSON
    )
    loopback.routes["/r/gadgets+travel/comments"] = Reply(
        200, (FIX / "comments.json").read_bytes(), JSON
    )
    spec = _spec(loopback, subreddits=["gadgets", "r/travel"], listing=True, comments=True)
    with _http() as http:
        result = RedditCollector(spec, http, lambda: NOW).collect(_state(), BRAND)
    paths = [r.path for r in loopback.requests if r.path != "/api/v1/access_token"]
    assert paths[0] == "/r/gadgets+travel/search"
    assert loopback.requests[1].query["restrict_sr"] == ["1"]
    assert "/r/gadgets+travel/new" in paths and "/r/gadgets+travel/comments" in paths
    assert {"t1_c1", "t1_c2", "t3_aa3"} <= {p.native_id for p in result.posts}
    assert set(result.state.extra["cursors"]) == {"search", "new", "comments"}


def test_rss_fallback_without_credentials(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_REDDIT_ID", raising=False)
    monkeypatch.delenv("TEST_REDDIT_SECRET", raising=False)
    loopback.routes["/search.rss"] = Reply(
        200, (FIX / "search.rss").read_bytes(), {"Content-Type": "application/atom+xml"}
    )
    with _http() as http:
        collector = RedditCollector(_spec(loopback), http, lambda: NOW)
        assert collector.mode == "rss"
        result = collector.collect(_state(), BRAND)
        assert result.mode == "rss" and [p.native_id for p in result.posts] == ["t3_aa3", "t3_aa2"]
        assert "not set" in result.notes[0]
        assert loopback.requests[0].query["q"] == ['"Acme Air" OR acmeair']
        # the feed's ETag is remembered: an unchanged feed costs a 304 and yields nothing
        again = collector.collect(result.state, BRAND)
    assert loopback.requests[-1].headers.get("if-none-match")
    assert again.posts == []
    assert collector.refresh(["t3_aa3"]) == []  # no metrics without the API


def test_rss_block_page_and_throttle(loopback: LoopbackServer) -> None:
    spec = SourceSpec(
        name="r", type="reddit", params=MappingProxyType({"web_url": loopback.url("")})
    )
    loopback.routes["/search.rss"] = Reply(403, (FIX / "whoa_there.html").read_bytes())
    with _http() as http, pytest.raises(BlockedError, match="configure an approved app"):
        RedditCollector(spec, http, lambda: NOW).collect(_state(), BRAND)
    loopback.routes["/search.rss"] = Reply(429, b"", {"Retry-After": "3600"})
    with _http() as http, pytest.raises(RateLimitedError, match="3600"):
        RedditCollector(spec, http, lambda: NOW).collect(_state(), BRAND)


def test_refresh_batches_by_100(loopback: LoopbackServer, creds: None) -> None:
    FakeReddit(loopback)
    ids = [f"t3_{i:x}" for i in range(150)] + ["not-a-fullname"]
    with _http() as http:
        posts = RedditCollector(_spec(loopback), http, lambda: NOW).refresh(ids)
    calls = [r for r in loopback.requests if r.path == "/api/info"]
    assert [len(c.query["id"][0].split(",")) for c in calls] == [100, 50]
    assert posts and posts[0].engagement is not None


def test_validate_params() -> None:
    problems = Problems()
    RedditCollector.validate_params(
        {
            "subreddits": ["ok_name", "bad name!"],
            "client_id_env": "X",
            "time": "decade",
            "limit": 500,
        },
        "sources.reddit.params",
        problems,
    )
    found = {p.path: p.message for p in problems.items}
    assert "not a subreddit name" in found["sources.reddit.params.subreddits[1]"]
    assert "both" in found["sources.reddit.params.client_secret_env"]
    assert "unknown time window" in found["sources.reddit.params.time"]
    assert found["sources.reddit.params.limit"] == "out of range: 500"


def test_pipeline_records_the_mode_for_status(
    loopback: LoopbackServer, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.config import Config
    from monitor.pipeline import poll
    from monitor.query import parse
    from monitor.status import collect_status

    monkeypatch.delenv("TEST_REDDIT_ID", raising=False)
    loopback.routes["/search.rss"] = Reply(
        200, (FIX / "search.rss").read_bytes(), {"Content-Type": "application/atom+xml"}
    )
    brand = Brand(name="Acme Air", query=parse('"acme air"'))
    config = Config(brands=(brand,), sources=(_spec(loopback),))
    with _http() as http:
        report = poll(config, store, http, clock=lambda: NOW)
    assert report.sources[0].ok and report.new == 2
    (row,) = collect_status(config, store)["sources"]
    assert row["mode"] == "rss"
    assert store.post("reddit:t3_aa3") is not None


def test_a_429_pauses_the_budget_then_recovers(loopback: LoopbackServer, creds: None) -> None:
    FakeReddit(loopback)
    loopback.routes["/search"] = Reply(429, b"", {"Retry-After": "90"})
    from sources.limits import HostLimiter

    clock = [NOW]
    limiter = HostLimiter(
        sleep=lambda _s: None, clock=lambda: (clock[0] - NOW).total_seconds(), wall=lambda: clock[0]
    )
    http = HttpClient(
        timeout=2.0, sleep=lambda _s: None, retry=RetryPolicy(attempts=1), limiter=limiter
    )
    with http:
        collector = RedditCollector(_spec(loopback), http, lambda: clock[0])
        with pytest.raises(RateLimitedError):
            collector.collect(_state(), BRAND)
        sent = len(loopback.requests)
        with pytest.raises(RateLimitedError):  # still inside the server's wait: not even asked
            collector.collect(_state(), BRAND)
        assert len(loopback.requests) == sent
        FakeReddit(loopback)  # the server recovers
        clock[0] = NOW + timedelta(seconds=91)
        assert len(collector.collect(_state(), BRAND).posts) == 5
