"""Generic RSS / Atom feeds through feedparser.

The bytes are fetched with the shared client (timeouts, User-Agent, conditional GET) and handed to
``feedparser.parse``; feedparser's ``bozo`` flag alone does not condemn a feed (it is also set for
harmless encoding overrides), a feed with no entries and a bozo error does.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import feedparser

from monitor.config import Brand, Problems
from monitor.records import Post, Snapshot
from monitor.store import SourceState
from monitor.urls import canonical_url, site_of
from sources.base import Collected, Collector
from sources.dates import parse_date
from sources.errors import BlockedError, ParseError
from sources.feedparser_tuning import install as install_feedparser_tuning
from sources.http import FetchResponse
from sources.text import clean_text, html_to_text

__all__ = ["ParsedFeed", "RssCollector", "entry_datetime", "parse_feed", "site_cached"]

_HTML_START = (b"<!doctype html", b"<html")


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    link: str
    posts: list[Post]
    warning: str | None = None  # a bozo exception that did not stop parsing


def entry_datetime(entry: Mapping[str, Any]) -> tuple[datetime | None, str | None]:
    """Publication time in UTC (falling back to the update time) and the raw string."""
    for key in ("published", "updated", "created"):
        parsed = entry.get(f"{key}_parsed")
        raw = entry.get(key)
        if parsed:
            try:
                year, month, day, hour, minute, second = parsed[:6]
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC), raw
            except (TypeError, ValueError):
                continue
        if raw:
            return parse_date(raw), raw
    return None, None


def _entry_text(entry: dict[str, Any]) -> str:
    contents = _get(entry, "content") or []
    best = ""
    for content in contents:
        value = content.get("value") or ""
        if len(value) > len(best):
            best = value
    summary = _get(entry, "summary") or ""
    return html_to_text(best if len(best) >= len(summary) else summary)


def _native_id(entry: dict[str, Any], title: str, raw_date: str | None) -> str:
    identifier = (_get(entry, "id") or "").strip()
    if identifier:
        return identifier
    link = (_get(entry, "link") or "").strip()
    if link:
        return canonical_url(link)
    digest = hashlib.sha256(f"{title}\x00{raw_date or ''}".encode()).hexdigest()[:24]
    return f"sha256:{digest}"


# Entries are FeedParserDicts, whose ``get`` resolves key aliases and deprecated fallbacks on
# every call; the keys read here are stored under their own names, so the plain lookup is the
# same and several times cheaper (it runs a dozen times per entry).
_get = dict.get


def site_cached(url: str | None, hosts: dict[str, str]) -> str:
    """``site_of(url)``, remembered per ``scheme://host`` prefix (a feed's links share a few)."""
    if not url:
        return ""
    prefix = url.split("/", 3)
    key = "/".join(prefix[:3])
    site = hosts.get(key)
    if site is None:
        site = hosts[key] = site_of(url)
    return site


_RFC822 = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun),\s+)?(\d{1,2}) (jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r" (\d{4}) (\d{2}):(\d{2}):(\d{2}) (gmt|ut|utc|z|[+-]\d{4})",
    re.IGNORECASE,
)
_MONTHS = {
    m: n
    for n, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}


def _rfc822_date(value: str) -> time.struct_time | None:
    """feedparser's own reading of the form nearly every RSS feed writes (``Mon, 02 Nov 2026
    09:00:00 GMT`` or ``+0100``), without first trying its other formats one by one; anything
    else returns None and goes on to feedparser's handlers (registered below, so tried first)."""
    found = _RFC822.fullmatch(value.strip())
    if found is None:
        return None
    day, month, year, hour, minute, second, zone = found.groups()
    offset = timedelta(0)
    if zone[0] in "+-":
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:]))
        if zone[0] == "-":
            offset = -offset
    stamp = datetime(
        int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second)
    )
    return (stamp - offset).utctimetuple()


feedparser.registerDateHandler(_rfc822_date)
install_feedparser_tuning()  # same results, ~20% less time per item (see that module)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).replace(",", ""))
    except (TypeError, ValueError):
        return None


