"""Lemmy: search on configured instances, reading both the v3 API (Lemmy 0.19) and v4 (1.0).

v3 (``/api/v3/search?q=…&sort=New``) pages by number and keeps counts in ``counts``; v4
(``/api/v4/search?search_term=…``) pages by ``page_cursor``, moves the counts into ``post`` and
renames timestamps to ``published_at``. With ``api = "auto"`` the collector tries v3 and switches
an instance to v4 when v3 is gone (404). A post's identity is its ``ap_id``, the same on every
instance, so a post federated to two configured instances is stored once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from monitor.config import Brand, Problems
from monitor.records import Post, Snapshot, isoformat
from monitor.store import SourceState
from sources.base import Collected, Collector
from sources.dates import parse_date
from sources.errors import HttpStatusError, ParseError, RateLimitedError, SourceError
from sources.http import FetchResponse
from sources.social import as_int, as_str, check_int, load_json
from sources.text import clean_text

__all__ = ["LemmyCollector", "instance_url", "parse_post_response", "parse_search"]

_APIS = ("auto", "v3", "v4")
_INSTANCE = re.compile(r"^(https?://)?[A-Za-z0-9.-]+(:\d+)?/?$")
_POST_AP_ID = re.compile(r"^https://([^/]+)/post/(\d+)$")


def instance_url(instance: str) -> str:
    """``lemmy.world`` or ``https://lemmy.world/`` → ``https://lemmy.world``."""
    instance = instance.strip().rstrip("/")
    return instance if instance.startswith(("http://", "https://")) else f"https://{instance}"


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _qualified(entity: Mapping[str, Any]) -> str | None:
    """``name@host`` from a person/community with ``actor_id`` (v3) or ``ap_id`` (v4)."""
    name = as_str(entity.get("name"))
    actor = as_str(entity.get("actor_id")) or as_str(entity.get("ap_id"))
    host = urlsplit(actor).hostname if actor else None
    if name and host:
        return f"{name}@{host}"
    return name


def _published(item: Mapping[str, Any]) -> tuple[datetime | None, str | None]:
    raw = as_str(item.get("published_at")) or as_str(item.get("published"))
    return parse_date(raw), raw


def _engagement(fetched_at: datetime, score: Any, comments: Any) -> Snapshot | None:
    likes, replies = as_int(score), as_int(comments)
    if likes is None and replies is None:
        return None
    return Snapshot(fetched_at, likes=likes, comments=replies)


def _post_view(
    view: Mapping[str, Any], fetched_at: datetime, instance: str | None, source: str
) -> Post | None:
    post = _obj(view.get("post"))
    ap_id = as_str(post.get("ap_id"))
    if ap_id is None or post.get("deleted") is True or post.get("removed") is True:
        return None  # deleted or removed posts have no content left to assess
    counts = _obj(view.get("counts")) or post  # v4 keeps the counts in the post itself
    published, raw = _published(post)
    community = _obj(view.get("community"))
    extra: dict[str, Any] = {"kind": "post"}
    local_id = as_int(post.get("id"))
    if local_id is not None:
        extra["local_id"] = local_id
    if instance:
        extra["instance"] = instance
    link = as_str(post.get("url"))
    if link:
        extra["link"] = link
    if post.get("nsfw") is True:
        extra["nsfw"] = True
    for key in ("upvotes", "downvotes"):
        value = as_int(counts.get(key))
        if value is not None:
            extra[key] = value
    community_name = _qualified(community)
    return Post(
        source=source,
        native_id=ap_id,
        title=clean_text(as_str(post.get("name")) or ""),
        text=clean_text(as_str(post.get("body")) or ""),
        url=ap_id,
        author=_qualified(_obj(view.get("creator"))),
        published_at=published,
        raw_date=raw,
        site=urlsplit(ap_id).hostname,
        source_name=f"!{community_name}" if community_name else "Lemmy",
        engagement=_engagement(fetched_at, counts.get("score"), counts.get("comments")),
        extra=extra,
    )


def _comment_view(
    view: Mapping[str, Any], fetched_at: datetime, instance: str | None, source: str
) -> Post | None:
    comment = _obj(view.get("comment"))
    ap_id = as_str(comment.get("ap_id"))
    if ap_id is None or comment.get("deleted") is True or comment.get("removed") is True:
        return None
    counts = _obj(view.get("counts")) or comment
    published, raw = _published(comment)
    parent = _obj(view.get("post"))
    extra: dict[str, Any] = {"kind": "comment"}
    if as_str(parent.get("ap_id")):
        extra["post_ap_id"] = parent["ap_id"]
    if as_str(parent.get("name")):
        extra["post_title"] = parent["name"]
    if instance:
        extra["instance"] = instance
    community_name = _qualified(_obj(view.get("community")))
    return Post(
        source=source,
        native_id=ap_id,
        text=clean_text(as_str(comment.get("content")) or ""),
        url=ap_id,
        author=_qualified(_obj(view.get("creator"))),
        published_at=published,
        raw_date=raw,
        site=urlsplit(ap_id).hostname,
        source_name=f"!{community_name}" if community_name else "Lemmy",
        engagement=_engagement(fetched_at, counts.get("score"), counts.get("child_count")),
        extra=extra,
    )


