"""Mastodon: status parser on recorded-shape fixtures and broken variants; hashtag/search
collection with min_id cursors, Link headers, rate limits and per-server failures on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from monitor.config import Brand, Problems, SourceSpec
from monitor.loopback import LoopbackServer, Reply, Request
from monitor.store import SourceState
from sources.errors import BlockedError, HttpStatusError, ParseError
from sources.http import HttpClient, RetryPolicy
from sources.mastodon import (
    MastodonCollector,
    hashtags_for,
    link_header,
    parse_search,
    parse_statuses,
)

FIX = Path(__file__).parent / "fixtures" / "mastodon"
NOW = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
BRAND = Brand(name="Acme Air", query=None)
SERVER = "https://social.example"
JSON = {"Content-Type": "application/json; charset=utf-8"}


def _parse(name: str) -> list[Any]:
    return parse_statuses((FIX / name).read_bytes(), fetched_at=NOW, server=SERVER)


def test_statuses_are_normalised() -> None:
    local, remote, boosted = _parse("tag_page.json")
    assert local.native_id == "https://social.example/users/ana/statuses/113000000000000105"
    assert local.text == "Third time #AcmeAir lost my bag & nobody answers. I'm done."
    assert local.author == "ana@social.example"  # local accounts get their server's domain
    assert local.author_followers == 120
    assert local.engagement is not None
    assert local.engagement.counts() == (12, 4, 3, None)
    assert local.published_at == datetime(2026, 11, 2, 10, 5, 0, 123000, tzinfo=UTC)
    assert local.lang == "en" and local.source_name == "social.example"
    assert local.extra["local_id"] == "113000000000000105" and local.extra["tags"] == ["acmeair"]
    assert remote.author == "jan@mastodon.example" and remote.site == "mastodon.example"
    assert remote.text == "Flugärger\n\nWird das neue Gesetz #AcmeAir helfen?"  # CW first
    assert remote.lang == "en"  # kept as sent, even when wrong; detection may override later
    assert remote.extra["sensitive"] is True
    # a boost is the original status, with the original's counts and identity
    assert boosted.native_id == "https://other.example/users/orig/statuses/2222"
    assert boosted.author == "orig@other.example"
    assert boosted.extra["boosted_by"] == "booster"
    assert boosted.engagement is not None and boosted.engagement.likes == 40


def test_odd_statuses() -> None:
    fine, bare = _parse("odd_statuses.json")
    assert fine.engagement is not None and fine.engagement.counts() == (3, None, None, None)
    assert bare.author is None and bare.text == "" and bare.engagement is None
    assert bare.published_at is None and bare.extra["tags"] == []


def test_search_result_and_single_status() -> None:
    (found,) = parse_search((FIX / "search.json").read_bytes(), fetched_at=NOW, server=SERVER)
    assert found.text == "Acme Air customer service is a joke"
    (single,) = _parse("status_single.json")
    assert single.engagement is not None and single.engagement.likes == 30


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        ((FIX / "tag_truncated.json").read_bytes(), ParseError, "truncated"),
        ((FIX / "error_not_found.json").read_bytes(), ParseError, "Record not found"),
        (b"<!DOCTYPE html><html><body>Cloudflare</body></html>", BlockedError, "HTML page"),
        (b'"just a string"', ParseError, "not a JSON array"),
    ],
)
def test_broken_payloads(payload: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_statuses(payload, fetched_at=NOW)


def test_search_without_statuses_is_an_error() -> None:
    with pytest.raises(ParseError, match="'statuses'"):
        parse_search(b'{"accounts": []}', fetched_at=NOW)


def test_invalid_utf8_and_huge_timeline() -> None:
    body = (FIX / "tag_page.json").read_bytes().replace(b"nobody", b"nob\xffody")
    assert "nob\ufffdody" in parse_statuses(body, fetched_at=NOW)[0].text
    one = json.loads((FIX / "tag_page.json").read_text())[0]
    many = [dict(one, uri=f"https://social.example/users/ana/statuses/{i}") for i in range(5000)]
    assert len(parse_statuses(json.dumps(many), fetched_at=NOW)) == 5000


def test_helpers() -> None:
    assert hashtags_for(["Acme Air", "acmeair", "#Acme-Air!", "Łódź Air"]) == ["AcmeAir", "ŁódźAir"]
    links = link_header(
        '<https://s.example/api/v1/timelines/tag/x?max_id=5>; rel="next", '
        '<https://s.example/api/v1/timelines/tag/x?min_id=9>; rel="prev"'
    )
    assert links["prev"].endswith("min_id=9") and links["next"].endswith("max_id=5")


# --- collector ------------------------------------------------------------------------------


def _spec(*servers: str, **params: Any) -> SourceSpec:
    return SourceSpec(
        name="masto",
        type="mastodon",
        params=MappingProxyType({"servers": list(servers), "limit": 2} | params),
    )


def _http() -> HttpClient:
    return HttpClient(
        timeout=2.0, sleep=lambda _s: None, jitter=lambda: 0.0, retry=RetryPolicy(attempts=2)
    )


def _state() -> SourceState:
    return SourceState(key="masto|Acme Air", source="masto", type="mastodon", brand="Acme Air")


def _timeline(server: LoopbackServer, remaining: str = "299") -> Any:
    def handle(request: Request) -> Reply:
        headers = JSON | {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": remaining,
            "X-RateLimit-Reset": "2026-11-02T10:35:00.000Z",
        }
        since = request.query.get("min_id", [None])[0]
        name = {
            None: "tag_page.json",
            "113000000000000105": "tag_newer_1.json",
            "113000000000000107": "tag_newer_2.json",
        }.get(since)
        body = (FIX / name).read_bytes() if name else b"[]"
        if name:
            ids = [s["id"] for s in json.loads(body)]
            base = server.url(request.path)
            headers["Link"] = (
                f'<{base}?max_id={min(ids)}>; rel="next", <{base}?min_id={max(ids)}>; rel="prev"'
            )
        return Reply(200, body, headers, etag=False)

    return handle


def test_hashtag_polls_walk_forward_with_min_id(loopback: LoopbackServer) -> None:
    loopback.routes["/api/v1/timelines/tag/AcmeAir"] = _timeline(loopback)
    spec = _spec(loopback.url(""))
    with _http() as http:
        first = MastodonCollector(spec, http, lambda: NOW).collect(_state(), BRAND)
        assert len(first.posts) == 3
        key = f"{loopback.url('')} #AcmeAir"
        assert first.state.extra["min_id"] == {key: "113000000000000105"}
        assert "min_id" not in loopback.requests[0].query  # first poll: newest page only
        loopback.requests.clear()
        second = MastodonCollector(spec, http, lambda: NOW).collect(first.state, BRAND)
    assert [r.query["min_id"][0] for r in loopback.requests] == [
        "113000000000000105",
        "113000000000000107",  # a full page (limit 2): keep walking forward
    ]
    assert [p.extra["local_id"] for p in second.posts] == [
        "113000000000000107",
        "113000000000000106",
        "113000000000000108",
    ]
    assert second.state.extra["min_id"][key] == "113000000000000108"


def test_backlog_beyond_max_pages_continues_next_poll(loopback: LoopbackServer) -> None:
    loopback.routes["/api/v1/timelines/tag/AcmeAir"] = _timeline(loopback)
    spec = _spec(loopback.url(""), max_pages=1)
    state = _state().evolve(
        extra={"min_id": {f"{loopback.url('')} #AcmeAir": "113000000000000105"}}
    )
    with _http() as http:
        result = MastodonCollector(spec, http, lambda: NOW).collect(state, BRAND)
    assert "continuing next poll" in result.notes[0]
    assert result.state.extra["min_id"][f"{loopback.url('')} #AcmeAir"] == "113000000000000107"


def test_rate_limit_headers_stop_requests(loopback: LoopbackServer) -> None:
    loopback.routes["/api/v1/timelines/tag/AcmeAir"] = _timeline(loopback, remaining="0")
    loopback.routes["/api/v1/timelines/tag/acme"] = _timeline(loopback, remaining="0")
    brand = Brand(name="Acme Air", query=None, aliases=("acme",))
    with _http() as http:
        result = MastodonCollector(_spec(loopback.url("")), http, lambda: NOW).collect(
            _state(), brand
        )
    assert [r.path for r in loopback.requests] == ["/api/v1/timelines/tag/AcmeAir"]
    assert "rate-limit budget used up until 2026-11-02T10:35:00" in result.notes[0]


def test_one_failing_server_does_not_hide_the_others(loopback: LoopbackServer) -> None:
    with LoopbackServer() as broken:
        broken.routes["/api/v1/timelines/tag/AcmeAir"] = Reply(401, b'{"error":"auth"}', JSON)
        loopback.routes["/api/v1/timelines/tag/AcmeAir"] = _timeline(loopback)
        with _http() as http:
            result = MastodonCollector(
                _spec(broken.url(""), loopback.url("")), http, lambda: NOW
            ).collect(_state(), BRAND)
            assert len(result.posts) == 3
            assert "requires an account" in result.notes[0]
            with pytest.raises(HttpStatusError, match="requires an account"):
                MastodonCollector(_spec(broken.url("")), http, lambda: NOW).collect(_state(), BRAND)


@pytest.mark.parametrize(
    ("reply", "posts", "error"),
    [
        (Reply(404, b'{"error":"Record not found"}', JSON), 0, None),  # unused tag
        (Reply(200, b"[]", JSON), 0, None),  # hashtag feeds disabled
        (Reply(503, b"busy"), None, "HTTP 503"),
        (
            Reply(200, b"<html><body>login</body></html>", {"Content-Type": "text/html"}),
            None,
            "HTML",
        ),
    ],
)
def test_feed_answers(
    loopback: LoopbackServer, reply: Reply, posts: int | None, error: str | None
) -> None:
    loopback.routes["/api/v1/timelines/tag/AcmeAir"] = reply
    with _http() as http:
        collector = MastodonCollector(_spec(loopback.url("")), http, lambda: NOW)
        if error:
            with pytest.raises(Exception, match=error):
                collector.collect(_state(), BRAND)
        else:
            assert len(collector.collect(_state(), BRAND).posts) == posts


def test_search_with_token(loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MASTO_TOKEN", "tok-secret")
    loopback.routes["/api/v1/timelines/tag/AcmeAir"] = Reply(200, b"[]", JSON)
    loopback.routes["/api/v2/search"] = Reply(200, (FIX / "search.json").read_bytes(), JSON)
    with _http() as http:
        result = MastodonCollector(
            _spec(loopback.url(""), token_env="TEST_MASTO_TOKEN"), http, lambda: NOW
        ).collect(_state(), BRAND)
    search = next(r for r in loopback.requests if r.path == "/api/v2/search")
    assert search.query["q"] == ["Acme Air"] and search.query["type"] == ["statuses"]
    assert search.headers["authorization"] == "Bearer tok-secret"
    assert [p.text for p in result.posts] == ["Acme Air customer service is a joke"]
    assert result.mode == "hashtags+search"


def test_missing_token_is_a_note(loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_MASTO_TOKEN", raising=False)
    loopback.routes["/api/v1/timelines/tag/AcmeAir"] = Reply(200, b"[]", JSON)
    with _http() as http:
        result = MastodonCollector(
            _spec(loopback.url(""), token_env="TEST_MASTO_TOKEN"), http, lambda: NOW
        ).collect(_state(), BRAND)
    assert "TEST_MASTO_TOKEN is not set" in result.notes[0]
    assert result.mode == "hashtags"
    assert all(r.path != "/api/v2/search" for r in loopback.requests)


def test_refresh_from_home_server(loopback: LoopbackServer) -> None:
    host = loopback.url("").removeprefix("http://")
    loopback.routes["/api/v1/statuses/113000000000000107"] = Reply(
        200, (FIX / "status_single.json").read_bytes(), JSON
    )
    ids = [
        f"https://{host}/users/ana/statuses/113000000000000107",
        f"https://{host}/users/ana/statuses/404",
        "https://bsky.brid.gy/convert/ap/at://did:plc:x/app.bsky.feed.post/1",  # not Mastodon
    ]
    with _http() as http:
        posts = MastodonCollector(_spec(loopback.url("")), http, lambda: NOW).refresh(ids)
    assert [p.engagement.likes if p.engagement else None for p in posts] == [30]
    assert [r.path for r in loopback.requests] == [
        "/api/v1/statuses/113000000000000107",
        "/api/v1/statuses/404",
    ]


def test_validate_params() -> None:
    problems = Problems()
    MastodonCollector.validate_params(
        {"servers": ["mastodon.social", "not a host/"], "limit": 80, "hashtags": ["!!"]},
        "sources.masto.params",
        problems,
    )
    found = {p.path: p.message for p in problems.items}
    assert "not a server host" in found["sources.masto.params.servers[1]"]
    assert found["sources.masto.params.limit"] == "out of range: 80"
    assert "empty hashtag" in found["sources.masto.params.hashtags[0]"]
    problems = Problems()
    MastodonCollector.validate_params({}, "p", problems)
    assert [p.path for p in problems.items] == ["p.servers"]
