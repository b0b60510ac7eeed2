"""Google News RSS search: one query per brand and locale, no key.

``GET https://news.google.com/rss/search?q=…&hl=en-US&gl=US&ceid=US:en``. The endpoint is
undocumented; ``hl``/``gl``/``ceid`` must agree (a bad combination redirects to
``/rss/unsupported``), about 100 items come back and there is no pagination, so the query is
narrowed with ``when:`` (default ``when:1d``).

Items are ``"Headline - Publisher"`` with the publisher in ``<source url=…>``: the suffix is cut
using ``<source>`` (publisher names can themselves contain `` | `` or `` - ``). Links are Google
redirects; the ``guid`` is the identity. Links minted before mid-2024 carry the publisher URL and
are decoded offline; newer ones are kept as they are, with the publisher's home page in
``extra["publisher_url"]`` (resolving them needs extra Google requests, which this collector
never makes).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import urlsplit

import feedparser

from monitor.config import Brand, Problems
from monitor.records import Post
from monitor.store import SourceState
from monitor.urls import canonical_url, decode_google_news_link, site_of
from sources.base import Collected, Collector
from sources.dates import parse_date
from sources.errors import BlockedError, ParseError
from sources.http import FetchResponse
from sources.rss import entry_datetime
from sources.text import clean_text, html_to_text

__all__ = [
    "GoogleNewsCollector",
    "build_query",
    "locale_params",
    "parse_google_news",
    "split_publisher",
]

DEFAULT_BASE = "https://news.google.com"
_HTML_START = (b"<!doctype html", b"<html")
# Language variants Google names differently in ceid than in hl.
_CEID_LANG = {
    "pt-BR": "pt-419",
    "pt-PT": "pt-150",
    "es-419": "es-419",
    "zh-CN": "zh-Hans",
    "zh-TW": "zh-Hant",
    "zh-HK": "zh-Hant",
}
_HL = re.compile(r"^[a-z]{2,3}(?:-(?:[A-Z]{2}|\d{3}|[A-Z][a-z]{3}))?$")


def locale_params(hl: str, gl: str, ceid: str | None = None) -> dict[str, str]:
    """``hl``/``gl``/``ceid`` for a language and country, checked for consistency.

    ``locale_params("en-US", "US")`` → ``{"hl": "en-US", "gl": "US", "ceid": "US:en"}``.
    Raises ValueError with a fix when they disagree.
    """
    if not _HL.match(hl):
        raise ValueError(f"hl {hl!r} is not a language tag like 'en-US', 'de' or 'es-419'")
    gl = gl.upper()
    if not re.fullmatch(r"[A-Z]{2}", gl):
        raise ValueError(f"gl {gl!r} is not a two-letter country code like 'US'")
    language, _, region = hl.partition("-")
    if region and region.isalpha() and region.isupper() and region != gl:
        raise ValueError(f"hl {hl!r} names region {region} but gl is {gl}; use gl = '{region}'")
    expected = f"{gl}:{_CEID_LANG.get(hl, language)}"
    if ceid is not None and ceid != expected:
        country, _, lang = ceid.partition(":")
        if country != gl or not lang or not lang.startswith(language):
            raise ValueError(
                f"ceid {ceid!r} does not match hl {hl!r} and gl {gl!r}; use ceid = '{expected}'"
            )
        expected = ceid
    return {"hl": hl, "gl": gl, "ceid": expected}


def build_query(brand: Brand, override: str | None = None, when: str | None = "1d") -> str:
    """The search query for a brand: its name, aliases and handles as ``"phrases"`` OR-ed."""
    if override:
        query = override
    else:
        terms = [f'"{t}"' if " " in t else t for t in brand.search_terms()]
        query = " OR ".join(terms)
    if when and "when:" not in query and "after:" not in query and "before:" not in query:
        query = f"{query} when:{when}"
    return query


def split_publisher(title: str, publisher: str | None) -> str:
    """``"Headline - Publisher"`` → ``"Headline"``, using the known publisher name."""
    title = title.strip()
    if publisher:
        for dash in (" - ", " – ", " — "):
            suffix = f"{dash}{publisher.strip()}"
            if title.endswith(suffix) and len(title) > len(suffix):
                return title[: -len(suffix)].rstrip()
    return title


class _Cluster(HTMLParser):
    """Reads the description: one ``<a>headline</a><font>publisher</font>`` or an ``<ol>`` of them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[dict[str, str]] = []
        self._field: str | None = None
        self.loose: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.items.append({"title": "", "publisher": "", "link": dict(attrs).get("href") or ""})
            self._field = "title"
        elif tag == "font" and self.items:
            self._field = "publisher"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("a", "font"):
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._field and self.items:
            self.items[-1][self._field] += data
        elif data.strip():
            self.loose.append(data)


