"""RSS/Atom parsing on recorded-shape feeds, including broken ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sources.errors import BlockedError, ParseError
from sources.rss import parse_feed

FIX = Path(__file__).parent / "fixtures" / "rss"


def test_rss20_fields_are_normalised() -> None:
    feed = parse_feed((FIX / "rss20_en.xml").read_bytes(), source_name="news")
    assert feed.title == "Example Air News"
    assert [p.native_id for p in feed.posts] == ["ex-1", "ex-2", "ex-3"]
    first, second, third = feed.posts
    assert first.title == "Acme Air & the lost guitar"
    assert first.text == "A musician says Acme Air broke his guitar & refused a refund."
    assert "alert(1)" not in first.text  # script content is dropped, never rendered
    assert first.published_at == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert first.author == "Pat Reporter"
    assert first.lang == "en"
    assert first.site == "news.example"
    assert second.published_at == datetime(2026, 11, 3, 8, 30, tzinfo=UTC)  # +0100 → UTC
    assert third.published_at is None and third.raw_date is None  # missing date is not invented


def test_atom_content_preferred_and_updated_fallback() -> None:
    feed = parse_feed((FIX / "atom_de.atom").read_bytes())
    first, second = feed.posts
    assert first.title == "Nie wieder Acme Air"
    assert first.text.startswith("Fünf Tage ohne Koffer. Die Straße vor dem Flughafen in Łódź")
    assert first.published_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert first.author == "Feed Author"
    assert first.lang == "de"
    assert second.published_at == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def test_truncated_feed_keeps_complete_items() -> None:
    feed = parse_feed((FIX / "truncated.xml").read_bytes())
    assert feed.warning is not None
    assert feed.posts[0].native_id == "cut-1"


def test_leading_blank_lines_are_tolerated() -> None:
    feed = parse_feed((FIX / "leading_blank_lines.xml").read_bytes())
    assert [p.title for p in feed.posts] == ["Still here"]


def test_undeclared_latin1_and_localized_dates() -> None:
    feed = parse_feed((FIX / "latin1_undeclared.rss").read_bytes())
    (post,) = feed.posts
    assert post.title == "São Paulo: notícia"
    assert post.published_at == datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)
    assert post.raw_date == "Seg, 24 Set 2018 19:42:40 -0300"
    assert post.lang is None


def test_duplicate_guids_and_fallback_ids() -> None:
    feed = parse_feed((FIX / "duplicate_guids.xml").read_bytes())
    ids = [p.native_id for p in feed.posts]
    assert ids[0] == "same" and ids.count("same") == 1
    assert ids[1] == "https://d.example/2"  # canonical link, tracking parameter removed
    assert ids[2].startswith("sha256:")
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("name", "error"),
    [("html_page.html", BlockedError), ("garbage.txt", ParseError)],
)
def test_not_a_feed_is_a_clear_error(name: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        parse_feed((FIX / name).read_bytes(), url="https://x.example/feed")
    assert "https://x.example/feed" in str(info.value)


def test_empty_body_is_an_error() -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_feed(b"  \n")


def test_empty_but_valid_feed_has_no_posts() -> None:
    feed = parse_feed(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
    )
    assert feed.posts == []


def test_fast_rfc822_dates_read_as_feedparser_reads_them() -> None:
    import random

    from feedparser.datetimes.rfc822 import _parse_date_rfc822

    from sources.rss import _rfc822_date

    rng = random.Random(3)
    days = ["Mon, ", "tue,", "", "Sun,  "]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    zones = ["GMT", "UT", "UTC", "Z", "+0000", "+0130", "-0500", "+1400", "-1200", "gmt"]
    for _ in range(2000):
        value = (
            f"{rng.choice(days)}{rng.randint(1, 31):02d} {rng.choice(months)} "
            f"{rng.randint(1970, 2099)} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d} {rng.choice(zones)}"
        )
        try:
            expected = _parse_date_rfc822(value)
        except ValueError:
            expected = None
        try:
            got = _rfc822_date(value)
        except ValueError:  # an impossible day: feedparser's handlers skip on ValueError too
            got = None
        assert got == expected, value
    for other in ("2026-11-02T09:00:00Z", "Mon, 2 Nov 26 09:00 EST", "yesterday"):
        assert _rfc822_date(other) is None