def parse_feed(
    content: bytes,
    *,
    source: str = "rss",
    source_name: str | None = None,
    url: str | None = None,
    content_type: str | None = None,
    fetched_at: datetime | None = None,
) -> ParsedFeed:
    """Parse feed bytes into posts. Pure: no I/O. Raises ParseError / BlockedError."""
    body = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not body:
        raise ParseError("empty response body, expected a feed", url=url)
    if body[:15].lower().startswith(_HTML_START):
        raise BlockedError(200, "got an HTML page where a feed was expected", url=url)
    headers = {"content-type": content_type} if content_type else {}
    # We strip markup to text ourselves, so feedparser need not sanitize or resolve URIs (~30% faster).
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    warning = None
    if parsed.bozo:
        exc = parsed.get("bozo_exception")
        warning = f"{type(exc).__name__}: {exc}" if exc else "feed is not well-formed"
        if not parsed.entries:
            if parsed.get("version") or parsed.feed.get("title"):
                pass  # a well-identified feed that simply has no entries
            else:
                raise ParseError(f"not a readable RSS/Atom feed ({warning})", url=url)
    feed_title = clean_text(parsed.feed.get("title", "") or "")
    feed_link = parsed.feed.get("link", "") or url or ""
    feed_author = (parsed.feed.get("author_detail") or {}).get("name") or parsed.feed.get("author")
    feed_lang = parsed.feed.get("language")
    posts: list[Post] = []
    seen: set[str] = set()
    hosts: dict[str, str] = {}
    for entry in parsed.entries:
        title = html_to_text(_get(entry, "title", ""))
        text = _entry_text(entry)
        published, raw_date = entry_datetime(entry)
        native_id = _native_id(entry, title, raw_date)
        if native_id in seen:  # duplicated guids inside one feed
            continue
        seen.add(native_id)
        link = _get(entry, "link") or None
        src = _get(entry, "source") or {}
        site = (
            (src.get("title") if isinstance(src, Mapping) else None)
            or site_cached(link, hosts)
            or site_cached(feed_link, hosts)
        )
        # Atom: an entry without an author inherits the feed's; RSS "email (Name)" → Name.
        author = (
            (_get(entry, "author_detail") or {}).get("name") or _get(entry, "author") or feed_author
        )
        stats = _get(entry, "media_statistics")
        rating = _get(entry, "media_starrating")
        views = _int(stats.get("views")) if stats else None
        likes = _int(rating.get("count")) if rating else None
        engagement = None
        if (views is not None or likes is not None) and fetched_at is not None:
            engagement = Snapshot(fetched_at, likes=likes, views=views)
        lang = (_get(entry, "language") or feed_lang or "").split("-")[0].lower() or None
        posts.append(
            Post(
                source=source,
                native_id=native_id,
                title=title,
                text=text,
                url=link,
                author=html_to_text(author) if author else None,
                published_at=published,
                raw_date=raw_date,
                lang=lang,
                site=site or None,
                source_name=source_name or feed_title or None,
                engagement=engagement,
            )
        )
    return ParsedFeed(feed_title, feed_link, posts, warning)


class RssCollector(Collector):
    """Any RSS 0.9x/1.0/2.0 or Atom feed. Params: ``url`` (required), ``lang`` (hint)."""

    type: ClassVar[str] = "rss"
    param_keys: ClassVar[frozenset[str]] = frozenset({"url", "lang"})

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        super().validate_params(params, path, problems)
        url = problems.expect(params, "url", str, path, required=True)
        if url and not url.startswith(("http://", "https://")):
            problems.add(
                f"{path}.url", f"not an http(s) URL: {url!r}", "use a full http:// or https:// URL"
            )

    def fetch(self, state: SourceState) -> FetchResponse:
        return self.client.get(
            self.params["url"], etag=state.etag, last_modified=state.last_modified
        )

    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        response = self.fetch(state)
        if response.not_modified:
            return Collected([], state, not_modified=True)
        feed = parse_feed(
            response.content,
            source=self.type,
            source_name=self.spec.name,
            url=response.url,
            content_type=response.headers.get("content-type"),
            fetched_at=self.clock(),
        )
        posts = feed.posts
        hint = self.params.get("lang")
        if hint:
            posts = [p if p.lang else _with_lang(p, hint) for p in posts]
        new_state = state.evolve(
            etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified")
        )
        return Collected(posts, new_state, notes=[feed.warning] if feed.warning else [])


def _with_lang(post: Post, lang: str) -> Post:
    from dataclasses import replace

    return replace(post, lang=lang)
