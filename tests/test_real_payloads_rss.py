"""The generic RSS parser on real recorded feeds (read from ../shared, never copied here)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sources.rss import parse_feed

CASES = [
    # file, items, first title (prefix), first published (UTC) or None
    (
        "rss/tutby_ru_rss20.xml",
        100,
        "«У нее нервный срыв»",
        datetime(2019, 11, 14, 13, 24, tzinfo=UTC),
    ),
    (
        "rss/heise_de.atom",
        15,
        "Java-Anwendungsserver: Red Hat gibt WildFly 10 frei",
        datetime(2016, 2, 1, 16, 22, tzinfo=UTC),
    ),
    (
        "rss/androidauthority_malformed_leading_blank_lines.xml",
        10,
        "Japan’s plans for 5G include 10 billion 14-digit phone numbers",
        datetime(2019, 5, 15, 20, 48, 2, tzinfo=UTC),
    ),
    (
        "rss/uol_undeclared_latin1.rss",
        15,
        "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de 2º turno",
        datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC),
    ),
]


@pytest.mark.parametrize(("name", "count", "title", "published"), CASES)
def test_real_feed(
    real_payloads: Path, name: str, count: int, title: str, published: datetime
) -> None:
    feed = parse_feed((real_payloads / name).read_bytes())
    assert len(feed.posts) == count
    assert feed.posts[0].title.startswith(title)
    assert feed.posts[0].published_at == published
    assert len({p.native_id for p in feed.posts}) == count
    for post in feed.posts:
        assert "<" not in post.text or "&lt;" not in post.text  # markup is stripped to text


def test_tutby_markup_becomes_text(real_payloads: Path) -> None:
    feed = parse_feed((real_payloads / "rss/tutby_ru_rss20.xml").read_bytes())
    assert all("<img" not in p.text for p in feed.posts)


def test_uol_dates_all_parsed_despite_portuguese_names(real_payloads: Path) -> None:
    feed = parse_feed((real_payloads / "rss/uol_undeclared_latin1.rss").read_bytes())
    assert all(p.published_at is not None for p in feed.posts)
    assert all(p.native_id.startswith("http") for p in feed.posts)  # no guid: the link is the id
