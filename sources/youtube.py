"""YouTube channel and playlist feeds (Atom, no key): the latest 15 videos with views and ratings.

``GET https://www.youtube.com/feeds/videos.xml?channel_id=UC…`` (or ``playlist_id=`` /
``user=``). Each entry's ``media:community`` carries ``media:statistics@views`` and
``media:starRating@count`` (commonly read as likes), recorded as a :class:`Snapshot`, so every
poll (and every re-poll) of a young video adds to its engagement curve.

These feeds had platform-wide 404/500 outages in 2026; YouTube then answers with its HTML error
page. That page is never fed to the XML parser: it becomes a clear, transient
:class:`YouTubeFeedUnavailable` error, the circuit breaker spaces out the retries, and nothing
stored is touched. Search and comments need a Data API v3 key (``YOUTUBE_API_KEY``); they are not
collected here (see docs/sources.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

import feedparser

from monitor.config import Brand, Problems
from monitor.records import Post, Snapshot
from monitor.secrets import Secret, get_secret
from monitor.store import SourceState
from sources.base import Collected, Collector
from sources.dates import parse_date
from sources.errors import HttpStatusError, ParseError
from sources.http import FetchResponse
from sources.rss import entry_datetime
from sources.text import clean_text, html_to_text

__all__ = [
    "YouTubeCollector",
    "YouTubeFeedUnavailable",
    "feed_params",
    "parse_video_statistics",
    "parse_youtube_feed",
]

DEFAULT_BASE = "https://www.youtube.com"
DEFAULT_API = "https://www.googleapis.com/youtube/v3"
_API_BATCH = 50  # videos.list takes up to 50 ids for one quota unit
_HTML_START = (b"<!doctype html", b"<html")
_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_FEED_KEYS = ("channel_id", "playlist_id", "user")
# The statuses YouTube's feed outages answered with: worth retrying later.
_TRANSIENT = frozenset({404, 500, 502, 503, 504})


class YouTubeFeedUnavailable(HttpStatusError):
    """YouTube answered with its HTML error page instead of the feed (often a passing outage)."""


def _page_title(body: bytes) -> str:
    match = _TITLE.search(body[:4000])
    if not match:
        return "an HTML page"
    return "'" + clean_text(match.group(1).decode("utf-8", "replace")) + "'"


def _unavailable(status: int, body: bytes, url: str | None) -> YouTubeFeedUnavailable:
    return YouTubeFeedUnavailable(
        status,
        f"YouTube returned its HTML error page {_page_title(body)} instead of the feed; "
        "check the channel/playlist id, otherwise this is a known intermittent feed outage "
        "and the source is retried later",
        url=url,
    )


def _int(value: Any) -> int | None:
    try:
        return int(str(value).replace(",", ""))
    except (TypeError, ValueError):
        return None


def parse_youtube_feed(
    content: bytes,
    *,
    fetched_at: datetime | None = None,
    url: str | None = None,
    status: int = 200,
) -> list[Post]:
    """Parse a videos.xml feed into posts with engagement snapshots. Pure.

    Raises :class:`YouTubeFeedUnavailable` for YouTube's HTML error page and
    :class:`~sources.errors.ParseError` for anything else that is not a feed.
    """
    body = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not body:
        raise ParseError("empty response body, expected a YouTube feed", url=url)
    if body[:15].lower().startswith(_HTML_START):
        raise _unavailable(status if status >= 400 else 200, body, url)
    parsed = feedparser.parse(body)
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        exc = parsed.get("bozo_exception")
        reason = f"{type(exc).__name__}: {exc}" if exc else "no feed element"
        raise ParseError(f"not a readable YouTube feed ({reason})", url=url)
    channel_title = clean_text(parsed.feed.get("title", "") or "") or None
    posts: list[Post] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        video = (entry.get("yt_videoid") or "").strip()
        if not video:
            identifier = (entry.get("id") or "").strip()
            video = identifier.removeprefix("yt:video:") if identifier else ""
        if not video or video in seen:
            continue
        seen.add(video)
        link = entry.get("link") or f"https://www.youtube.com/watch?v={video}"
        published, raw_date = entry_datetime(entry)
        views = _int((entry.get("media_statistics") or {}).get("views"))
        rating = entry.get("media_starrating") or {}
        likes = _int(rating.get("count"))
        engagement = None
        if fetched_at is not None and (views is not None or likes is not None):
            engagement = Snapshot(fetched_at, likes=likes, views=views)
        author = (entry.get("author_detail") or {}).get("name") or entry.get("author")
        description = entry.get("summary") or ""
        if not description:
            group = entry.get("media_group") or ""
            description = group if isinstance(group, str) else ""
        extra: dict[str, Any] = {"video_id": video, "shorts": "/shorts/" in link}
        channel = entry.get("yt_channelid")
        if channel:
            extra["channel_id"] = channel
        average = rating.get("average")
        if average:
            extra["rating_average"] = average
        posts.append(
            Post(
                source="youtube",
                native_id=video,
                title=html_to_text(entry.get("title", "")),
                text=clean_text(description),
                url=link,
                author=clean_text(author) if author else None,
                published_at=published,
                raw_date=raw_date,
                site="youtube.com",
                source_name=channel_title,
                engagement=engagement,
                extra=extra,
            )
        )
    return posts


def parse_video_statistics(
    content: bytes, *, fetched_at: datetime, url: str | None = None
) -> list[Post]:
    """Posts from a Data API ``videos.list?part=snippet,statistics`` answer. Pure.

    Gives comment counts the feed lacks; ``likeCount`` is absent when the owner hides it.
    """
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"invalid YouTube API JSON: {exc}", url=url) from None
    items = document.get("items") if isinstance(document, Mapping) else None
    if not isinstance(items, list):
        raise ParseError("YouTube API answer without an 'items' list", url=url)
    posts: list[Post] = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        snippet: Mapping[str, Any] = item.get("snippet") or {}
        stats: Mapping[str, Any] = item.get("statistics") or {}
        if not isinstance(snippet, Mapping) or not isinstance(stats, Mapping):
            continue
        raw_date = snippet.get("publishedAt")
        posts.append(
            Post(
                source="youtube",
                native_id=item["id"],
                title=clean_text(str(snippet.get("title") or "")),
                text=clean_text(str(snippet.get("description") or "")),
                url=f"https://www.youtube.com/watch?v={item['id']}",
                author=clean_text(str(snippet.get("channelTitle") or "")) or None,
                published_at=parse_date(raw_date) if isinstance(raw_date, str) else None,
                raw_date=raw_date if isinstance(raw_date, str) else None,
                site="youtube.com",
                source_name=clean_text(str(snippet.get("channelTitle") or "")) or None,
                engagement=Snapshot(
                    fetched_at,
                    likes=_int(stats.get("likeCount")),
                    comments=_int(stats.get("commentCount")),
                    views=_int(stats.get("viewCount")),
                ),
                extra={"video_id": item["id"], "channel_id": snippet.get("channelId")},
            )
        )
    return posts


def feed_params(params: Mapping[str, Any]) -> dict[str, str]:
    """The one feed selector among ``channel_id``, ``playlist_id``, ``user``."""
    chosen = {key: str(params[key]) for key in _FEED_KEYS if params.get(key)}
    if len(chosen) != 1:
        raise ValueError("set exactly one of channel_id, playlist_id, user")
    return chosen


class YouTubeCollector(Collector):
    """A channel or playlist feed. Params: ``channel_id`` | ``playlist_id`` | ``user``,
    ``api_key_env`` (optional: env var with a Data API v3 key, used to re-poll counts
    including comments), ``base_url`` / ``api_url`` (for tests)."""

    type: ClassVar[str] = "youtube"
    param_keys: ClassVar[frozenset[str]] = frozenset(
        {*_FEED_KEYS, "base_url", "api_key_env", "api_url"}
    )
    refresh_ids_per_request: ClassVar[int] = 15  # one feed read answers for all its videos

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        super().validate_params(params, path, problems)
        for key in _FEED_KEYS:
            problems.expect(params, key, str, path)
        try:
            feed_params(params)
        except ValueError as exc:
            problems.add(path, str(exc), "e.g. params = { channel_id = 'UC…' }")
        problems.expect(params, "api_key_env", str, path)
        problems.expect(params, "api_url", str, path)
        channel = params.get("channel_id")
        if isinstance(channel, str) and channel and not channel.startswith("UC"):
            problems.add(
                f"{path}.channel_id",
                f"channel ids start with 'UC', got {channel!r}",
                "copy it from the channel page's URL (youtube.com/channel/UC…)",
            )

    def fetch(self, state: SourceState) -> FetchResponse:
        """GET the feed; the HTML error statuses are returned (not raised) to be explained."""
        base = str(self.params.get("base_url", DEFAULT_BASE)).rstrip("/")
        return self.client.get(
            f"{base}/feeds/videos.xml",
            params=feed_params(self.params),
            etag=state.etag,
            last_modified=state.last_modified,
            accept_statuses=_TRANSIENT,
        )

    def _read(self, state: SourceState) -> tuple[FetchResponse, list[Post]]:
        response = self.fetch(state)
        if response.not_modified:
            return response, []
        if response.status >= 400:
            raise _unavailable(response.status, response.content, response.url)
        return response, parse_youtube_feed(
            response.content, fetched_at=self.clock(), url=response.url
        )

    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        response, posts = self._read(state)
        if response.not_modified:
            return Collected([], state, not_modified=True)
        new_state = state.evolve(
            etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified")
        )
        # Remember which feed saw the video, so a re-poll re-reads the right one.
        tagged = [replace(p, extra={**p.extra, "source_spec": self.spec.name}) for p in posts]
        return Collected(tagged, new_state)

    def _api_key(self) -> Secret | None:
        name = self.params.get("api_key_env")
        return get_secret(str(name)) if name else None

    def refresh(self, native_ids: Sequence[str]) -> list[Post]:
        """Current counts of the given videos. With an API key: ``videos.list`` (50 ids per
        quota unit, with comment counts); without: one unconditional re-read of the feed (it
        holds the 15 latest videos, which are the young ones worth re-polling)."""
        key = self._api_key()
        if key is not None:
            return self._refresh_api(native_ids, key)
        wanted = set(native_ids)
        blank = SourceState(key=self.spec.name, source=self.spec.name, type=self.type)
        _, posts = self._read(blank)
        return [post for post in posts if post.native_id in wanted]

    def _refresh_api(self, native_ids: Sequence[str], key: Secret) -> list[Post]:
        base = str(self.params.get("api_url", DEFAULT_API)).rstrip("/")
        posts: list[Post] = []
        ids = list(dict.fromkeys(native_ids))
        for start in range(0, len(ids), _API_BATCH):
            # The key travels in a header, so it never appears in URLs, logs or status.
            response = self.client.get(
                f"{base}/videos",
                params={
                    "part": "snippet,statistics",
                    "id": ",".join(ids[start : start + _API_BATCH]),
                },
                headers={"X-Goog-Api-Key": str(key)},
            )
            posts.extend(
                parse_video_statistics(response.content, fetched_at=self.clock(), url=response.url)
            )
        return posts