def _error(data: Any, url: str | None) -> None:
    if isinstance(data, Mapping) and isinstance(data.get("error"), str):
        if data["error"] == "rate_limit_error":
            raise RateLimitedError(400, None, url=url)
        raise ParseError(f"Lemmy answered with an error: {data['error']}", url=url)


def parse_search(
    payload: bytes | str | Mapping[str, Any],
    *,
    fetched_at: datetime,
    instance: str | None = None,
    source: str = "lemmy",
    url: str | None = None,
) -> list[Post]:
    """A v3 or v4 search response → posts (and comments). Pure; raises ParseError.

    Shapes: v3 and v4 ``{posts: [PostView], comments: [CommentView], …}``; early v4
    ``{results: [{type_: "post"|"comment", …view}]}``.
    """
    data = load_json(payload, url=url, what="Lemmy search JSON")
    _error(data, url)
    if not isinstance(data, Mapping):
        raise ParseError("Lemmy search response is not an object", url=url)
    views: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(data.get("results"), list):
        for item in data["results"]:
            kind = as_str(_obj(item).get("type_"))
            if kind in ("post", "comment"):
                views.append((kind, _obj(item)))
    elif isinstance(data.get("posts"), list) or isinstance(data.get("comments"), list):
        views += [("post", _obj(v)) for v in data.get("posts") or [] if isinstance(v, Mapping)]
        views += [
            ("comment", _obj(v)) for v in data.get("comments") or [] if isinstance(v, Mapping)
        ]
    else:
        raise ParseError("Lemmy search response has no 'posts' or 'results' list", url=url)
    posts: list[Post] = []
    seen: set[str] = set()
    for kind, view in views:
        parse = _post_view if kind == "post" else _comment_view
        post = parse(view, fetched_at, instance, source)
        if post is not None and post.native_id not in seen:
            seen.add(post.native_id)
            posts.append(post)
    return posts


def parse_post_response(
    payload: bytes | str | Mapping[str, Any],
    *,
    fetched_at: datetime,
    instance: str | None = None,
    source: str = "lemmy",
    url: str | None = None,
) -> Post | None:
    """``GET /api/v3/post?id=`` (``{post_view: PostView}``) → the post, None if deleted."""
    data = load_json(payload, url=url, what="Lemmy post JSON")
    _error(data, url)
    view = _obj(data).get("post_view") if isinstance(data, Mapping) else None
    if not isinstance(view, Mapping):
        raise ParseError("Lemmy post response has no 'post_view'", url=url)
    return _post_view(view, fetched_at, instance, source)


