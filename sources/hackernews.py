"""Hacker News through the Algolia search API (stories and comments, points, comment counts).

``search_by_date`` returns newest first and at most about 1000 hits per query, so each poll asks
for a time slice (``created_at_i`` above the cursor minus a small overlap); what a poll cannot
reach within its page budget is remembered as a gap and filled by later polls
(:func:`sources.social.collect_windows`).
Engagement of known items is re-read from the official Firebase item API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from monitor.config import Brand, Problems
from monitor.records import Post, Snapshot
from monitor.store import SourceState
from sources.base import Collected, Collector
from sources.dates import parse_date
from sources.errors import HttpStatusError, ParseError
from sources.social import (
    RangeResult,
    as_int,
    as_str,
    check_int,
    check_url,
    collect_windows,
    epoch_to_datetime,
    load_json,
)
from sources.text import html_to_text

__all__ = [
    "DEFAULT_API",
    "DEFAULT_ITEM_API",
    "HackerNewsCollector",
    "discussion_url",
    "parse_item",
    "parse_search",
]

DEFAULT_API = "https://hn.algolia.com/api/v1"
DEFAULT_ITEM_API = "https://hacker-news.firebaseio.com/v0"
SITE = "news.ycombinator.com"
_KINDS = ("story", "comment")


def discussion_url(item_id: str) -> str:
    """The Hacker News page of an item."""
    return f"https://{SITE}/item?id={item_id}"


def parse_search(
    payload: bytes | str | Mapping[str, Any],
    *,
    fetched_at: datetime,
    source: str = "hackernews",
    source_name: str = "Hacker News",
    url: str | None = None,
) -> list[Post]:
    """Algolia ``search`` / ``search_by_date`` response → posts. Pure; raises ParseError."""
    data = load_json(payload, url=url, what="Algolia search JSON")
    hits = data.get("hits") if isinstance(data, Mapping) else None
    if not isinstance(hits, list):
        raise ParseError("Algolia response has no 'hits' list", url=url)
    posts: list[Post] = []
    seen: set[str] = set()
    for hit in hits:
        post = (
            _parse_hit(hit, fetched_at, source, source_name) if isinstance(hit, Mapping) else None
        )
        if post is not None and post.native_id not in seen:
            seen.add(post.native_id)
            posts.append(post)
    return posts


def _parse_hit(
    hit: Mapping[str, Any], fetched_at: datetime, source: str, source_name: str
) -> Post | None:
    item_id = as_str(hit.get("objectID"))
    if item_id is None:
        return None
    tags = [t for t in hit.get("_tags") or [] if isinstance(t, str)]
    is_comment = "comment" in tags or bool(hit.get("comment_text") and not hit.get("title"))
    published = epoch_to_datetime(hit.get("created_at_i"))
    raw_date = as_str(hit.get("created_at"))
    if published is None and raw_date:
        published = parse_date(raw_date)
    body = hit.get("comment_text") if is_comment else hit.get("story_text")
    text = html_to_text(body if isinstance(body, str) else None)
    title = "" if is_comment else html_to_text(as_str(hit.get("title")))
    link = as_str(hit.get("url"))
    extra: dict[str, Any] = {"kind": "comment" if is_comment else "story", "tags": tags}
    if link:
        extra["link"] = link
    for key in ("story_id", "parent_id", "story_title"):
        value = hit.get(key)
        if value is not None and not isinstance(value, Mapping | list):
            extra[key] = value
    points = as_int(hit.get("points"))
    comments = as_int(hit.get("num_comments"))
    engagement = (
        Snapshot(fetched_at, likes=points, comments=comments)
        if points is not None or comments is not None
        else None
    )
    return Post(
        source=source,
        native_id=item_id,
        title=title,
        text=text,
        url=discussion_url(item_id),
        author=as_str(hit.get("author")),
        published_at=published,
        raw_date=raw_date,
        site=SITE,
        source_name=source_name,
        engagement=engagement,
        extra=extra,
    )


def parse_item(
    payload: bytes | str | Mapping[str, Any] | None,
    *,
    fetched_at: datetime,
    source: str = "hackernews",
    source_name: str = "Hacker News",
    url: str | None = None,
) -> Post | None:
    """One Firebase ``/v0/item/<id>.json`` object → a post; None for deleted, dead or missing."""
    data = load_json(payload, url=url, what="Hacker News item JSON")
    if data is None:
        return None  # the item API answers `null` for ids that do not exist
    if not isinstance(data, Mapping):
        raise ParseError("Hacker News item is not a JSON object", url=url)
    item_id = as_str(data.get("id"))
    if item_id is None or data.get("deleted") or data.get("dead"):
        return None
    kind = as_str(data.get("type")) or "story"
    score = as_int(data.get("score"))
    descendants = as_int(data.get("descendants"))
    engagement = (
        Snapshot(fetched_at, likes=score, comments=descendants)
        if score is not None or descendants is not None
        else None
    )
    extra: dict[str, Any] = {"kind": kind}
    link = as_str(data.get("url"))
    if link:
        extra["link"] = link
    if data.get("parent") is not None:
        extra["parent_id"] = data.get("parent")
    return Post(
        source=source,
        native_id=item_id,
        title="" if kind == "comment" else html_to_text(as_str(data.get("title"))),
        text=html_to_text(as_str(data.get("text"))),
        url=discussion_url(item_id),
        author=as_str(data.get("by")),
        published_at=epoch_to_datetime(data.get("time")),
        site=SITE,
        source_name=source_name,
        engagement=engagement,
        extra=extra,
    )


class HackerNewsCollector(Collector):
    """Hacker News stories and comments mentioning the brand (Algolia ``search_by_date``).

    Params (all optional): ``tags`` (list of ``story``/``comment``; default both), ``hits_per_page``
    (1–1000, default 100), ``max_pages`` (per term and poll, default 10), ``overlap`` (seconds
    re-read below the cursor, default 300), ``lookback`` (seconds on the first poll, default
    86400), ``api_url`` and ``item_api_url`` (for mirrors and tests).
    """

    type: ClassVar[str] = "hackernews"
    per_brand: ClassVar[bool] = True
    param_keys: ClassVar[frozenset[str]] = frozenset(
        {"tags", "hits_per_page", "max_pages", "overlap", "lookback", "api_url", "item_api_url"}
    )

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        super().validate_params(params, path, problems)
        for index, tag in enumerate(problems.string_list(params, "tags", path)):
            if tag not in _KINDS:
                problems.add(
                    f"{path}.tags[{index}]", f"unknown tag {tag!r}", "use story or comment"
                )
        check_int(params, "hits_per_page", path, problems, maximum=1000)
        check_int(params, "max_pages", path, problems, maximum=50)
        check_int(params, "overlap", path, problems, minimum=0)
        check_int(params, "lookback", path, problems)
        for key in ("api_url", "item_api_url"):
            check_url(params, key, path, problems)

    @property
    def _api(self) -> str:
        return str(self.params.get("api_url", DEFAULT_API)).rstrip("/")

    def fetch_page(
        self, query: str, tags: str, since: int, until: int | None, page: int
    ) -> tuple[Mapping[str, Any], str]:
        """One ``search_by_date`` page as decoded JSON (and the URL it came from)."""
        numeric = f"created_at_i>{since}"
        if until is not None:
            numeric += f",created_at_i<={until}"
        response = self.client.get(
            f"{self._api}/search_by_date",
            params={
                "query": query,
                "tags": tags,
                "numericFilters": numeric,
                "hitsPerPage": int(self.params.get("hits_per_page", 100)),
                "page": page,
            },
        )
        data = load_json(response.content, url=response.url, what="Algolia search JSON")
        if not isinstance(data, Mapping):
            raise ParseError("Algolia response is not a JSON object", url=response.url)
        return data, response.url

    def search_range(self, term: str, since: datetime, until: datetime | None) -> RangeResult:
        """All pages (up to ``max_pages``) of one term's hits in a time range, newest first."""
        now = self.clock()
        kinds = tuple(self.params.get("tags") or _KINDS)
        tags = kinds[0] if len(kinds) == 1 else "(" + ",".join(kinds) + ")"
        max_pages = int(self.params.get("max_pages", 10))
        lower = int(since.timestamp())
        upper = int(until.timestamp()) if until else None
        posts: list[Post] = []
        for page in range(max_pages):
            data, url = self.fetch_page(term, tags, lower, upper, page)
            found = parse_search(
                data, fetched_at=now, source=self.type, source_name="Hacker News", url=url
            )
            posts.extend(found)
            if not found or page + 1 >= (as_int(data.get("nbPages")) or 0):
                return RangeResult.of(posts, truncated=False)
        return RangeResult.of(posts, truncated=True)

    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        """Search every brand term newer than the cursor, then fill any gap left earlier."""
        if brand is None:
            raise ParseError("the hackernews source needs a brand to search for")
        posts, new_state, notes = collect_windows(
            state,
            self.clock(),
            brand.search_terms(),
            self.search_range,
            lookback=timedelta(seconds=int(self.params.get("lookback", 86400))),
            overlap=timedelta(seconds=int(self.params.get("overlap", 300))),
        )
        return Collected(posts, new_state, notes=notes)

    def refresh(self, native_ids: Sequence[str]) -> list[Post]:
        """Current points and comment counts of known items (one Firebase request per id)."""
        base = str(self.params.get("item_api_url", DEFAULT_ITEM_API)).rstrip("/")
        now = self.clock()
        posts: list[Post] = []
        for native_id in native_ids:
            if not native_id.isdigit():
                continue
            try:
                response = self.client.get(f"{base}/item/{native_id}.json")
            except HttpStatusError as exc:
                if exc.status == 404:
                    continue
                raise
            post = parse_item(response.content, fetched_at=now, source=self.type, url=response.url)
            if post is not None:
                posts.append(post)
        return posts
