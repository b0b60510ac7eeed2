"""The social API parsers on real recorded responses (read from ../shared, never copied here).

Counts and key values are those listed in the payloads' MANIFEST.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sources.bluesky import parse_feed_items, parse_posts
from sources.hackernews import parse_search as parse_hn
from sources.mastodon import parse_statuses
from sources.reddit import parse_listing, parse_rss

FETCHED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _read(root: Path, name: str) -> bytes:
    return (root / name).read_bytes()


# --- reddit -----------------------------------------------------------------------------------


def test_reddit_search(real_payloads: Path) -> None:
    posts = parse_listing(
        _read(real_payloads, "reddit/search_r_all_praw_oauth_search.json"), fetched_at=FETCHED
    )
    assert len(posts) == 6
    first, last = posts[0], posts[-1]
    assert first.native_id == "t3_3gpbiu"
    assert (
        first.title
        == "[PRAW][OAuth2Util] Problem using get_banned() : raise Forbidden(_raw=response)"
    )
    assert first.author == "dClauzel" and first.source_name == "r/redditdev"
    assert first.published_at == datetime.fromtimestamp(1439370514.0, UTC)
    assert first.engagement is not None
    assert (first.engagement.likes, first.engagement.comments) == (0, 21)
    assert first.url is not None and "?ref=search_posts" not in first.url
    assert last.native_id == "t3_4at068"
    assert last.title == "たびたび話題になるサイドバーの閲覧中ユーザ数について（また）調べた"
    assert len({p.source_name for p in posts}) == 4  # four subreddits


def test_reddit_top_listing(real_payloads: Path) -> None:
    posts = parse_listing(_read(real_payloads, "reddit/r_askreddit_top.json"), fetched_at=FETCHED)
    assert len(posts) == 100
    first = posts[0]
    assert first.native_id == "t3_2np694"
    assert first.title == "What tasty food would be distusting if eaten over rice?"
    assert first.author == "DO_U_EVN_SPAGHETTI"
    assert first.engagement is not None
    assert (first.engagement.likes, first.engagement.comments) == (38445, 7804)
    assert first.published_at == datetime.fromtimestamp(1417208878.0, UTC)
    assert posts[-1].native_id == "t3_3i6z8w"
    assert sum(p.author is None for p in posts) == 4  # the four [deleted] authors
    assert sum(bool(p.extra.get("over_18")) for p in posts) == 6


def test_reddit_comment_listing(real_payloads: Path) -> None:
    posts = parse_listing(
        _read(real_payloads, "reddit/r_askreddit_comments.json"), fetched_at=FETCHED
    )
    assert len(posts) == 100
    first = posts[0]
    assert first.native_id == "t1_d4y8bdp" and first.extra["kind"] == "comment"
    assert first.text.startswith(
        "great, life is so much better when you can do what you enjoy for a living"
    )
    assert first.author == "preppypuppy"
    assert first.extra["link_id"] == "t3_4r4inc"
    assert (
        first.extra["link_title"]
        == '[Serious] To anyone who "followed their dreams", how has it panned out?'
    )
    assert first.published_at == datetime.fromtimestamp(1467590690.0, UTC)
    assert first.url == "https://www.reddit.com/r/AskReddit/comments/4r4inc/_/d4y8bdp/"
    assert posts[-1].native_id == "t1_d4y8a9e"
    assert posts[-1].text == "But I need to find the thunderdome!"
    assert sum(bool(p.extra.get("over_18")) for p in posts) == 10


def test_reddit_rss_fallback(real_payloads: Path) -> None:
    posts = parse_rss(_read(real_payloads, "reddit/r_worldnews_rss.atom"))
    assert len(posts) == 25
    first = posts[0]
    assert first.native_id == "t3_dw6yqu"
    assert first.title == "UK ministers threaten sanctions on Hong Kong officials"
    assert first.author == "yozyi" and first.source_name == "r/worldnews"
    assert first.published_at == datetime(2019, 11, 14, 9, 8, 29, tzinfo=UTC)  # <updated> only
    assert first.engagement is None
    assert posts[-1].native_id == "t3_dvvol4"
    assert all("&#32;" not in p.text and "submitted by" not in p.text for p in posts)


# --- hacker news ------------------------------------------------------------------------------


def test_hn_page0(real_payloads: Path) -> None:
    posts = parse_hn(
        _read(real_payloads, "hackernews/search_by_date_whoishiring_page0.json"), fetched_at=FETCHED
    )
    assert len(posts) == 20
    first = posts[0]
    assert first.native_id == "37351667"
    assert first.title == "Ask HN: Who is hiring? (September 2023)"
    assert first.published_at == datetime(2023, 9, 1, 15, 0, 25, tzinfo=UTC)
    assert first.raw_date == "2023-09-01T15:00:25.000Z"
    assert first.author == "whoishiring"
    assert first.engagement is not None
    assert (first.engagement.likes, first.engagement.comments) == (397, 500)
    assert first.extra["tags"] == ["story", "author_whoishiring", "story_37351667", "ask_hn"]
    assert "link" not in first.extra  # url is null on every hit
    assert posts[-1].native_id == "30164271"
    assert posts[-1].title == "Ask HN: Who is hiring? (February 2022)"
    # story_text: JSON-escaped HTML entities decoded once into plain text
    assert all("&#x27;" not in p.text and "<p>" not in p.text for p in posts)
    assert any("—" in p.text for p in posts)


def test_hn_page5_and_empty(real_payloads: Path) -> None:
    posts = parse_hn(
        _read(real_payloads, "hackernews/search_by_date_whoishiring_page5.json"), fetched_at=FETCHED
    )
    assert len(posts) == 20
    assert posts[0].native_id == "9639001"
    assert posts[0].title == "Ask HN: Who is hiring? (June 2015)"
    assert posts[0].published_at == datetime(2015, 6, 1, 14, 55, 2, tzinfo=UTC)
    assert posts[0].engagement is not None
    assert (posts[0].engagement.likes, posts[0].engagement.comments) == (429, 759)
    assert posts[-1].native_id == "6827554"
    assert posts[-1].title == "Ask HN: Who is hiring? (December 2013)"
    assert all("link" not in p.extra for p in posts)  # null on 4, "" on 16
    empty = parse_hn(
        _read(real_payloads, "hackernews/search_by_date_whoishiring_page8_empty.json"),
        fetched_at=FETCHED,
    )
    assert empty == []


# --- mastodon ---------------------------------------------------------------------------------


def test_mastodon_hashtag_timeline(real_payloads: Path) -> None:
    posts = parse_statuses(
        _read(real_payloads, "mastodon/tag_rstats_mastodon_social.json"),
        fetched_at=FETCHED,
        server="https://mastodon.social",
    )
    assert len(posts) == 5
    first = posts[0]
    assert first.extra["local_id"] == "114870142396314555"
    assert first.published_at == datetime(2025, 7, 17, 19, 7, 48, tzinfo=UTC)
    assert first.author == "simonpcouch@rstats.me"
    assert first.url == "https://rstats.me/@simonpcouch/114870142137562212"
    assert first.text.startswith(
        "After a month or so of not using Claude Code much to write R code"
    )
    assert first.author_followers is not None and first.engagement is not None
    assert posts[-1].extra["local_id"] == "114869144089828147"
    assert posts[-1].author == "pp0196.bsky.social@bsky.brid.gy"


def test_mastodon_public_timeline(real_payloads: Path) -> None:
    posts = parse_statuses(
        _read(real_payloads, "mastodon/public_timeline_mastodon_social.json"),
        fetched_at=FETCHED,
        server="https://mastodon.social",
    )
    assert len(posts) == 20
    first = posts[0]
    assert first.extra["local_id"] == "114870361973436726"
    assert first.author == "Michael@weatherby2378.social" and first.lang == "de"
    assert first.text.startswith("Natüürlich.")
    assert posts[-1].extra["local_id"] == "114870361500887110"
    assert posts[-1].author == "EscapeFlightsCHI@mastodon.social"  # local: domain added
    assert {p.lang for p in posts} == {"de", "en", "fr"}
    mislabeled = next(p for p in posts if p.extra["local_id"] == "114870361898081928")
    assert mislabeled.lang == "en"  # kept as sent; the text is German
    assert "Wird das neue EU-Gesetz den illegalen Welpenhandel" in mislabeled.text
    assert any(p.author == "sharong003@threads.net" for p in posts)
    assert all("&amp;" not in p.text and "&#39;" not in p.text for p in posts)


def test_mastodon_local_timeline(real_payloads: Path) -> None:
    posts = parse_statuses(
        _read(real_payloads, "mastodon/public_local_timeline_fosstodon.json"),
        fetched_at=FETCHED,
        server="https://fosstodon.org",
    )
    assert len(posts) == 10
    first = posts[0]
    assert first.extra["local_id"] == "114870359866949025"
    assert first.published_at == datetime(2025, 7, 17, 20, 3, 10, 741000, tzinfo=UTC)
    assert first.raw_date == "2025-07-17T20:03:10.741Z"
    assert first.author == "MisterHW@fosstodon.org"
    assert first.text.startswith(
        "Not as extreme but still on-point for the little circuit I'm working on:"
    )
    assert posts[-1].author == "pchestek@fosstodon.org"
    assert sum("edited_at" in p.extra for p in posts) == 1
    assert {p.lang for p in posts} == {"en", "es"}


# --- bluesky ----------------------------------------------------------------------------------


def test_bluesky_search(real_payloads: Path) -> None:
    posts = parse_posts(
        _read(real_payloads, "bluesky/searchPosts_redistricting.json"), fetched_at=FETCHED
    )
    assert len(posts) == 25
    first = posts[0]
    assert (
        first.native_id == "at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.post/3lpk2u6qo222m"
    )
    assert first.author == "socpaperbot.bsky.social"
    assert first.url == "https://bsky.app/profile/socpaperbot.bsky.social/post/3lpk2u6qo222m"
    assert first.text.startswith(
        "Ends Versus Means: Public Opinion on Congressional Redistricting https://osf.io/"
    )
    assert first.raw_date == "2025-05-19T17:10:09.561858Z"
    assert first.published_at == datetime(2025, 5, 19, 17, 10, 9, 561858, tzinfo=UTC)
    assert first.extra["indexed_at"] == "2025-05-19T17:10:09.813000Z"
    last = posts[-1]
    assert (
        last.native_id == "at://did:plc:7nagdvjqrzaquzk7mueohne5/app.bsky.feed.post/3lpica7sxmk2u"
    )
    assert last.author == "mcpli.bsky.social"
    # all three createdAt formats parse
    assert all(p.published_at is not None for p in posts)
    offset = next(p for p in posts if p.raw_date and p.raw_date.endswith("+00:00"))
    assert offset.published_at == datetime(2025, 5, 19, 2, 3, 20, 286393, tzinfo=UTC)
    assert sum(p.lang is None for p in posts) == 4
    assert sum("reply_to" in p.extra for p in posts) == 12


def test_bluesky_feed_wrapper(real_payloads: Path) -> None:
    posts = parse_feed_items(
        _read(real_payloads, "bluesky/getFeed_bsky_team.json"), fetched_at=FETCHED
    )
    assert len(posts) == 7
    first = posts[0]
    assert (
        first.native_id == "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lpk2lf7k6k2t"
    )
    assert first.author == "bsky.app"
    assert first.text.startswith("We’re testing a new feature!")
    assert first.engagement is not None
    assert first.engagement.counts() == (2900, 632 + 365, 171, None)
    assert first.extra["quotes"] == 365
    assert posts[-1].native_id.endswith("/3lndjyecwcs2a")


def test_bluesky_get_posts(real_payloads: Path) -> None:
    (post,) = parse_posts(_read(real_payloads, "bluesky/getPosts_single.json"), fetched_at=FETCHED)
    assert post.author == "soubhikbarari.bsky.social"
    assert post.published_at == datetime(2023, 9, 19, 11, 32, 54, 574000, tzinfo=UTC)
    assert post.engagement is not None and post.engagement.likes == 4
    assert "\n@rstatsai" in post.text and "📈" in post.text


@pytest.mark.parametrize(
    "name",
    [
        "reddit/search_r_all_praw_oauth_search.json",
        "reddit/r_askreddit_top.json",
        "reddit/r_askreddit_comments.json",
        "hackernews/search_by_date_whoishiring_page0.json",
        "mastodon/public_timeline_mastodon_social.json",
        "bluesky/searchPosts_redistricting.json",
    ],
)
def test_ids_are_unique_and_times_aware(real_payloads: Path, name: str) -> None:
    body = _read(real_payloads, name)
    parse = {
        "reddit": parse_listing,
        "hackernews": parse_hn,
        "mastodon": parse_statuses,
        "bluesky": parse_posts,
    }[name.split("/")[0]]
    posts = parse(body, fetched_at=FETCHED)
    assert len({p.native_id for p in posts}) == len(posts)
    assert all(p.published_at is not None and p.published_at.tzinfo is UTC for p in posts)


def test_foreign_payloads_fail_cleanly(real_payloads: Path) -> None:
    """Every parser, fed every other source's real payload, either parses or raises a
    SourceError with a message — never an AttributeError/TypeError from an unexpected shape."""
    from sources.errors import SourceError
    from sources.lemmy import parse_search as parse_lemmy
    from sources.mastodon import parse_search as parse_masto_search

    parsers = [
        parse_listing,
        parse_hn,
        parse_statuses,
        parse_masto_search,
        parse_posts,
        parse_feed_items,
        parse_lemmy,
    ]
    files = sorted(p for p in real_payloads.rglob("*") if p.is_file() and p.name != "MANIFEST.md")
    assert len(files) == 26
    for path in files:
        body = path.read_bytes()
        for parse in parsers:
            try:
                parse(body, fetched_at=FETCHED)
            except SourceError as exc:
                assert str(exc)
