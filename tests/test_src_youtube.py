"""YouTube feeds: entries with views/ratings, /shorts/ links, the HTML 404 page, outages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import Problems, SourceSpec, freeze
from monitor.loopback import LoopbackServer, Reply
from monitor.records import Snapshot
from monitor.store import SourceState
from monitor.urls import canonical_url
from sources.errors import ParseError
from sources.http import HttpClient, RetryPolicy
from sources.youtube import (
    YouTubeCollector,
    YouTubeFeedUnavailable,
    feed_params,
    parse_video_statistics,
    parse_youtube_feed,
)

FIX = Path(__file__).parent / "fixtures" / "youtube"
NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)


def test_channel_feed_entries_and_engagement() -> None:
    posts = parse_youtube_feed((FIX / "channel_aurora.xml").read_bytes(), fetched_at=NOW)
    assert [p.native_id for p in posts] == ["AbCdEfGhIjK", "ShOrTs12345", "NoStats0001"]
    first = posts[0]
    assert first.title == "Aurora Air broke my guitar & won't pay"
    assert first.text.startswith("Three months of emails")
    assert first.author == "Aurora Air Stories"
    assert first.source_name == "Aurora Air Stories – Travel Vlogs"
    assert first.published_at == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert first.engagement == Snapshot(NOW, likes=40, views=1234)
    assert first.extra["channel_id"] == "UCaur0raAirExampleChan01"


@pytest.mark.parametrize(
    ("index", "shorts", "engagement"),
    [
        (0, False, Snapshot(NOW, likes=40, views=1234)),
        (1, True, Snapshot(NOW, likes=12, views=None)),  # no media:statistics
        (2, False, Snapshot(NOW, likes=None, views=500)),  # no media:starRating
    ],
)
def test_missing_counts_and_shorts(index: int, shorts: bool, engagement: Snapshot) -> None:
    post = parse_youtube_feed((FIX / "channel_aurora.xml").read_bytes(), fetched_at=NOW)[index]
    assert post.extra["shorts"] is shorts
    assert post.engagement == engagement


def test_shorts_and_watch_links_are_one_video() -> None:
    shorts = parse_youtube_feed((FIX / "channel_aurora.xml").read_bytes())[1]
    assert shorts.url == "https://www.youtube.com/shorts/ShOrTs12345"
    assert canonical_url(shorts.url) == canonical_url("https://youtu.be/ShOrTs12345?si=x")
    assert shorts.engagement is None  # no fetch time given: no snapshot invented


def test_error_page_is_a_clear_error_not_a_feed() -> None:
    with pytest.raises(YouTubeFeedUnavailable) as info:
        parse_youtube_feed((FIX / "not_found_404.html").read_bytes(), status=404)
    message = str(info.value)
    assert "HTTP 404" in message and "'Error 404 (Not Found)!!1'" in message
    assert "outage" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", ParseError),
        (b"<?xml version='1.0'?><nothing/>", ParseError),
        (b"\x89PNG\r\n\x1a\n", ParseError),
    ],
)
def test_not_a_feed(content: bytes, expected: type[Exception]) -> None:
    with pytest.raises(expected):
        parse_youtube_feed(content)


def test_truncated_feed_keeps_complete_entries_only() -> None:
    posts = parse_youtube_feed((FIX / "truncated.xml").read_bytes(), fetched_at=NOW)
    assert [p.native_id for p in posts] in ([], ["AbCdEfGhIjK"])


def test_empty_playlist() -> None:
    assert parse_youtube_feed((FIX / "playlist_empty.xml").read_bytes()) == []


@pytest.mark.parametrize(
    ("params", "ok"),
    [
        ({"channel_id": "UCaur0raAirExampleChan01"}, True),
        ({"playlist_id": "PLx"}, True),
        ({"user": "Kurzgesagt"}, True),
        ({}, False),
        ({"channel_id": "UCx", "user": "y"}, False),
        ({"channel_id": "aur0ra"}, False),  # the feed-level id without UC
    ],
)
def test_validate_params(params: dict[str, str], ok: bool) -> None:
    problems = Problems()
    YouTubeCollector.validate_params(params, "p", problems)
    assert (not problems.items) is ok


def test_feed_params_picks_the_selector() -> None:
    assert feed_params({"playlist_id": "PL1"}) == {"playlist_id": "PL1"}


@pytest.fixture
def http() -> Iterator[HttpClient]:
    with HttpClient(timeout=5.0, sleep=lambda s: None, retry=RetryPolicy(attempts=1)) as client:
        yield client


def _collector(loopback: LoopbackServer, http: HttpClient) -> YouTubeCollector:
    spec = SourceSpec(
        "yt",
        "youtube",
        params=freeze({"channel_id": "UCaur0raAirExampleChan01", "base_url": loopback.url("")}),
    )
    return YouTubeCollector(spec, http, lambda: NOW)


def test_collector_and_refresh(loopback: LoopbackServer, http: HttpClient) -> None:
    loopback.routes["/feeds/videos.xml"] = Reply(
        200, (FIX / "channel_aurora.xml").read_bytes(), {"Content-Type": "text/xml"}
    )
    collector = _collector(loopback, http)
    state = SourceState(key="yt", source="yt", type="youtube")
    collected = collector.collect(state, None)
    assert len(collected.posts) == 3 and collected.state.etag
    assert loopback.requests[0].query == {"channel_id": ["UCaur0raAirExampleChan01"]}
    assert collector.collect(collected.state, None).not_modified
    loopback.routes["/feeds/videos.xml"] = Reply(
        200, (FIX / "channel_aurora_later.xml").read_bytes(), {"Content-Type": "text/xml"}
    )
    refreshed = collector.refresh(["AbCdEfGhIjK", "gone-video"])
    assert [p.native_id for p in refreshed] == ["AbCdEfGhIjK"]
    assert refreshed[0].engagement == Snapshot(NOW, likes=4100, views=98765)


@pytest.mark.parametrize("status", [404, 500, 503])
def test_outage_statuses_give_the_clear_error(
    loopback: LoopbackServer, http: HttpClient, status: int
) -> None:
    loopback.routes["/feeds/videos.xml"] = Reply(
        status, (FIX / "not_found_404.html").read_bytes(), {"Content-Type": "text/html"}
    )
    with pytest.raises(YouTubeFeedUnavailable, match=f"HTTP {status}: YouTube returned"):
        _collector(loopback, http).collect(SourceState(key="yt", source="yt", type="youtube"), None)


def test_video_statistics_from_the_data_api() -> None:
    posts = parse_video_statistics((FIX / "videos_list.json").read_bytes(), fetched_at=NOW)
    assert [p.native_id for p in posts] == ["AbCdEfGhIjK", "ShOrTs12345"]
    assert posts[0].engagement == Snapshot(NOW, likes=12000, comments=3100, views=250000)
    assert posts[1].engagement == Snapshot(NOW, likes=None, comments=7, views=900)  # hidden likes
    assert posts[0].title == "Aurora Air broke my guitar & won't pay"


@pytest.mark.parametrize("content", [b"<html>quota</html>", b"{}", b'{"items": {}}'])
def test_video_statistics_broken(content: bytes) -> None:
    with pytest.raises(ParseError):
        parse_video_statistics(content, fetched_at=NOW)


def test_refresh_with_api_key_uses_videos_list_and_keeps_the_key_out_of_urls(
    loopback: LoopbackServer, http: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GS_TEST_YT_KEY", "secret-key-123")
    loopback.routes["/youtube/v3/videos"] = Reply(
        200, (FIX / "videos_list.json").read_bytes(), {"Content-Type": "application/json"}
    )
    spec = SourceSpec(
        "yt",
        "youtube",
        params=freeze(
            {
                "channel_id": "UCaur0raAirExampleChan01",
                "api_key_env": "GS_TEST_YT_KEY",
                "api_url": loopback.url("/youtube/v3"),
            }
        ),
    )
    refreshed = YouTubeCollector(spec, http, lambda: NOW).refresh(["AbCdEfGhIjK", "ShOrTs12345"])
    assert [p.engagement.comments for p in refreshed if p.engagement] == [3100, 7]
    request = loopback.requests[0]
    assert request.headers["x-goog-api-key"] == "secret-key-123"
    assert request.query["id"] == ["AbCdEfGhIjK,ShOrTs12345"]
    assert "secret-key-123" not in str(request.query)
