"""Apple App Store customer reviews: the undocumented RSS feed, JSON (or XML), no key.

``GET https://itunes.apple.com/{cc}/rss/customerreviews/page={n}/id={app}/sortby=mostrecent/json``:
up to 10 pages of about 50 reviews per storefront. Every JSON value is wrapped as
``{"label": …}``; ``entry`` may be a list, a single object or missing; older feeds put an
app-metadata entry (``im:name``, no ``im:rating``) first; some feeds carry no review dates. The
identity is ``(country, review id)``. Page 1 is read on every poll; deeper pages only on the first
sync (``first_sync_pages``).

Reviews rarely name the brand, so a source can say which brand its app belongs to
(``brand = "Aurora Air"``): its reviews are then filed under that brand as well as under any
brand whose query they match.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from monitor.config import Brand, Problems
from monitor.records import Post, Snapshot
from monitor.store import SourceState
from sources.base import Collected, Collector
from sources.dates import parse_date
from sources.errors import BlockedError, ParseError, SourceError
from sources.http import FetchResponse
from sources.text import clean_text

__all__ = ["AppStoreCollector", "parse_reviews_json", "parse_reviews_xml", "reviews_url"]

DEFAULT_BASE = "https://itunes.apple.com"
MAX_PAGES = 10
_ATOM = "{http://www.w3.org/2005/Atom}"
_IM = "{http://itunes.apple.com/rss}"


def reviews_url(base: str, country: str, app_id: str, page: int, fmt: str = "json") -> str:
    return (
        f"{base.rstrip('/')}/{country}/rss/customerreviews/page={page}/id={app_id}"
        f"/sortby=mostrecent/{fmt}"
    )


def _label(entry: Mapping[str, Any], *path: str) -> str | None:
    node: Any = entry
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    if isinstance(node, Mapping):
        node = node.get("label")
    if node is None or isinstance(node, Mapping | list):
        return None
    return str(node)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _review(
    *,
    country: str,
    review_id: str | None,
    rating: str | None,
    title: str | None,
    content: str | None,
    author: str | None,
    version: str | None,
    vote_sum: str | None,
    vote_count: str | None,
    updated: str | None,
    app_url: str | None,
    fetched_at: datetime | None,
    brand: str | None,
) -> Post | None:
    stars = _int(rating)
    if not review_id or stars is None:
        return None  # the app-metadata entry, or a broken one
    votes, voters = _int(vote_sum), _int(vote_count)
    engagement = None
    if fetched_at is not None and (votes is not None or voters is not None):
        engagement = Snapshot(fetched_at, likes=votes)
    extra: dict[str, Any] = {"rating": stars, "country": country, "review_id": review_id}
    if version:
        extra["version"] = version
    if voters is not None:
        extra["vote_count"] = voters
    if votes is not None:
        extra["vote_sum"] = votes
    if app_url:
        extra["app_url"] = app_url
    if brand:
        extra["brands"] = [brand]
    return Post(
        source="appstore",
        native_id=f"{country}:{review_id}",
        title=clean_text(title or ""),
        text=clean_text(content or ""),
        url=None,  # Apple gives only the app's URL; sharing it would merge every review's story
        author=clean_text(author) if author else None,
        published_at=parse_date(updated) if updated else None,
        raw_date=updated,
        site="apps.apple.com",
        engagement=engagement,
        extra=extra,
    )


def parse_reviews_json(
    content: bytes,
    *,
    country: str,
    fetched_at: datetime | None = None,
    url: str | None = None,
    brand: str | None = None,
) -> list[Post]:
    """Reviews from the JSON feed. Pure; raises ParseError / BlockedError on other payloads."""
    stripped = content.lstrip()
    if stripped[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise BlockedError(
            200, "got an HTML page where the App Store review JSON was expected", url=url
        )
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"invalid App Store review JSON: {exc}", url=url) from None
    if not isinstance(document, Mapping) or not isinstance(document.get("feed"), Mapping):
        raise ParseError("App Store review JSON without a 'feed' object", url=url)
    entries = document["feed"].get("entry")
    if entries is None:
        return []  # no reviews (or an empty page in the middle)
    if isinstance(entries, Mapping):
        entries = [entries]  # a page with one review is an object, not a list
    if not isinstance(entries, list):
        raise ParseError(f"'feed.entry' is a {type(entries).__name__}, expected a list", url=url)
    posts: list[Post] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        link = entry.get("link")
        app_url = None
        if isinstance(link, Mapping):
            app_url = (link.get("attributes") or {}).get("href")
        post = _review(
            country=country,
            review_id=_label(entry, "id"),
            rating=_label(entry, "im:rating"),
            title=_label(entry, "title"),
            content=_label(entry, "content"),
            author=_label(entry, "author", "name"),
            version=_label(entry, "im:version"),
            vote_sum=_label(entry, "im:voteSum"),
            vote_count=_label(entry, "im:voteCount"),
            updated=_label(entry, "updated"),
            app_url=app_url,
            fetched_at=fetched_at,
            brand=brand,
        )
        if post is not None and post.native_id not in seen:
            seen.add(post.native_id)
            posts.append(post)
    return posts


def parse_reviews_xml(
    content: bytes,
    *,
    country: str,
    fetched_at: datetime | None = None,
    url: str | None = None,
    brand: str | None = None,
) -> list[Post]:
    """Reviews from the Atom/XML variant of the feed. Pure."""
    stripped = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise BlockedError(
            200, "got an HTML page where the App Store review feed was expected", url=url
        )
    try:
        root = ET.fromstring(stripped)
    except ET.ParseError as exc:
        raise ParseError(f"invalid App Store review XML: {exc}", url=url) from None
    posts: list[Post] = []
    seen: set[str] = set()
    for entry in root.iter(f"{_ATOM}entry"):

        def text(tag: str, node: ET.Element = entry) -> str | None:
            found = node.find(tag)
            return found.text if found is not None else None

        body = None
        for content_node in entry.findall(f"{_ATOM}content"):
            if content_node.get("type", "text") == "text":
                body = content_node.text
                break
        author = entry.find(f"{_ATOM}author")
        link = entry.find(f"{_ATOM}link")
        post = _review(
            country=country,
            review_id=text(f"{_ATOM}id"),
            rating=text(f"{_IM}rating"),
            title=text(f"{_ATOM}title"),
            content=body,
            author=text(f"{_ATOM}name", author) if author is not None else None,
            version=text(f"{_IM}version"),
            vote_sum=text(f"{_IM}voteSum"),
            vote_count=text(f"{_IM}voteCount"),
            updated=text(f"{_ATOM}updated"),
            app_url=link.get("href") if link is not None else None,
            fetched_at=fetched_at,
            brand=brand,
        )
        if post is not None and post.native_id not in seen:
            seen.add(post.native_id)
            posts.append(post)
    return posts


class AppStoreCollector(Collector):
    """Reviews of one app in one or more storefronts. Params: ``app_id`` (required),
    ``countries`` (``["us"]``), ``pages`` (per poll, 1), ``first_sync_pages`` (10),
    ``format`` (``json``/``xml``), ``brand`` (file every review under this brand),
    ``base_url`` (for tests)."""

    type: ClassVar[str] = "appstore"
    param_keys: ClassVar[frozenset[str]] = frozenset(
        {"app_id", "countries", "pages", "first_sync_pages", "format", "brand", "base_url"}
    )

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        super().validate_params(params, path, problems)
        app = problems.expect(params, "app_id", (str, int), path, required=True)
        if app is not None and not str(app).isdigit():
            problems.add(
                f"{path}.app_id",
                f"App Store ids are numbers, got {app!r}",
                "take it from the app's URL: apps.apple.com/…/id<number>",
            )
        for country in problems.string_list(params, "countries", path):
            if len(country) != 2 or not country.isalpha():
                problems.add(
                    f"{path}.countries", f"{country!r} is not a two-letter storefront code"
                )
        for key in ("pages", "first_sync_pages"):
            pages = problems.expect(params, key, int, path)
            if pages is not None and not 1 <= pages <= MAX_PAGES:
                problems.add(f"{path}.{key}", f"must be between 1 and {MAX_PAGES}, got {pages}")
        fmt = problems.expect(params, "format", str, path)
        if fmt is not None and fmt not in ("json", "xml"):
            problems.add(f"{path}.format", f"expected 'json' or 'xml', got {fmt!r}")
        problems.expect(params, "brand", str, path)
        problems.expect(params, "base_url", str, path)

    @property
    def countries(self) -> list[str]:
        return [c.lower() for c in self.params.get("countries", ("us",))]

    def fetch(self, country: str, page: int, etag: str | None = None) -> FetchResponse:
        """GET one page of one storefront."""
        url = reviews_url(
            str(self.params.get("base_url", DEFAULT_BASE)),
            country,
            str(self.params["app_id"]),
            page,
            str(self.params.get("format", "json")),
        )
        return self.client.get(url, etag=etag)

    def _parse(self, response: FetchResponse, country: str) -> list[Post]:
        parse = parse_reviews_xml if self.params.get("format") == "xml" else parse_reviews_json
        return parse(
            response.content,
            country=country,
            fetched_at=self.clock(),
            url=response.url,
            brand=self.params.get("brand"),
        )

    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        first_sync = state.last_success_at is None
        pages = int(
            self.params.get("first_sync_pages", MAX_PAGES)
            if first_sync
            else self.params.get("pages", 1)
        )
        etags = dict(state.extra.get("etags", {})) if state.extra else {}
        posts: list[Post] = []
        notes: list[str] = []
        errors: list[SourceError] = []
        unchanged = 0
        for country in self.countries:
            empty_run = 0
            for page in range(1, pages + 1):
                try:
                    response = self.fetch(country, page, etags.get(country) if page == 1 else None)
                    if response.not_modified:
                        unchanged += 1
                        break
                    found = self._parse(response, country)
                except SourceError as exc:
                    if page == 1:
                        errors.append(exc)
                    else:  # deep pages are a bonus: keep what page 1 gave
                        notes.append(f"{country} page {page}: {exc}")
                    break
                if page == 1 and response.headers.get("etag"):
                    etags[country] = response.headers["etag"]
                posts.extend(found)
                # Empty pages can occur in the middle; two in a row mean the end.
                empty_run = empty_run + 1 if not found else 0
                if empty_run >= 2:
                    break
        if errors and len(errors) == len(self.countries):
            raise errors[0]
        notes.extend(f"storefront failed: {exc}" for exc in errors)
        new_state = state.evolve(extra={**state.extra, "etags": etags})
        if unchanged == len(self.countries):
            return Collected([], new_state, not_modified=True)
        # Remember which source saw the review, so a re-poll re-reads the right app.
        tagged = [replace(p, extra={**p.extra, "source_spec": self.spec.name}) for p in posts]
        return Collected(tagged, new_state, notes=notes)
