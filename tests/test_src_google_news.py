"""Google News RSS search: parser on recorded-shape fixtures, locale rules, collector on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import Brand, Problems, SourceSpec, freeze
from monitor.loopback import LoopbackServer, Reply
from monitor.query import parse
from monitor.store import SourceState
from monitor.urls import canonical_url
from sources.errors import BlockedError, HttpStatusError, ParseError
from sources.google_news import (
    GoogleNewsCollector,
    build_query,
    locale_params,
    parse_google_news,
    split_publisher,
)
from sources.http import HttpClient

FIX = Path(__file__).parent / "fixtures" / "google_news"
AURORA = Brand("Aurora Air", parse('"aurora air"'), aliases=("Aurora Airlines", "AuroraAir"))


def test_search_feed_items() -> None:
    posts = parse_google_news((FIX / "search_aurora_air_en-US.xml").read_bytes())
    assert [p.title for p in posts] == [
        "Aurora Air strands 300 passengers after IT outage",
        "Aurora Air refuses refunds for cancelled flights, customers say",
        "Aurora Air verliert Gepäck von 40 Fluggästen",
        "Northern lights over Aurora - Weather - The Sky Blog",  # no <source>: title kept whole
    ]
    first = posts[0]
    assert first.native_id == "CBMiAU_yqLNewFormatTokenAuroraOutage01"
    assert first.source_name == "Travel Weekly | Industry News - Daily"
    assert first.site == "travelweekly.example"
    assert (
        first.url
        == "https://news.google.com/rss/articles/CBMiAU_yqLNewFormatTokenAuroraOutage01?oc=5"
    )
    assert first.extra["publisher_url"] == "https://www.travelweekly.example"
    assert first.published_at == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert first.lang == "en"
    assert first.text == ""  # the description only repeats headline and publisher
    assert first.engagement is None


def test_cluster_description_becomes_related_not_text() -> None:
    refund = parse_google_news((FIX / "search_aurora_air_en-US.xml").read_bytes())[1]
    assert refund.text == ""
    assert refund.extra["related"] == [
        {"title": "Passengers fight Aurora Air over refund policy", "publisher": "Example Herald"}
    ]


def test_old_style_link_is_decoded_to_the_publisher_url() -> None:
    german = parse_google_news((FIX / "search_aurora_air_en-US.xml").read_bytes())[2]
    assert german.native_id == "52780435491299"
    assert german.url == (
        "https://www.reisenews.example/aurora-air-gepaeck-verloren.html?utm_source=gn"
    )
    assert canonical_url(german.url) == "https://reisenews.example/aurora-air-gepaeck-verloren.html"
    assert german.extra["google_news_link"].startswith("https://news.google.com/__i/rss/rd/")
    assert german.published_at == datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("truncated.xml", None, None),
        ("consent_page.html", BlockedError, "HTML page"),
    ],
)
def test_broken_payloads(name: str, error: type[Exception] | None, message: str | None) -> None:
    content = (FIX / name).read_bytes()
    if error is None:
        # feedparser recovers the items before the cut; nothing invented after it
        posts = parse_google_news(content)
        assert len(posts) <= 1
        return
    with pytest.raises(error, match=message):
        parse_google_news(content)


@pytest.mark.parametrize(
    ("content", "error"),
    [(b"", ParseError), (b"\x00\xff garbage", ParseError), (b'{"json": true}', ParseError)],
)
def test_not_a_feed(content: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_google_news(content)


def test_empty_search_is_no_items() -> None:
    assert parse_google_news((FIX / "empty_search_de.xml").read_bytes()) == []


@pytest.mark.parametrize(
    ("title", "publisher", "expected"),
    [
        ("Headline - Publisher", "Publisher", "Headline"),
        ("A - B - Crude Oil | OilPrice.com", "Crude Oil | OilPrice.com", "A - B"),
        ("Headline – Die Zeit", "Die Zeit", "Headline"),
        ("Headline - Other", "Publisher", "Headline - Other"),
        ("Publisher", "Publisher", "Publisher"),
        ("Headline - Publisher", None, "Headline - Publisher"),
    ],
)
def test_split_publisher(title: str, publisher: str | None, expected: str) -> None:
    assert split_publisher(title, publisher) == expected


@pytest.mark.parametrize(
    ("hl", "gl", "ceid", "expected"),
    [
        ("en-US", "US", None, "US:en"),
        ("en-GB", "GB", None, "GB:en"),
        ("de", "DE", None, "DE:de"),
        ("pt-BR", "BR", None, "BR:pt-419"),
        ("es-419", "MX", None, "MX:es-419"),
        ("en-US", "US", "US:en", "US:en"),
    ],
)
def test_locale_params(hl: str, gl: str, ceid: str | None, expected: str) -> None:
    assert locale_params(hl, gl, ceid)["ceid"] == expected


@pytest.mark.parametrize(
    ("hl", "gl", "ceid", "fix"),
    [
        ("en-US", "DE", None, "gl = 'US'"),
        ("de", "DE", "AT:de", "ceid = 'DE:de'"),
        ("english", "US", None, "language tag"),
        ("en", "USA", None, "two-letter"),
    ],
)
def test_inconsistent_locale_is_rejected_with_a_fix(
    hl: str, gl: str, ceid: str | None, fix: str
) -> None:
    with pytest.raises(ValueError, match=fix):
        locale_params(hl, gl, ceid)
    problems = Problems()
    params = {"hl": hl, "gl": gl, **({"ceid": ceid} if ceid else {})}
    GoogleNewsCollector.validate_params(params, "sources[0].params", problems)
    assert problems.items and problems.items[0].path == "sources[0].params"


def test_build_query() -> None:
    assert build_query(AURORA) == '"Aurora Air" OR "Aurora Airlines" OR AuroraAir when:1d'
    assert build_query(AURORA, "aurora refund", None) == "aurora refund"
    assert build_query(AURORA, "aurora after:2026-11-01") == "aurora after:2026-11-01"


@pytest.fixture
def http() -> Iterator[HttpClient]:
    with HttpClient(timeout=5.0, sleep=lambda s: None) as client:
        yield client


def _collector(loopback: LoopbackServer, http: HttpClient, **params: object) -> GoogleNewsCollector:
    spec = SourceSpec(
        "gn-us",
        "google_news",
        params=freeze({"base_url": loopback.url(""), "hl": "en-US", "gl": "US", **params}),
    )
    clock = lambda: datetime(2026, 11, 2, 10, tzinfo=UTC)  # noqa: E731
    return GoogleNewsCollector(spec, http, clock)


def test_collector_sends_consistent_locale_and_uses_etag(
    loopback: LoopbackServer, http: HttpClient
) -> None:
    loopback.routes["/rss/search"] = Reply(
        200, (FIX / "search_aurora_air_en-US.xml").read_bytes(), {"Content-Type": "application/xml"}
    )
    collector = _collector(loopback, http)
    state = SourceState(key="gn-us|Aurora Air", source="gn-us", type="google_news")
    first = collector.collect(state, AURORA)
    assert len(first.posts) == 4 and first.state.etag
    request = loopback.requests[0]
    assert request.query["hl"] == ["en-US"] and request.query["gl"] == ["US"]
    assert request.query["ceid"] == ["US:en"]
    assert request.query["q"] == ['"Aurora Air" OR "Aurora Airlines" OR AuroraAir when:1d']
    second = collector.collect(first.state, AURORA)
    assert second.not_modified and second.posts == []


def test_unsupported_locale_redirect_is_a_clear_error(
    loopback: LoopbackServer, http: HttpClient
) -> None:
    loopback.routes["/rss/search"] = Reply(302, b"", {"Location": "/rss/unsupported"})
    loopback.routes["/rss/unsupported"] = Reply(200, b"<html><body>unsupported</body></html>")
    collector = _collector(loopback, http)
    state = SourceState(key="k", source="gn-us", type="google_news")
    with pytest.raises(ParseError, match="does not serve hl=en-US gl=US ceid=US:en"):
        collector.collect(state, AURORA)


def test_server_error_surfaces_as_status_error(loopback: LoopbackServer, http: HttpClient) -> None:
    loopback.routes["/rss/search"] = Reply(503, b"busy")
    collector = _collector(loopback, http)
    with pytest.raises(HttpStatusError, match="503"):
        collector.collect(SourceState(key="k", source="gn-us", type="google_news"), AURORA)