_SINGLE = re.compile(r"^\s*<a [^>]*>[^<]*</a>(?:&nbsp;|\xa0|\s)*(?:<font[^>]*>[^<]*</font>)?\s*$")


def _description(html: str) -> tuple[list[dict[str, str]], str]:
    if not html or _SINGLE.match(html):
        return [], ""  # the usual "<a>headline</a> <font>publisher</font>": nothing new
    parser = _Cluster()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # HTMLParser on hostile input
        return [], html_to_text(html)
    items = [
        {k: clean_text(v) for k, v in item.items()}
        for item in parser.items
        if item["title"].strip()
        and not item["title"].strip().lower().startswith("view full coverage")
    ]
    loose = clean_text(" ".join(parser.loose))
    if loose.lower().startswith("view full coverage"):
        loose = ""
    return items, loose


def _entries_etree(body: bytes) -> tuple[list[dict[str, Any]], str | None] | None:
    """Items of a well-formed RSS document (the fast path), or None to fall back."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        return None
    entries = []
    for item in channel.iter("item"):
        source = item.find("source")
        entries.append(
            {
                "title": item.findtext("title") or "",
                "link": item.findtext("link"),
                "guid": item.findtext("guid"),
                "published": (item.findtext("pubDate") or "").strip() or None,
                "published_at": None,
                "summary": item.findtext("description") or "",
                "publisher": (source.text or "") if source is not None else "",
                "publisher_url": (source.get("url") or "") if source is not None else "",
            }
        )
    return entries, channel.findtext("language")


def _from_feedparser(entry: Mapping[str, Any]) -> dict[str, Any]:
    source = entry.get("source") or {}
    if not isinstance(source, Mapping):
        source = {}
    published, raw = entry_datetime(entry)
    return {
        "title": html_to_text(entry.get("title", "")),
        "link": entry.get("link"),
        "guid": entry.get("id"),
        "published": raw,
        "published_at": published,
        "summary": entry.get("summary") or "",
        "publisher": source.get("title") or "",
        "publisher_url": source.get("href") or "",
    }


def parse_google_news(
    content: bytes,
    *,
    fetched_at: datetime | None = None,
    url: str | None = None,
    lang: str | None = None,
    content_type: str | None = None,
) -> list[Post]:
    """Parse a Google News RSS payload into posts. Pure; raises ParseError / BlockedError."""
    del fetched_at  # Google News reports no engagement
    body = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not body:
        raise ParseError("empty response body, expected a Google News feed", url=url)
    if body[:15].lower().startswith(_HTML_START):
        raise BlockedError(200, "got an HTML page where the Google News feed was expected", url=url)
    fast = _entries_etree(body)
    if fast is not None:
        entries, channel_lang = fast
    else:
        # Not well-formed XML: feedparser's forgiving parser recovers what it can.
        parsed = feedparser.parse(
            body, response_headers={"content-type": content_type} if content_type else {}
        )
        if parsed.bozo and not parsed.entries and not parsed.get("version"):
            exc = parsed.get("bozo_exception")
            raise ParseError(
                f"not a readable Google News feed ({type(exc).__name__}: {exc})", url=url
            )
        entries = [_from_feedparser(entry) for entry in parsed.entries]
        channel_lang = parsed.feed.get("language")
    feed_lang = (channel_lang or lang or "").split("-")[0].lower() or None
    posts: list[Post] = []
    seen: set[str] = set()
    for entry in entries:
        publisher = clean_text(entry["publisher"])
        publisher_url = entry["publisher_url"]
        title = split_publisher(clean_text(entry["title"]), publisher)
        link = (entry["link"] or "").strip() or None
        native_id = (entry["guid"] or "").strip() or (canonical_url(link) if link else "")
        if not native_id or native_id in seen:
            continue
        seen.add(native_id)
        related, loose = _description(entry["summary"])
        # The first cluster item is the article itself; the rest are other outlets' takes.
        others = [
            {"title": item["title"], "publisher": item["publisher"]}
            for item in related
            if split_publisher(item["title"], item["publisher"]) != title
        ]
        text = loose if loose and loose != title and loose != publisher else ""
        raw_date = entry["published"]
        published = entry["published_at"] or (parse_date(raw_date) if raw_date else None)
        decoded = decode_google_news_link(link) if link else None
        extra: dict[str, Any] = {"publisher": publisher or None, "google_news_link": link}
        if publisher_url:
            extra["publisher_url"] = publisher_url
        if others:
            extra["related"] = others
        posts.append(
            Post(
                source="google_news",
                native_id=native_id,
                title=title,
                text=text,
                url=decoded or link,
                published_at=published,
                raw_date=raw_date,
                lang=feed_lang,
                site=site_of(publisher_url) or publisher or None,
                source_name=publisher or None,
                extra=extra,
            )
        )
    return posts


class GoogleNewsCollector(Collector):
    """Google News search per brand. Params: ``hl`` (``en-US``), ``gl`` (``US``), ``ceid``
    (derived), ``when`` (``1d``; ``""`` for none), ``query`` (instead of the brand's terms),
    ``base_url`` (for tests and mirrors)."""

    type: ClassVar[str] = "google_news"
    per_brand: ClassVar[bool] = True
    param_keys: ClassVar[frozenset[str]] = frozenset(
        {"hl", "gl", "ceid", "when", "query", "base_url"}
    )

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        super().validate_params(params, path, problems)
        hl = problems.expect(params, "hl", str, path, default="en-US")
        gl = problems.expect(params, "gl", str, path, default="US")
        ceid = problems.expect(params, "ceid", str, path)
        problems.expect(params, "when", str, path)
        problems.expect(params, "query", str, path)
        base = problems.expect(params, "base_url", str, path)
        if base and not base.startswith(("http://", "https://")):
            problems.add(f"{path}.base_url", f"not an http(s) URL: {base!r}")
        try:
            locale_params(hl, gl, ceid)
        except ValueError as exc:
            problems.add(path, str(exc), "see docs/sources.md, Google News")

    def _locale(self) -> dict[str, str]:
        return locale_params(
            self.params.get("hl", "en-US"), self.params.get("gl", "US"), self.params.get("ceid")
        )

    def fetch(self, state: SourceState, brand: Brand) -> FetchResponse:
        """GET the search feed for ``brand`` (conditional on the previous ETag)."""
        base = str(self.params.get("base_url", DEFAULT_BASE)).rstrip("/")
        query = build_query(brand, self.params.get("query"), self.params.get("when", "1d") or None)
        return self.client.get(
            f"{base}/rss/search",
            params={"q": query, **self._locale()},
            etag=state.etag,
            last_modified=state.last_modified,
        )

    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        if brand is None:
            raise ParseError("google_news searches per brand; no brand was given")
        response = self.fetch(state, brand)
        if response.not_modified:
            return Collected([], state, not_modified=True)
        if urlsplit(response.url).path.rstrip("/").endswith("/rss/unsupported"):
            locale = self._locale()
            raise ParseError(
                f"Google News does not serve hl={locale['hl']} gl={locale['gl']} "
                f"ceid={locale['ceid']} (redirected to /rss/unsupported); pick a supported "
                "language/country pair, e.g. hl='de' gl='DE'",
                url=response.url,
            )
        posts = parse_google_news(
            response.content,
            fetched_at=self.clock(),
            url=response.url,
            lang=self._locale()["hl"],
            content_type=response.headers.get("content-type"),
        )
        new_state = state.evolve(
            etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified")
        )
        return Collected(posts, new_state)
