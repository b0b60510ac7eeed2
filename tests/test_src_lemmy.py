"""Lemmy: v3 and v4 search shapes (and broken variants); collection with page/cursor paging,
API auto-detection, per-instance failures and refresh on loopback."""

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
from sources.errors import BlockedError, HttpStatusError, ParseError, RateLimitedError
from sources.http import HttpClient, RetryPolicy
from sources.lemmy import LemmyCollector, parse_post_response, parse_search

FIX = Path(__file__).parent / "fixtures" / "lemmy"
NOW = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
BRAND = Brand(name="Acme Air", query=None)
JSON = {"Content-Type": "application/json"}


def _parse(name: str) -> list[Any]:
    return parse_search((FIX / name).read_bytes(), fetched_at=NOW, instance="https://lemmy.example")


def test_v3_posts() -> None:
    refund, link = _parse("search_v3_page1.json")  # the deleted post is dropped
    assert refund.native_id == "https://lemmy.example/post/105" == refund.url
    assert refund.title == "Acme Air refused my refund"
    assert refund.text == "Third time I call. **Nothing.**"
    assert refund.author == "ana@lemmy.example" and refund.source_name == "!travel@lemmy.example"
    assert refund.published_at == datetime(2026, 11, 2, 10, 5, 0, 123456, tzinfo=UTC)
    assert refund.engagement is not None and refund.engagement.counts() == (40, None, 12, None)
    assert (refund.extra["upvotes"], refund.extra["downvotes"]) == (18, 1)
    assert link.site == "other.example" and link.extra["link"] == "https://news.example/acme-ceo"


def test_v3_comments() -> None:
    (comment,) = _parse("search_v3_comments.json")
    assert comment.native_id == "https://lemmy.example/comment/201"
    assert comment.author == "lee@other.example" and comment.extra["kind"] == "comment"
    assert comment.extra["post_title"] == "Acme Air lost my guitar"
    assert comment.engagement is not None and comment.engagement.counts() == (3, None, 1, None)


def test_v4_shapes() -> None:
    (post,) = _parse("search_v4.json")
    assert post.title == "Acme Air strike tomorrow" and post.author == "kim@lemmy.example"
    assert post.published_at == datetime(2026, 11, 2, 10, 10, tzinfo=UTC)  # published_at
    assert post.engagement is not None and post.engagement.counts() == (5, None, 2, None)
    post, comment = _parse("search_v4_results.json")  # tagged "results" list
    assert post.native_id == "https://lemmy.example/post/302"
    assert comment.text == "Acme Air again" and comment.engagement is not None


