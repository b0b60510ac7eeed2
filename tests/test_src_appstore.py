"""App Store reviews: JSON shapes (list, single, missing, metadata entry), XML, collector paging."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import Problems, SourceSpec, freeze
from monitor.loopback import LoopbackServer, Reply
from monitor.records import Snapshot
from monitor.store import SourceState
from sources.appstore import AppStoreCollector, parse_reviews_json, parse_reviews_xml
from sources.errors import BlockedError, HttpStatusError, ParseError
from sources.http import HttpClient, RetryPolicy

FIX = Path(__file__).parent / "fixtures" / "appstore"
NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)


def test_reviews_page_skips_metadata_and_duplicates() -> None:
    posts = parse_reviews_json(
        (FIX / "reviews_us_page1.json").read_bytes(),
        country="us",
        fetched_at=NOW,
        brand="Aurora Air",
    )
    assert [p.native_id for p in posts] == ["us:11000000001", "us:11000000002", "us:11000000003"]
    first = posts[0]
    assert first.title == "Crashes at check-in"
    assert first.text.startswith("The app crashes every time")
    assert first.author == "frequentflyer"
    assert first.extra["rating"] == 1 and first.extra["version"] == "5.1"
    assert first.extra["vote_count"] == 4 and first.extra["brands"] == ["Aurora Air"]
    assert first.engagement == Snapshot(NOW, likes=3)
    assert first.published_at == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # -07:00 → UTC
    assert first.url is None  # Apple's link is the app's, shared by every review


def test_missing_date_is_kept_as_unknown() -> None:
    undated = parse_reviews_json((FIX / "reviews_us_page1.json").read_bytes(), country="us")[2]
    assert undated.published_at is None and undated.raw_date is None
    assert undated.extra["rating"] == 2


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("reviews_us_single.json", ["us:11000000009"]),  # entry is an object
        ("reviews_us_empty.json", []),  # no entry at all
        ("reviews_us_only_metadata.json", []),  # only the app entry
        ("reviews_nulls.json", ["us:11000000006"]),  # nulls and a bad rating skipped
    ],
)
def test_entry_shapes(name: str, ids: list[str]) -> None:
    posts = parse_reviews_json((FIX / name).read_bytes(), country="us")
    assert [p.native_id for p in posts] == ids


def test_nulls_give_empty_strings_not_none_text() -> None:
    post = parse_reviews_json((FIX / "reviews_nulls.json").read_bytes(), country="us")[0]
    assert post.title == "" and post.text == "" and post.extra["rating"] == 4


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("reviews_truncated.json", ParseError, "invalid App Store review JSON"),
        ("reviews_wrong_type.json", ParseError, "'feed.entry' is a str"),
        ("block_page.html", BlockedError, "HTML page"),
    ],
)
def test_broken_json(name: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_reviews_json((FIX / name).read_bytes(), country="us")


@pytest.mark.parametrize("content", [b"[]", b'{"feed": []}', b"\xff\xfe\x00"])
def test_unexpected_json_types(content: bytes) -> None:
    with pytest.raises(ParseError):
        parse_reviews_json(content, country="us")


def test_xml_variant() -> None:
    posts = parse_reviews_xml(
        (FIX / "reviews_de_page1.xml").read_bytes(), country="de", fetched_at=NOW
    )
    assert [p.native_id for p in posts] == ["de:21000000001", "de:21000000002"]
    first = posts[0]
    assert first.title == "Gepäck weg, App hilft nicht"
    assert (
        first.text
        == "Koffer verloren und in der App gibt es keine Möglichkeit, das zu melden.\nSehr ärgerlich."
    )
    assert first.author == "Reisende42" and first.extra["rating"] == 1
    assert first.published_at == datetime(2026, 11, 2, 10, 6, 20, tzinfo=UTC)
    assert first.engagement == Snapshot(NOW, likes=2)


@pytest.mark.parametrize("content", [b"<feed", b"<!DOCTYPE html><html></html>"])
def test_broken_xml(content: bytes) -> None:
    with pytest.raises((ParseError, BlockedError)):
        parse_reviews_xml(content, country="de")


@pytest.mark.parametrize(
    ("params", "paths"),
    [
        ({"app_id": "1234567890", "countries": ["us", "de"]}, []),
        ({"app_id": 1234567890}, []),
        ({}, ["p.app_id"]),
        ({"app_id": "aurora"}, ["p.app_id"]),
        ({"app_id": "1", "countries": ["usa"]}, ["p.countries"]),
        ({"app_id": "1", "pages": 11}, ["p.pages"]),
        ({"app_id": "1", "format": "csv"}, ["p.format"]),
    ],
)
def test_validate_params(params: dict[str, object], paths: list[str]) -> None:
    problems = Problems()
    AppStoreCollector.validate_params(params, "p", problems)
    assert [p.path for p in problems.items] == paths


@pytest.fixture
def http() -> Iterator[HttpClient]:
    with HttpClient(timeout=5.0, sleep=lambda s: None, retry=RetryPolicy(attempts=1)) as client:
        yield client


def _collector(loopback: LoopbackServer, http: HttpClient, **params: object) -> AppStoreCollector:
    spec = SourceSpec(
        "aurora-app",
        "appstore",
        params=freeze({"app_id": "1234567890", "base_url": loopback.url(""), **params}),
    )
    return AppStoreCollector(spec, http, lambda: NOW)


def _page(country: str, page: int) -> str:
    return f"/{country}/rss/customerreviews/page={page}/id=1234567890/sortby=mostrecent/json"


def test_first_sync_reads_deep_pages_then_only_page_one(
    loopback: LoopbackServer, http: HttpClient
) -> None:
    loopback.routes[_page("us", 1)] = Reply(200, (FIX / "reviews_us_page1.json").read_bytes())
    loopback.routes[_page("us", 2)] = Reply(200, (FIX / "reviews_us_single.json").read_bytes())
    empty = (FIX / "reviews_us_empty.json").read_bytes()
    loopback.routes[_page("us", 3)] = Reply(200, empty)  # an empty page in the middle
    loopback.routes[_page("us", 4)] = Reply(200, (FIX / "reviews_us_single.json").read_bytes())
    loopback.routes[_page("us", 5)] = Reply(200, empty)
    loopback.routes[_page("us", 6)] = Reply(200, empty)
    collector = _collector(loopback, http, first_sync_pages=10)
    state = SourceState(key="aurora-app", source="aurora-app", type="appstore")
    first = collector.collect(state, None)
    assert [r.path for r in loopback.requests] == [_page("us", n) for n in range(1, 7)]
    assert len({p.native_id for p in first.posts}) == 4
    assert first.state.extra["etags"]["us"]
    # later polls: page 1 only, conditional
    synced = first.state.evolve(last_success_at="2026-11-02T10:00:00.000000Z")
    loopback.requests.clear()
    again = collector.collect(synced, None)
    assert again.not_modified and [r.path for r in loopback.requests] == [_page("us", 1)]


def test_one_failing_storefront_is_a_note(loopback: LoopbackServer, http: HttpClient) -> None:
    loopback.routes[_page("us", 1)] = Reply(200, (FIX / "reviews_us_single.json").read_bytes())
    loopback.routes[_page("de", 1)] = Reply(403, b"<html>blocked</html>")
    collector = _collector(loopback, http, countries=["us", "de"], first_sync_pages=1)
    collected = collector.collect(SourceState(key="a", source="a", type="appstore"), None)
    assert [p.native_id for p in collected.posts] == ["us:11000000009"]
    assert collected.notes and "HTTP 403" in collected.notes[0]


def test_all_storefronts_failing_raises(loopback: LoopbackServer, http: HttpClient) -> None:
    collector = _collector(loopback, http, countries=["us"], first_sync_pages=1)
    with pytest.raises(HttpStatusError, match="404"):
        collector.collect(SourceState(key="a", source="a", type="appstore"), None)
