"""Google News, YouTube and App Store parsers on real recorded responses (read from ../shared)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.records import Snapshot
from monitor.urls import canonical_url
from sources.appstore import parse_reviews_json, parse_reviews_xml
from sources.google_news import parse_google_news
from sources.youtube import YouTubeFeedUnavailable, parse_youtube_feed

NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "count", "sources", "title", "publisher", "published", "guid_prefix", "last_title"),
    [
        (
            "google_news/search_brent_crude_oil_price_en-GB.xml",
            6,
            None,
            "Middle East War Triggers New Global Refining Boom",
            "Crude Oil Prices Today | OilPrice.com",
            datetime(2026, 8, 5, tzinfo=UTC),
            "CBMingFBVV95cUxPYUY5ZFFNX2tGaXNKNzVhc2NC",
            "Oil prices surge to $100 per barrel after Red Sea attacks",
        ),
        (
            "google_news/search_bears_ears_monument_en-US.xml",
            92,
            68,
            "Trump again shrinks two national monuments in Utah",
            "The Washington Post",
            datetime(2026, 7, 14, 3, 33, 16, tzinfo=UTC),
            "CBMiwwFBVV95cUxQa2dqd043R002",
            "Appeals court revives Utah challenge to Bears Ears, Grand Staircase boundaries",
        ),
        (
            "google_news/top_stories_en-US_2019.xml",
            38,
            26,
            "Live updates: Trump asserts ‘normal people’ would close the case on his impeachment",
            "The Washington Post",
            datetime(2019, 11, 14, 15, 28, tzinfo=UTC),
            "52780435491242",
            None,
        ),
    ],
)
def test_google_news(
    real_payloads: Path,
    name: str,
    count: int,
    sources: int | None,
    title: str,
    publisher: str,
    published: datetime,
    guid_prefix: str,
    last_title: str | None,
) -> None:
    posts = parse_google_news((real_payloads / name).read_bytes())
    assert len(posts) == count
    first = posts[0]
    assert first.title == title  # " - Publisher" cut using <source>, even with " | " inside
    assert first.source_name == publisher
    assert first.published_at == published
    assert first.native_id.startswith(guid_prefix)
    if sources is not None:
        assert len({p.source_name for p in posts}) == sources
    if last_title is not None:
        assert posts[-1].title.startswith(last_title)
    assert all(" - " + (p.source_name or "\x00") not in p.title for p in posts)
    # No cluster titles leak into the text: it is empty or short, never a list of headlines.
    assert all(len(p.text) < 200 for p in posts)


def test_google_news_2019_links_decode_to_publishers(real_payloads: Path) -> None:
    posts = parse_google_news(
        (real_payloads / "google_news/top_stories_en-US_2019.xml").read_bytes()
    )
    assert posts[-1].native_id == "52780434546635"
    assert all(p.url and not p.url.startswith("https://news.google.com") for p in posts)
    assert posts[0].url.startswith("https://www.washingtonpost.com/politics/")  # type: ignore[union-attr]
    assert posts[0].extra["related"]  # the <ol> cluster is kept aside, not as text


def test_google_news_2026_links_stay_redirects_with_publisher(real_payloads: Path) -> None:
    posts = parse_google_news(
        (real_payloads / "google_news/search_brent_crude_oil_price_en-GB.xml").read_bytes()
    )
    first = posts[0]
    assert first.url and first.url.startswith("https://news.google.com/rss/articles/")
    assert first.extra["publisher_url"] == "https://oilprice.com"
    assert canonical_url(first.url).endswith(first.native_id)  # ?oc=5 dropped


@pytest.mark.parametrize(
    ("name", "first_id", "title", "published", "views", "likes", "last_id", "shorts"),
    [
        (
            "youtube/videos_xml_kurzgesagt.xml",
            "zg40FHOAqC0",
            "Jupiter Made Earth Possible",
            datetime(2026, 1, 22, 15, 1, 42, tzinfo=UTC),
            1086938,
            58314,
            "ZSch_NgZpQs",
            8,
        ),
        (
            "youtube/videos_xml_digital_foundry.xml",
            "W_S7iKZZdHw",
            "Digital Foundry Games of 2024: The Oliver Mackenzie Collection!",
            datetime(2025, 1, 1, 16, 7, 24, tzinfo=UTC),
            23088,
            1580,
            "araZUoSOPmM",
            0,
        ),
    ],
)
def test_youtube(
    real_payloads: Path,
    name: str,
    first_id: str,
    title: str,
    published: datetime,
    views: int,
    likes: int,
    last_id: str,
    shorts: int,
) -> None:
    posts = parse_youtube_feed((real_payloads / name).read_bytes(), fetched_at=NOW)
    assert len(posts) == 15
    first = posts[0]
    assert (first.native_id, first.title, first.published_at) == (first_id, title, published)
    assert first.engagement == Snapshot(NOW, likes=likes, views=views)
    assert posts[-1].native_id == last_id
    assert sum(p.extra["shorts"] for p in posts) == shorts
    # entry-level channel ids keep their UC prefix (the feed-level one lacks it)
    assert all(p.extra["channel_id"].startswith("UC") for p in posts)


def test_youtube_kurzgesagt_shorts_link(real_payloads: Path) -> None:
    first = parse_youtube_feed((real_payloads / "youtube/videos_xml_kurzgesagt.xml").read_bytes())[
        0
    ]
    assert first.url == "https://www.youtube.com/shorts/zg40FHOAqC0"
    assert first.source_name == "Kurzgesagt – In a Nutshell"


def test_youtube_404_page_is_the_clear_error(real_payloads: Path) -> None:
    content = (real_payloads / "youtube/videos_xml_not_found_404.html").read_bytes()
    assert len(content) == 1613
    with pytest.raises(YouTubeFeedUnavailable, match=r"HTTP 404: .*'Error 404 \(Not Found\)!!1'"):
        parse_youtube_feed(content, status=404)


@pytest.mark.parametrize(
    ("name", "country", "first", "ratings", "last_title"),
    [
        (
            "appstore/customerreviews_nl_id474495017.json",
            "nl",
            ("9571111689", "Tony18Jr", 1, "2023.2.0", "👎"),
            {1: 30, 2: 11, 3: 4, 4: 2, 5: 3},
            "Waardeloos",
        ),
        (
            "appstore/customerreviews_jp_id1404176564.json",
            "jp",
            ("6290024630", "ヤミ。", 4, "3.4.3", "神アプリ"),
            {1: 13, 2: 7, 3: 15, 4: 6, 5: 9},
            "配信が出来ない理由がわからない",
        ),
    ],
)
def test_appstore_json(
    real_payloads: Path,
    name: str,
    country: str,
    first: tuple[str, str, int, str, str],
    ratings: dict[int, int],
    last_title: str,
) -> None:
    posts = parse_reviews_json((real_payloads / name).read_bytes(), country=country)
    assert len(posts) == 50
    head = posts[0]
    assert (
        head.extra["review_id"],
        head.author,
        head.extra["rating"],
        head.extra["version"],
        head.title,
    ) == first
    assert head.native_id == f"{country}:{first[0]}"
    assert Counter(p.extra["rating"] for p in posts) == ratings
    assert posts[-1].title == last_title


def test_appstore_nl_dates_and_text(real_payloads: Path) -> None:
    posts = parse_reviews_json(
        (real_payloads / "appstore/customerreviews_nl_id474495017.json").read_bytes(), country="nl"
    )
    assert posts[0].published_at == datetime(2023, 2, 1, 12, 6, 45, tzinfo=UTC)
    assert posts[0].text.startswith("Elke keer kan ik ineens mijn saldo")
    assert posts[-1].native_id == "nl:9509613498"


def test_appstore_jp_json_has_no_dates(real_payloads: Path) -> None:
    posts = parse_reviews_json(
        (real_payloads / "appstore/customerreviews_jp_id1404176564.json").read_bytes(), country="jp"
    )
    assert all(p.published_at is None for p in posts)
    assert posts[-1].native_id == "jp:6123449936"
    assert any("\n" in p.text for p in posts)


def test_appstore_jp_xml(real_payloads: Path) -> None:
    posts = parse_reviews_xml(
        (real_payloads / "appstore/customerreviews_jp_id1404176564.xml").read_bytes(), country="jp"
    )
    assert len(posts) == 50
    first = posts[0]
    assert (first.native_id, first.title, first.author) == (
        "jp:6310006838",
        "髪型追加してもらいたい",
        "単刀直入にさきいか",
    )
    assert first.published_at == datetime(2020, 8, 12, 11, 6, 20, tzinfo=UTC)
    assert "<table" not in first.text  # the text content, not the HTML twin
    assert (posts[-1].native_id, posts[-1].title) == ("jp:6180524864", "開けない")