def test_odd_views() -> None:
    naive, odd = _parse("search_v3_odd.json")
    assert naive.published_at == datetime(2023, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)  # no zone
    assert naive.engagement is None
    assert odd.author is None and odd.source_name == "Lemmy"


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        ((FIX / "search_v3_truncated.json").read_bytes(), ParseError, "truncated"),
        ((FIX / "error_rate_limit.json").read_bytes(), RateLimitedError, "rate limited"),
        ((FIX / "error_couldnt_find.json").read_bytes(), ParseError, "couldnt_find_post"),
        (b"<!DOCTYPE html><html><body>502</body></html>", BlockedError, "HTML"),
        (b'{"type_": "Posts"}', ParseError, "no 'posts'"),
        (b"[]", ParseError, "not an object"),
    ],
)
def test_broken_payloads(payload: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_search(payload, fetched_at=NOW)


def test_invalid_utf8() -> None:
    body = (FIX / "search_v3_page1.json").read_bytes().replace(b"Third", b"Th\x80ird")
    assert parse_search(body, fetched_at=NOW)[0].text.startswith("Th\ufffdird")


def test_post_response() -> None:
    post = parse_post_response((FIX / "post_v3.json").read_bytes(), fetched_at=NOW)
    assert post is not None and post.engagement is not None and post.engagement.likes == 55
    with pytest.raises(ParseError, match="post_view"):
        parse_post_response(b"{}", fetched_at=NOW)


# --- collector ------------------------------------------------------------------------------


def _spec(*instances: str, **params: Any) -> SourceSpec:
    return SourceSpec(
        name="lemmy", type="lemmy", params=MappingProxyType({"instances": list(instances)} | params)
    )


def _http() -> HttpClient:
    return HttpClient(
        timeout=2.0, sleep=lambda _s: None, jitter=lambda: 0.0, retry=RetryPolicy(attempts=2)
    )


def _state() -> SourceState:
    return SourceState(key="lemmy|Acme Air", source="lemmy", type="lemmy", brand="Acme Air")


def _v3(request: Request) -> Reply:
    kind = request.query["type_"][0]
    if kind == "Comments":
        return Reply(200, (FIX / "search_v3_comments.json").read_bytes(), JSON)
    page = int(request.query["page"][0])
    name = {1: "search_v3_page1.json", 2: "search_v3_page2.json"}.get(page)
    body = (FIX / name).read_bytes() if name else json.dumps({"posts": [], "comments": []}).encode()
    return Reply(200, body, JSON, etag=False)


def test_v3_pages_down_to_the_watermark(loopback: LoopbackServer) -> None:
    loopback.routes["/api/v3/search"] = _v3
    with _http() as http:
        first = LemmyCollector(_spec(loopback.url(""), comments=True), http, lambda: NOW).collect(
            _state(), BRAND
        )
    posts = [r for r in loopback.requests if r.query["type_"] == ["Posts"]]
    assert [r.query["page"] for r in posts] == [["1"], ["2"]]  # page 2 reaches the lookback
    assert posts[0].query["q"] == ["Acme Air"] and posts[0].query["sort"] == ["New"]
    assert {p.native_id for p in first.posts} == {
        "https://lemmy.example/post/105",
        "https://other.example/post/104",
        "https://lemmy.example/post/102",
        "https://lemmy.example/comment/201",
    }
    key = f"{loopback.url('')} post Acme Air"
    assert first.state.extra["cursors"][key] == "2026-11-02T10:05:00.123456Z"
    loopback.requests.clear()
    with _http() as http:
        spec = _spec(loopback.url(""), overlap=60)
        LemmyCollector(spec, http, lambda: NOW).collect(first.state, BRAND)
    # page 1 already holds a post older than the watermark minus the overlap: no page 2
    assert [r.query["page"] for r in loopback.requests] == [["1"]]


def test_auto_switches_to_v4_and_remembers(loopback: LoopbackServer) -> None:
    def v4(request: Request) -> Reply:
        name = "search_v4_last.json" if request.query.get("page_cursor") else "search_v4.json"
        return Reply(200, (FIX / name).read_bytes(), JSON)

    loopback.routes["/api/v4/search"] = v4  # no v3 route: 404
    with _http() as http:
        result = LemmyCollector(_spec(loopback.url("")), http, lambda: NOW).collect(_state(), BRAND)
        assert [p.title for p in result.posts] == ["Acme Air strike tomorrow", "Acme Air app down"]
        assert result.state.extra["api"] == {loopback.url(""): "v4"}
        v4_calls = [r for r in loopback.requests if r.path == "/api/v4/search"]
        assert v4_calls[0].query["search_term"] == ["Acme Air"]
        assert v4_calls[0].query["time_range_seconds"] == [str(86400 + 600)]
        assert v4_calls[1].query["page_cursor"] == ["Pa1b2c3"]
        loopback.requests.clear()
        LemmyCollector(_spec(loopback.url("")), http, lambda: NOW).collect(result.state, BRAND)
    assert all(r.path == "/api/v4/search" for r in loopback.requests)


def test_failing_instance_is_a_note_unless_all_fail(loopback: LoopbackServer) -> None:
    loopback.routes["/api/v3/search"] = _v3
    with LoopbackServer() as down:
        down.routes["/api/v3/search"] = Reply(
            400, (FIX / "error_rate_limit.json").read_bytes(), JSON
        )
        with _http() as http:
            result = LemmyCollector(
                _spec(down.url(""), loopback.url("")), http, lambda: NOW
            ).collect(_state(), BRAND)
            assert len(result.posts) == 3 and "rate limited" in result.notes[0]
            with pytest.raises(RateLimitedError):
                LemmyCollector(_spec(down.url("")), http, lambda: NOW).collect(_state(), BRAND)


def test_server_errors(loopback: LoopbackServer) -> None:
    loopback.routes["/api/v3/search"] = Reply(500, b"boom")
    with _http() as http, pytest.raises(HttpStatusError, match="HTTP 500"):
        LemmyCollector(_spec(loopback.url(""), api="v3"), http, lambda: NOW).collect(
            _state(), BRAND
        )


def test_refresh(loopback: LoopbackServer) -> None:
    host = loopback.url("").removeprefix("http://")
    loopback.routes["/api/v3/post"] = lambda r: (
        Reply(200, (FIX / "post_v3.json").read_bytes(), JSON)
        if r.query["id"] == ["105"]
        else Reply(404, b'{"error":"couldnt_find_post"}', JSON)
    )
    with _http() as http:
        posts = LemmyCollector(_spec(loopback.url("")), http, lambda: NOW).refresh(
            [f"https://{host}/post/105", f"https://{host}/post/999", "https://x/comment/1"]
        )
    assert [p.engagement.likes if p.engagement else None for p in posts] == [55]


def test_validate_params() -> None:
    problems = Problems()
    LemmyCollector.validate_params(
        {"instances": ["lemmy.world", "bad host/x"], "api": "v5", "limit": 99}, "s.l", problems
    )
    found = {p.path: p.message for p in problems.items}
    assert "not an instance host" in found["s.l.instances[1]"]
    assert "unknown API version" in found["s.l.api"]
    assert found["s.l.limit"] == "out of range: 99"
