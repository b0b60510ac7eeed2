"""Bluesky: postView/feed parsers on recorded-shape fixtures and broken variants; session caching,
refresh and login errors, search paging in time windows and getPosts refresh on loopback."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from monitor.config import Brand, Problems, SourceSpec
from monitor.loopback import LoopbackServer, Reply, Request
from monitor.store import SourceState
from sources.bluesky import BlueskyCollector, parse_feed_items, parse_posts, web_url
from sources.errors import BlockedError, HttpStatusError, ParseError, RateLimitedError, SourceError
from sources.http import HttpClient, RetryPolicy

FIX = Path(__file__).parent / "fixtures" / "bluesky"
NOW = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
BRAND = Brand(name="Acme Air", query=None, handles=("@acmeair",))
JSON = {"Content-Type": "application/json; charset=utf-8"}


def _posts(name: str) -> list[Any]:
    return parse_posts((FIX / name).read_bytes(), fetched_at=NOW, url="https://b.test/x")


def test_post_views_are_normalised() -> None:
    ana, jan, invalid, future = _posts("search_page0.json")
    assert ana.native_id == "at://did:plc:ana111/app.bsky.feed.post/3m2aaa5"
    assert ana.url == "https://bsky.app/profile/ana.bsky.social/post/3m2aaa5"
    assert ana.text == "Third time @acmeair lost my bag. Refund refused 😡"
    assert ana.author == "ana.bsky.social" and ana.lang == "en" and ana.site == "bsky.app"
    assert ana.engagement is not None
    assert ana.engagement.counts() == (30, 7, 4, None)  # shares = reposts + quotes
    assert ana.extra["quotes"] == 2
    # three createdAt formats: microseconds Z, microseconds +00:00, milliseconds Z
    assert ana.published_at == datetime(2026, 11, 2, 10, 5, 0, 123456, tzinfo=UTC)
    assert ana.raw_date == "2026-11-02T10:05:00.123456Z"
    assert jan.published_at == datetime(2026, 11, 2, 10, 1, 0, 123456, tzinfo=UTC)
    assert invalid.published_at == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    assert jan.lang is None and jan.extra["reply_to"].endswith("/3m2aaa0")
    assert invalid.url == "https://bsky.app/profile/did:plc:bad333/post/3m2aaa3"
    assert invalid.lang == "en" and invalid.extra["link"] == "https://news.example/acme-guitars"
    # a client clock in the future: the server's indexedAt is used, the raw string kept
    assert future.published_at == datetime(2026, 11, 2, 9, 59, tzinfo=UTC)
    assert future.raw_date == "2027-01-01T00:00:00Z"


def test_feed_wrapper_and_get_posts_shapes() -> None:
    feed = parse_feed_items((FIX / "get_feed.json").read_bytes(), fetched_at=NOW)
    assert [p.url.rsplit("/", 1)[1] for p in feed if p.url] == ["3m2aaa5", "3m2aaa1", "3m2aaa4"]
    (single,) = _posts("get_posts.json")
    assert single.engagement is not None and single.engagement.likes == 75


def test_odd_post_views() -> None:
    ok, weird = _posts("odd_posts.json")
    assert ok.published_at == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # bad createdAt
    assert ok.engagement is not None and ok.engagement.counts() == (5, None, None, None)
    assert weird.author is None and weird.text == "" and weird.engagement is None
    assert weird.url == "https://bsky.app/profile/did:plc:weird/post/3w"


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        ((FIX / "search_truncated.json").read_bytes(), ParseError, "truncated"),
        ((FIX / "error_bad_query.json").read_bytes(), ParseError, "InvalidRequest"),
        (b"<html><head><title>502</title></head></html>", BlockedError, "HTML page"),
        (b'{"feed": []}', ParseError, "'posts'"),
        (b"", ParseError, "empty"),
    ],
)
def test_broken_payloads(payload: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_posts(payload, fetched_at=NOW)


def test_feed_without_feed_list() -> None:
    with pytest.raises(ParseError, match="'feed'"):
        parse_feed_items(b'{"posts": []}', fetched_at=NOW)


def test_invalid_utf8_and_web_url_edge_cases() -> None:
    body = (FIX / "search_page0.json").read_bytes().replace(b"Third", b"Th\xe9rd")
    assert _posts_from(body)[0].text.startswith("Th\ufffdrd")
    assert web_url("at://did:plc:x/app.bsky.feed.repost/1", "x") is None


def _posts_from(body: bytes) -> list[Any]:
    return parse_posts(body, fetched_at=NOW)


# --- collector ------------------------------------------------------------------------------


def _jwt(exp: int) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFUzI1NksifQ.{claims}.c2ln"


class FakePds:
    """createSession / refreshSession / searchPosts / getPosts with call counters."""

    def __init__(self, server: LoopbackServer) -> None:
        self.logins = 0
        self.refreshes = 0
        self.login_reply: Reply | None = None
        self.refresh_ok = True
        self.expired_access: set[str] = set()
        session = json.loads((FIX / "create_session.json").read_text())
        self.access, self.refresh = session["accessJwt"], session["refreshJwt"]
        x = "/xrpc/"
        server.routes[x + "com.atproto.server.createSession"] = self.create
        server.routes[x + "com.atproto.server.refreshSession"] = self.renew
        server.routes[x + "app.bsky.feed.searchPosts"] = self.search
        server.routes[x + "app.bsky.feed.getPosts"] = self.get_posts
        server.routes[x + "app.bsky.actor.getProfiles"] = self.get_profiles

    def create(self, request: Request) -> Reply:
        self.logins += 1
        if self.login_reply is not None:
            return self.login_reply
        body = json.loads(request.body)
        if body != {"identifier": "brandwatch.bsky.social", "password": "app-pass-1234"}:
            return Reply(
                401,
                b'{"error":"AuthenticationRequired","message":"Invalid identifier or password"}',
                JSON,
            )
        return Reply(200, (FIX / "create_session.json").read_bytes(), JSON)

    def renew(self, request: Request) -> Reply:
        self.refreshes += 1
        if not self.refresh_ok or request.headers.get("authorization") != f"Bearer {self.refresh}":
            return Reply(400, b'{"error":"ExpiredToken","message":"Token has expired"}', JSON)
        session = json.loads((FIX / "create_session.json").read_text())
        self.access = session["accessJwt"] = _jwt(exp=1793624400 + self.refreshes)  # 13:00
        return Reply(200, json.dumps(session).encode(), JSON)

    def _denied(self, request: Request) -> Reply | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token != self.access or token in self.expired_access:
            return Reply(400, (FIX / "error_expired.json").read_bytes(), JSON)
        return None

    def search(self, request: Request) -> Reply:
        denied = self._denied(request)
        if denied:
            return denied
        page = "search_page1.json" if request.query.get("cursor") == ["4"] else "search_page0.json"
        return Reply(200, (FIX / page).read_bytes(), JSON, etag=False)

    def get_profiles(self, request: Request) -> Reply:
        return self._denied(request) or Reply(200, (FIX / "get_profiles.json").read_bytes(), JSON)

    def get_posts(self, request: Request) -> Reply:
        return self._denied(request) or Reply(200, (FIX / "get_posts.json").read_bytes(), JSON)


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_BSKY_HANDLE", "brandwatch.bsky.social")
    monkeypatch.setenv("TEST_BSKY_PASSWORD", "app-pass-1234")


def _spec(server: LoopbackServer, **params: Any) -> SourceSpec:
    base = {
        "handle_env": "TEST_BSKY_HANDLE",
        "app_password_env": "TEST_BSKY_PASSWORD",
        "service": server.url(""),
    }
    return SourceSpec(name="bsky", type="bluesky", params=MappingProxyType(base | params))


def _http() -> HttpClient:
    return HttpClient(
        timeout=2.0, sleep=lambda _s: None, jitter=lambda: 0.0, retry=RetryPolicy(attempts=2)
    )


def _state() -> SourceState:
    return SourceState(key="bsky|Acme Air", source="bsky", type="bluesky", brand="Acme Air")


def test_search_pages_window_and_single_login(loopback: LoopbackServer, account: None) -> None:
    pds = FakePds(loopback)
    brand = Brand(name="Acme Air", query=None)
    with _http() as http:
        first = BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(_state(), brand)
        assert len(first.posts) == 6
        searches = [r for r in loopback.requests if r.path.endswith("searchPosts")]
        assert [r.query.get("cursor") for r in searches] == [None, ["4"]]
        assert searches[0].query["q"] == ['"Acme Air"'] and searches[0].query["sort"] == ["latest"]
        assert searches[0].query["since"] == ["2026-11-01T10:20:00.000000Z"]  # lookback + overlap
        assert searches[0].headers["authorization"] == f"Bearer {pds.access}"
        # newest sort time = min(createdAt, indexedAt) of the newest post
        assert first.state.cursor == "2026-11-02T10:05:00.123456Z"
        # the next round (a new collector, as each poll makes) reuses the cached session
        second = BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(first.state, brand)
    assert pds.logins == 1
    last = [r for r in loopback.requests if r.path.endswith("searchPosts")][-1]
    assert last.query["since"] == ["2026-11-02T09:55:00.123456Z"]
    assert second.state.cursor == first.state.cursor


def test_author_followers_from_profiles_cached(loopback: LoopbackServer, account: None) -> None:
    FakePds(loopback)
    with _http() as http:
        result = BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)
        BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)
    followers = {p.author: p.author_followers for p in result.posts}
    assert followers["ana.bsky.social"] == 15230 and followers["jan.example.com"] == 12
    assert followers["kim.bsky.social"] is None  # a non-numeric count is not invented
    lookups = [r for r in loopback.requests if r.path.endswith("getProfiles")]
    assert len(lookups) == 2  # second round: only the authors not answered before
    assert len(lookups[0].query["actors"]) == 5 and lookups[1].query["actors"] == [
        "did:plc:bad333",
        "did:plc:fut444",
        "did:plc:kim555",
    ]


def test_profile_lookup_failure_keeps_posts(loopback: LoopbackServer, account: None) -> None:
    FakePds(loopback)
    loopback.routes["/xrpc/app.bsky.actor.getProfiles"] = Reply(502, b"bad gateway")
    with _http() as http:
        result = BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)
    assert len(result.posts) == 6 and all(p.author_followers is None for p in result.posts)
    assert "follower counts unavailable" in result.notes[-1]


def test_expired_access_token_is_refreshed_not_relogged(
    loopback: LoopbackServer, account: None
) -> None:
    pds = FakePds(loopback)
    with _http() as http:
        collector = BlueskyCollector(_spec(loopback), http, lambda: NOW)
        collector.collect(_state(), BRAND)
        pds.expired_access.add(pds.access)
        result = collector.collect(_state(), BRAND)
    assert (pds.logins, pds.refreshes) == (1, 1)
    assert len(result.posts) == 6


def test_access_token_near_expiry_is_refreshed_before_use(
    loopback: LoopbackServer, account: None
) -> None:
    pds = FakePds(loopback)
    later = datetime(2026, 11, 2, 10, 58, tzinfo=UTC)  # the fixture's access token ends at 11:00
    with _http() as http:
        BlueskyCollector(_spec(loopback), http, lambda: NOW).refresh([])
        BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)
        BlueskyCollector(_spec(loopback), http, lambda: later).collect(_state(), BRAND)
    assert (pds.logins, pds.refreshes) == (1, 1)
    searches = [r for r in loopback.requests if r.path.endswith("searchPosts")]
    assert searches[-1].headers["authorization"] == f"Bearer {pds.access}"
    assert not any(r.path.endswith("createSession") for r in loopback.requests[1:])


def test_dead_refresh_token_falls_back_to_login(loopback: LoopbackServer, account: None) -> None:
    pds = FakePds(loopback)
    pds.refresh_ok = False
    with _http() as http:
        collector = BlueskyCollector(_spec(loopback), http, lambda: NOW)
        collector.collect(_state(), BRAND)
        pds.expired_access.add(pds.access)
        with pytest.raises(HttpStatusError, match="ExpiredToken"):
            # the new login returns the same (expired) token in this fake: a clear error, no loop
            collector.collect(_state(), BRAND)
    assert pds.logins == 2 and pds.refreshes == 1


def test_session_file_survives_a_new_process(
    loopback: LoopbackServer, account: None, tmp_path: Path
) -> None:
    pds = FakePds(loopback)
    path = tmp_path / "state" / "bsky-session.json"
    with _http() as http:
        BlueskyCollector(_spec(loopback, session_file=str(path)), http, lambda: NOW).collect(
            _state(), BRAND
        )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with _http() as fresh_client:  # a new process: empty in-memory cache
        BlueskyCollector(
            _spec(loopback, session_file=str(path)), fresh_client, lambda: NOW
        ).collect(_state(), BRAND)
    assert pds.logins == 1


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (
            Reply(
                401,
                b'{"error":"AuthenticationRequired","message":"Invalid identifier or password"}',
                JSON,
            ),
            HttpStatusError,
            "TEST_BSKY_HANDLE/TEST_BSKY_PASSWORD",
        ),
        (
            Reply(429, b'{"error":"RateLimitExceeded"}', {"Retry-After": "300"}),
            RateLimitedError,
            "300s",
        ),
        (Reply(200, b"<!doctype html><html>maintenance</html>"), BlockedError, "HTML"),
    ],
)
def test_login_failures_are_clear(
    loopback: LoopbackServer, account: None, reply: Reply, error: type[Exception], message: str
) -> None:
    pds = FakePds(loopback)
    pds.login_reply = reply
    with _http() as http, pytest.raises(error, match=message) as info:
        BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)
    assert "app-pass-1234" not in str(info.value)


def test_missing_account_env_is_a_clear_error(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_BSKY_HANDLE", raising=False)
    monkeypatch.setenv("TEST_BSKY_PASSWORD", "x")
    with _http() as http, pytest.raises(SourceError, match="set TEST_BSKY_HANDLE"):
        BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)
    assert loopback.requests == []


def test_search_errors(loopback: LoopbackServer, account: None) -> None:
    FakePds(loopback)
    loopback.routes["/xrpc/app.bsky.feed.searchPosts"] = Reply(
        400, (FIX / "error_bad_query.json").read_bytes(), JSON
    )
    with _http() as http, pytest.raises(HttpStatusError, match="InvalidRequest"):
        BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)
    loopback.routes["/xrpc/app.bsky.feed.searchPosts"] = Reply(502, b"bad gateway")
    with _http() as http, pytest.raises(HttpStatusError, match="HTTP 502"):
        BlueskyCollector(_spec(loopback), http, lambda: NOW).collect(_state(), BRAND)


def test_truncated_search_reads_new_posts_then_fills_gap(
    loopback: LoopbackServer, account: None
) -> None:
    FakePds(loopback)
    brand = Brand(name="Acme Air", query=None)
    with _http() as http:
        result = BlueskyCollector(_spec(loopback, max_pages=1), http, lambda: NOW).collect(
            _state(), brand
        )
        gap = ["2026-11-01T10:30:00.000000Z", "2026-11-02T09:59:00.000000Z"]
        assert result.state.extra["gaps"] == [gap]
        loopback.requests.clear()
        BlueskyCollector(_spec(loopback, max_pages=1), http, lambda: NOW).collect(
            result.state, brand
        )
    searches = [r.query for r in loopback.requests if r.path.endswith("searchPosts")]
    assert searches[0]["since"] == ["2026-11-02T09:55:00.123456Z"] and "until" not in searches[0]
    assert searches[1]["since"] == ["2026-11-01T10:20:00.000000Z"]
    assert searches[1]["until"] == ["2026-11-02T10:09:00.000000Z"]


def test_refresh_batches_by_25(loopback: LoopbackServer, account: None) -> None:
    FakePds(loopback)
    uris = [f"at://did:plc:x/app.bsky.feed.post/{i}" for i in range(30)] + ["https://x"]
    with _http() as http:
        posts = BlueskyCollector(_spec(loopback), http, lambda: NOW).refresh(uris)
    calls = [r for r in loopback.requests if r.path.endswith("getPosts")]
    assert [len(c.query["uris"]) for c in calls] == [25, 5]
    assert posts[0].engagement is not None and posts[0].engagement.likes == 75


def test_validate_params() -> None:
    problems = Problems()
    BlueskyCollector.validate_params({"limit": 0, "lang": "english-uk"}, "s.b", problems)
    found = {p.path: p.message for p in problems.items}
    assert "missing required key" in found["s.b.handle_env"]
    assert "missing required key" in found["s.b.app_password_env"]
    assert found["s.b.limit"] == "out of range: 0"
    assert "not a language code" in found["s.b.lang"]