class LemmyCollector(Collector):
    """Lemmy posts (and optionally comments) mentioning the brand, on the configured instances.

    Params: ``instances`` (required list of hosts), ``api`` (``auto`` | ``v3`` | ``v4``, default
    auto), ``comments`` (also search comments, default false), ``limit`` (1–50, default 50),
    ``max_pages`` (per term and poll, default 5), ``overlap`` (seconds, default 600),
    ``lookback`` (first poll, seconds, default 86400).
    """

    type: ClassVar[str] = "lemmy"
    per_brand: ClassVar[bool] = True
    param_keys: ClassVar[frozenset[str]] = frozenset(
        {"instances", "api", "comments", "limit", "max_pages", "overlap", "lookback"}
    )

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        super().validate_params(params, path, problems)
        instances = problems.string_list(params, "instances", path)
        if "instances" not in params:
            problems.add(
                f"{path}.instances", "missing required key", 'add instances = ["lemmy.world"]'
            )
        elif not instances:
            problems.add(f"{path}.instances", "no instances listed", 'add e.g. "lemmy.world"')
        for index, instance in enumerate(instances):
            if not _INSTANCE.match(instance):
                problems.add(
                    f"{path}.instances[{index}]",
                    f"not an instance host: {instance!r}",
                    "use the host name, e.g. lemmy.world",
                )
        api = problems.expect(params, "api", str, path)
        if api is not None and api not in _APIS:
            problems.add(f"{path}.api", f"unknown API version {api!r}", "use auto, v3 or v4")
        problems.expect(params, "comments", bool, path)
        check_int(params, "limit", path, problems, maximum=50)
        check_int(params, "max_pages", path, problems, maximum=50)
        check_int(params, "overlap", path, problems, minimum=0)
        check_int(params, "lookback", path, problems)

    @property
    def _instances(self) -> dict[str, str]:
        bases = (instance_url(str(i)) for i in self.params.get("instances") or [])
        return {urlsplit(base).netloc: base for base in bases}

    def _get(self, url: str, params: Mapping[str, Any]) -> FetchResponse:
        response = self.client.get(url, params=params, accept_statuses=frozenset({400}))
        if response.status == 400:
            data = load_json(response.content, url=response.url, what="Lemmy error JSON")
            _error(data, response.url)
            raise HttpStatusError(400, "Lemmy rejected the request", url=response.url)
        return response

    def _search(
        self,
        base: str,
        api: str,
        term: str,
        kind: str,
        stop_at: datetime,
        now: datetime,
        notes: list[str],
    ) -> tuple[list[Post], datetime | None]:
        """Page one term's newest results down to ``stop_at``; newest time seen."""
        limit = int(self.params.get("limit", 50))
        max_pages = int(self.params.get("max_pages", 5))
        posts: list[Post] = []
        newest: datetime | None = None
        page_cursor: str | None = None
        for page in range(1, max_pages + 1):
            if api == "v3":
                query: dict[str, Any] = {
                    "q": term,
                    "type_": "Comments" if kind == "comment" else "Posts",
                    "sort": "New",
                    "listing_type": "All",
                    "limit": limit,
                    "page": page,
                }
            else:
                query = {
                    "search_term": term,
                    "type_": "comments" if kind == "comment" else "posts",
                    "listing_type": "all",
                    "limit": limit,
                    # v4 has no "New" search sort; bound the results by age instead
                    "time_range_seconds": max(60, int((now - stop_at).total_seconds())),
                }
                if page_cursor:
                    query["page_cursor"] = page_cursor
            response = self._get(f"{base}/api/{api}/search", query)
            data = load_json(response.content, url=response.url, what="Lemmy search JSON")
            found = parse_search(
                data, fetched_at=now, instance=base, source=self.type, url=response.url
            )
            posts.extend(found)
            reached = False
            for post in found:
                if post.published_at is None:
                    continue
                newest = max(newest or post.published_at, post.published_at)
                reached = reached or post.published_at <= stop_at
            page_cursor = as_str(data.get("next_page")) if isinstance(data, Mapping) else None
            if not found or reached or (api == "v4" and not page_cursor):
                break
        else:
            notes.append(
                f"{base} {term!r}: more than {max_pages} pages of new {kind}s; older ones skipped"
            )
        return posts, newest

    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        """Search every brand term on every instance, newest first, down to the last poll."""
        if brand is None:
            raise ParseError("the lemmy source needs a brand to search for")
        now = self.clock()
        overlap = timedelta(seconds=int(self.params.get("overlap", 600)))
        lookback = timedelta(seconds=int(self.params.get("lookback", 86400)))
        cursors: dict[str, str] = dict(state.extra.get("cursors") or {})
        apis: dict[str, str] = dict(state.extra.get("api") or {})
        kinds = ["post", "comment"] if self.params.get("comments") else ["post"]
        posts: dict[str, Post] = {}
        notes: list[str] = []
        errors: list[SourceError] = []
        for base in self._instances.values():
            try:
                for term in brand.search_terms():
                    for kind in kinds:
                        key = f"{base} {kind} {term}"
                        mark = parse_date(cursors.get(key)) or now - lookback
                        found, newest = self._search_any(
                            base, apis, term, kind, mark - overlap, now, notes
                        )
                        for post in found:
                            posts.setdefault(post.native_id, post)
                        if newest is not None and newest > mark:
                            cursors[key] = isoformat(newest)
            except SourceError as exc:
                # One failing instance must not hide the others; its cursors stay where they were.
                errors.append(exc)
                notes.append(f"{base}: {exc}")
        if errors and len(errors) >= len(self._instances):
            raise errors[0]  # every instance failed: this source's error
        extra = dict(state.extra) | {"cursors": cursors, "api": apis}
        return Collected(list(posts.values()), state.evolve(extra=extra), notes=notes)

    def _search_any(
        self,
        base: str,
        apis: dict[str, str],
        term: str,
        kind: str,
        stop_at: datetime,
        now: datetime,
        notes: list[str],
    ) -> tuple[list[Post], datetime | None]:
        wanted = str(self.params.get("api", "auto"))
        api = wanted if wanted != "auto" else apis.get(base, "v3")
        try:
            return self._search(base, api, term, kind, stop_at, now, notes)
        except HttpStatusError as exc:
            if wanted == "auto" and api == "v3" and exc.status == 404:
                apis[base] = "v4"  # Lemmy 1.0 without the v3 API
                return self._search(base, "v4", term, kind, stop_at, now, notes)
            raise

    def refresh(self, native_ids: Sequence[str]) -> list[Post]:
        """Current score/comments of known posts from their home instance (v3 ``/post?id=``)."""
        now = self.clock()
        posts: list[Post] = []
        for ap_id in native_ids:
            match = _POST_AP_ID.match(ap_id)
            if not match:
                continue
            base = self._instances.get(match.group(1), f"https://{match.group(1)}")
            try:
                response = self._get(f"{base}/api/v3/post", {"id": match.group(2)})
            except HttpStatusError as exc:
                if exc.status == 404:
                    continue
                raise
            post = parse_post_response(
                response.content, fetched_at=now, instance=base, source=self.type, url=response.url
            )
            if post is not None:
                posts.append(post)
        return posts
