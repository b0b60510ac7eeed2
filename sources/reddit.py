"""Reddit: OAuth API with the user's own approved app, or the public RSS feeds as a fallback.

Anonymous JSON access was shut down in 2026 and new API apps need Reddit's approval, so the API
mode needs ``client_id_env`` / ``client_secret_env`` naming environment variables (or entries of
the secrets file) that hold an approved app's credentials. Without them the collector reads the
still-public RSS/Atom feeds: no scores or comment counts, heavily throttled. ``Collected.mode``
says which one ran ("oauth" or "rss") so ``groundswell status`` can show it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from monitor.config import Brand, Problems
from monitor.records import Post, Snapshot, isoformat
from monitor.secrets import Secret, get_secret
from monitor.store import SourceState
from sources.base import Collected, Collector
from sources.dates import parse_date
from sources.errors import (
    BlockedError,
    HttpStatusError,
    ParseError,
    RateLimitedError,
    SourceError,
)
from sources.http import FetchResponse
from sources.rss import parse_feed
from sources.social import (
    as_int,
    as_str,
    check_int,
    check_url,
    client_cache,
    epoch_to_datetime,
    load_json,
)
from sources.text import clean_text, html_to_text

__all__ = [
    "DEFAULT_API",
    "DEFAULT_TOKEN_URL",
    "DEFAULT_WEB",
    "RedditCollector",
    "parse_listing",
    "parse_rss",
    "search_query",
]

DEFAULT_API = "https://oauth.reddit.com"
DEFAULT_TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
DEFAULT_WEB = "https://www.reddit.com"
SITE = "reddit.com"
_REMOVED = frozenset({"[removed]", "[deleted]"})
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
_TIMES = ("hour", "day", "week", "month", "year", "all")
_MAX_QUERY = 512
# RSS entries end with "submitted by /u/name [link] [comments]": navigation, not content.
_RSS_FOOTER = re.compile(r"\s*submitted by\s+/u/\S+\s*(\[link\])?\s*(\[comments\])?\s*$")
_RATE_RESERVE = 2.0  # keep a couple of requests in hand for token refreshes and re-polls


def search_query(terms: Iterable[str]) -> str:
    """Reddit search syntax for "any of these terms": quoted phrases joined with OR (≤ 512 chars)."""
    parts: list[str] = []
    for term in terms:
        term = " ".join(term.replace('"', " ").split())
        if not term:
            continue
        part = f'"{term}"' if " " in term else term
        candidate = " OR ".join([*parts, part])
        if len(candidate) > _MAX_QUERY:
            break
        parts.append(part)
    return " OR ".join(parts)


def parse_listing(
    payload: bytes | str | Mapping[str, Any] | list[Any],
    *,
    fetched_at: datetime,
    source: str = "reddit",
    url: str | None = None,
    web_url: str = DEFAULT_WEB,
) -> list[Post]:
    """A Reddit ``Listing`` (posts ``t3`` and comments ``t1``) → posts. Pure; raises ParseError.

    Also accepts a list of listings, as a comments page returns.
    """
    data = load_json(payload, url=url, what="Reddit listing JSON")
    listings = data if isinstance(data, list) else [data]
    posts: list[Post] = []
    seen: set[str] = set()
    for listing in listings:
        if isinstance(listing, Mapping) and listing.get("error") is not None:
            message = as_str(listing.get("message")) or str(listing.get("error"))
            raise ParseError(f"Reddit answered with an error object: {message}", url=url)
        children = (
            listing.get("data", {}).get("children")
            if isinstance(listing, Mapping) and isinstance(listing.get("data"), Mapping)
            else None
        )
        if not isinstance(children, list):
            raise ParseError("not a Reddit listing (no data.children list)", url=url)
        for child in children:
            if not isinstance(child, Mapping) or not isinstance(child.get("data"), Mapping):
                continue
            kind = child.get("kind")
            post = (
                _parse_link(child["data"], fetched_at, source, web_url)
                if kind == "t3"
                else _parse_comment(child["data"], fetched_at, source, web_url)
                if kind == "t1"
                else None
            )
            if post is not None and post.native_id not in seen:
                seen.add(post.native_id)
                posts.append(post)
    return posts


def listing_after(payload: Mapping[str, Any] | Any) -> str | None:
    """The ``after`` fullname of a listing page (None at the end)."""
    if isinstance(payload, Mapping) and isinstance(payload.get("data"), Mapping):
        return as_str(payload["data"].get("after"))
    return None


def _fullname(data: Mapping[str, Any], prefix: str) -> str | None:
    name = as_str(data.get("name"))
    if name and name.startswith(prefix):
        return name
    ident = as_str(data.get("id"))
    return f"{prefix}{ident}" if ident else None


def _author(data: Mapping[str, Any]) -> str | None:
    author = as_str(data.get("author"))
    return None if author in (None, "[deleted]") else author


def _permalink(data: Mapping[str, Any], web_url: str) -> str | None:
    link = as_str(data.get("permalink"))
    if not link:
        return None
    link = link.split("?", 1)[0]  # search results add ?ref=search_posts
    return link if link.startswith("http") else f"{web_url.rstrip('/')}{link}"


def _common(data: Mapping[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    subreddit = as_str(data.get("subreddit"))
    if subreddit:
        extra["subreddit"] = subreddit
    if data.get("over_18") is True:
        extra["over_18"] = True
    return extra


def _parse_link(
    data: Mapping[str, Any], fetched_at: datetime, source: str, web_url: str
) -> Post | None:
    native_id = _fullname(data, "t3_")
    if native_id is None:
        return None
    extra = _common(data) | {"kind": "post"}
    selftext = as_str(data.get("selftext")) or ""
    if selftext.strip() in _REMOVED:
        extra["removed"] = selftext.strip()
        selftext = ""
    link = as_str(data.get("url"))
    permalink = _permalink(data, web_url)
    if link and data.get("is_self") is not True and (not permalink or link != permalink):
        extra["link"] = link
    ratio = data.get("upvote_ratio")
    if isinstance(ratio, int | float) and not isinstance(ratio, bool):
        extra["upvote_ratio"] = float(ratio)
    score = as_int(data.get("score"))
    comments = as_int(data.get("num_comments"))
    subreddit = extra.get("subreddit")
    created = data.get("created_utc")
    return Post(
        source=source,
        native_id=native_id,
        title=html_to_text(as_str(data.get("title"))),
        text=clean_text(selftext),
        url=permalink,
        author=_author(data),
        published_at=epoch_to_datetime(created),
        raw_date=str(created) if created is not None else None,
        site=SITE,
        source_name=f"r/{subreddit}" if subreddit else "Reddit",
        engagement=Snapshot(fetched_at, likes=score, comments=comments)
        if score is not None or comments is not None
        else None,
        extra=extra,
    )


def _parse_comment(
    data: Mapping[str, Any], fetched_at: datetime, source: str, web_url: str
) -> Post | None:
    native_id = _fullname(data, "t1_")
    if native_id is None:
        return None
    extra = _common(data) | {"kind": "comment"}
    body = as_str(data.get("body")) or ""
    if body.strip() in _REMOVED:
        extra["removed"] = body.strip()
        body = ""
    for key in ("link_id", "parent_id", "link_title"):
        value = as_str(data.get(key))
        if value:
            extra[key] = value
    subreddit = extra.get("subreddit")
    url = _permalink(data, web_url)
    link_id = extra.get("link_id", "")
    if url is None and subreddit and link_id.startswith("t3_"):
        url = f"{web_url.rstrip('/')}/r/{subreddit}/comments/{link_id[3:]}/_/{native_id[3:]}/"
    score = as_int(data.get("score"))
    created = data.get("created_utc")
    return Post(
        source=source,
        native_id=native_id,
        title="",
        text=clean_text(body),
        url=url,
        author=_author(data),
        published_at=epoch_to_datetime(created),
        raw_date=str(created) if created is not None else None,
        site=SITE,
        source_name=f"r/{subreddit}" if subreddit else "Reddit",
        engagement=Snapshot(fetched_at, likes=score) if score is not None else None,
        extra=extra,
    )


def parse_rss(
    content: bytes,
    *,
    source: str = "reddit",
    url: str | None = None,
    content_type: str | None = None,
) -> list[Post]:
    """A Reddit RSS/Atom feed → posts with the same ids as the API (``t3_…``), no metrics."""
    feed = parse_feed(content, source=source, url=url, content_type=content_type)
    posts = []
    for post in feed.posts:
        author = post.author
        if author and author.startswith("/u/"):
            author = author[3:]
        match = re.search(r"/r/([A-Za-z0-9_]+)/", post.url or "")
        posts.append(
            replace(
                post,
                author=None if author in (None, "[deleted]") else author,
                text=_RSS_FOOTER.sub("", post.text),
                site=SITE,
                source_name=f"r/{match.group(1)}" if match else "Reddit",
                engagement=None,
                extra={"kind": "post" if post.native_id.startswith("t3_") else "entry"},
            )
        )
    return posts


@dataclass
class _Token:
    value: str
    expires_at: datetime


class RedditCollector(Collector):
    """Reddit search (per brand) and optional subreddit listings, via OAuth or RSS.

    Params: ``subreddits`` (list; search is restricted to them when given), ``search`` (default
    true), ``listing`` (also read the subreddits' *new* listing, default false), ``comments``
    (also read the subreddits' newest comments, OAuth only, default false), ``client_id_env`` and
    ``client_secret_env`` (names of the secrets, not the secrets), ``user_agent`` (Reddit wants
    ``<platform>:<app id>:<version> (by /u/<user>)``), ``time`` (search window, default ``week``),
    ``limit`` (1–100), ``max_pages`` (default 10; listings stop at ~1000 items anyway),
    ``overlap`` (seconds, default 600), ``api_url``, ``token_url``, ``web_url`` (tests, mirrors).
    """

    type: ClassVar[str] = "reddit"
    per_brand: ClassVar[bool] = True
    param_keys: ClassVar[frozenset[str]] = frozenset(
        {
            "subreddits",
            "search",
            "listing",
            "comments",
            "client_id_env",
            "client_secret_env",
            "user_agent",
            "time",
            "limit",
            "max_pages",
            "overlap",
            "api_url",
            "token_url",
            "web_url",
        }
    )

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        super().validate_params(params, path, problems)
        subs = problems.string_list(params, "subreddits", path)
        for index, sub in enumerate(subs):
            if not _SUBREDDIT.match(sub.removeprefix("r/")):
                problems.add(
                    f"{path}.subreddits[{index}]",
                    f"not a subreddit name: {sub!r}",
                    "use the bare name, e.g. 'gadgets'",
                )
        for key in ("search", "listing", "comments"):
            problems.expect(params, key, bool, path)
        if params.get("listing") is True and not subs:
            problems.add(f"{path}.listing", "listing needs subreddits", "add subreddits = [...]")
        id_env = problems.expect(params, "client_id_env", str, path)
        secret_env = problems.expect(params, "client_secret_env", str, path)
        if bool(id_env) != bool(secret_env):
            missing = "client_secret_env" if id_env else "client_id_env"
            example = "REDDIT_CLIENT_SECRET" if id_env else "REDDIT_CLIENT_ID"
            problems.add(
                f"{path}.{missing}",
                "OAuth needs both client_id_env and client_secret_env",
                f'add {missing} = "{example}" (the name of an environment variable)',
            )
        problems.expect(params, "user_agent", str, path)
        window = problems.expect(params, "time", str, path)
        if window is not None and window not in _TIMES:
            problems.add(f"{path}.time", f"unknown time window {window!r}", f"use one of {_TIMES}")
        check_int(params, "limit", path, problems, maximum=100)
        check_int(params, "max_pages", path, problems, maximum=50)
        check_int(params, "overlap", path, problems, minimum=0)
        for key in ("api_url", "token_url", "web_url"):
            check_url(params, key, path, problems)

    # --- configuration -----------------------------------------------------------------------

    @property
    def _subreddits(self) -> list[str]:
        return [str(s).removeprefix("r/") for s in self.params.get("subreddits") or []]

    def _credentials(self) -> tuple[Secret, Secret] | None:
        id_env = self.params.get("client_id_env")
        secret_env = self.params.get("client_secret_env")
        if not id_env or not secret_env:
            return None
        client_id, secret = get_secret(str(id_env)), get_secret(str(secret_env))
        if client_id is None or secret is None:
            return None
        return client_id, secret

    def _headers(self) -> dict[str, str]:
        agent = self.params.get("user_agent")
        return {"User-Agent": str(agent)} if agent else {}

    @property
    def mode(self) -> str:
        """``"oauth"`` when app credentials resolve, else ``"rss"``."""
        return "oauth" if self._credentials() else "rss"

    # --- OAuth --------------------------------------------------------------------------------

    def _token(self, credentials: tuple[Secret, Secret], *, renew: bool = False) -> str:
        client_id, secret = credentials
        token_url = str(self.params.get("token_url", DEFAULT_TOKEN_URL))
        cache = client_cache(self.client)
        key = f"reddit:{token_url}:{client_id}"
        with cache.lock:  # one token request even when several brands poll at once
            cached: _Token | None = cache.sessions.get(key)
            now = self.clock()
            if cached is not None and not renew and cached.expires_at > now:
                return cached.value
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            try:
                response = self.client.request(
                    "POST",
                    token_url,
                    data={"grant_type": "client_credentials"},
                    headers=self._headers() | {"Authorization": f"Basic {basic}"},
                )
            except HttpStatusError as exc:
                if exc.status in (400, 401, 403) and not isinstance(
                    exc, RateLimitedError | BlockedError
                ):
                    raise HttpStatusError(
                        exc.status,
                        "Reddit rejected the app credentials from "
                        f"{self.params['client_id_env']}/{self.params['client_secret_env']} "
                        "(is the app approved for API access?)",
                        url=token_url,
                    ) from None
                raise
            data = load_json(response.content, url=token_url, what="Reddit token JSON")
            token = as_str(data.get("access_token")) if isinstance(data, Mapping) else None
            if token is None:
                error = data.get("error") if isinstance(data, Mapping) else None
                raise HttpStatusError(
                    401,
                    f"Reddit issued no access token ({error or 'no access_token'})",
                    url=token_url,
                )
            lifetime = as_int(data.get("expires_in")) or 3600
            expires = now + timedelta(seconds=max(60, lifetime - 60))
            cache.sessions[key] = _Token(Secret(token), expires)
            return token

    def _api_get(self, path: str, params: Mapping[str, Any]) -> FetchResponse:
        credentials = self._credentials()
        if credentials is None:
            raise SourceError("Reddit API credentials are not configured")
        api = str(self.params.get("api_url", DEFAULT_API)).rstrip("/")
        budget = client_cache(self.client).budget(f"reddit:{credentials[0]}")
        # X-Ratelimit-* said the 100-per-minute budget is spent: wait for the reset, do not ask.
        if budget.exhausted(self.clock(), _RATE_RESERVE):
            raise RateLimitedError(
                429,
                max(0.0, (budget.reset_at - self.clock()).total_seconds())
                if budget.reset_at
                else None,
                url=f"{api}{path}",
            )
        query = dict(params) | {"raw_json": 1}
        for attempt in (1, 2):
            token = self._token(credentials, renew=attempt == 2)
            try:
                response = self.client.get(
                    f"{api}{path}",
                    params=query,
                    headers=self._headers() | {"Authorization": f"bearer {token}"},
                    accept_statuses=frozenset({401}),
                )
            except BlockedError as exc:
                raise BlockedError(
                    exc.status,
                    "Reddit blocked the request ('whoa there' page): check user_agent and that "
                    "the app is approved",
                    url=exc.url,
                ) from None
            except RateLimitedError as exc:
                budget.spent_until(self.clock() + timedelta(seconds=exc.retry_after or 60))
                raise
            budget.update(response.headers, self.clock())
            if response.status != 401:
                return response
        raise HttpStatusError(401, "Reddit refused a freshly issued access token", url=api + path)

    def _read_listing(
        self, key: str, path: str, params: Mapping[str, Any], state: SourceState, notes: list[str]
    ) -> tuple[list[Post], str | None]:
        """Page a newest-first listing down to the stored watermark (minus the overlap)."""
        now = self.clock()
        marks = state.extra.get("cursors") or {}
        mark = parse_date(marks.get(key)) if isinstance(marks.get(key), str) else None
        overlap = timedelta(seconds=int(self.params.get("overlap", 600)))
        stop_at = mark - overlap if mark else None
        max_pages = int(self.params.get("max_pages", 10))
        limit = int(self.params.get("limit", 100))
        posts: list[Post] = []
        after: str | None = None
        seen_newest: datetime | None = None
        web = str(self.params.get("web_url", DEFAULT_WEB))
        for page in range(max_pages):
            query = dict(params) | {"limit": limit}
            if after:
                query["after"] = after
            try:
                response = self._api_get(path, query)
            except RateLimitedError:
                if not page:
                    raise
                notes.append(f"{key}: Reddit rate budget used up; stopped after {page} pages")
                # Not read down to the watermark: keep it, so the next poll re-reads from there.
                return posts, isoformat(mark) if mark else None
            data = load_json(response.content, url=response.url, what="Reddit listing JSON")
            found = parse_listing(
                data, fetched_at=now, source=self.type, url=response.url, web_url=web
            )
            posts.extend(found)
            reached = False
            for post in found:
                if post.published_at is None:
                    continue
                seen_newest = max(seen_newest or post.published_at, post.published_at)
                if stop_at is not None and post.published_at <= stop_at:
                    reached = True
            after = listing_after(data)
            if reached or not after or not found:
                break
        else:
            if stop_at is not None:
                notes.append(
                    f"{key}: more than {max_pages} pages since the last poll; older items skipped"
                )
        newest = max(filter(None, (mark, seen_newest)), default=None)
        return posts, isoformat(newest) if newest else None

    # --- collect ------------------------------------------------------------------------------

    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        """Search for the brand (and read listings if configured) via OAuth, else via RSS."""
        if self._credentials() is None:
            return self._collect_rss(state, brand)
        notes: list[str] = []
        subs = self._subreddits
        posts: dict[str, Post] = {}
        cursors = dict(state.extra.get("cursors") or {})
        jobs: list[tuple[str, str, dict[str, Any]]] = []
        if self.params.get("search", True) and brand is not None:
            query = search_query(brand.search_terms())
            if subs:
                jobs.append(
                    (
                        "search",
                        f"/r/{'+'.join(subs)}/search",
                        {"q": query, "restrict_sr": 1, "sort": "new", "t": self._time()},
                    )
                )
            else:
                jobs.append(
                    (
                        "search",
                        "/search",
                        {"q": query, "sort": "new", "t": self._time(), "type": "link"},
                    )
                )
        if subs and self.params.get("listing"):
            jobs.append(("new", f"/r/{'+'.join(subs)}/new", {}))
        if subs and self.params.get("comments"):
            jobs.append(("comments", f"/r/{'+'.join(subs)}/comments", {}))
        for key, path, params in jobs:
            found, newest = self._read_listing(key, path, params, state, notes)
            for post in found:
                posts.setdefault(post.native_id, post)
            if newest:
                cursors[key] = newest
        extra = dict(state.extra) | {"cursors": cursors}
        new_state = state.evolve(cursor=cursors.get("search") or state.cursor, extra=extra)
        return Collected(list(posts.values()), new_state, mode="oauth", notes=notes)

    def _time(self) -> str:
        return str(self.params.get("time", "week"))

    def _collect_rss(self, state: SourceState, brand: Brand | None) -> Collected:
        web = str(self.params.get("web_url", DEFAULT_WEB)).rstrip("/")
        subs = self._subreddits
        notes: list[str] = []
        if self.params.get("client_id_env"):
            notes.append(
                f"{self.params['client_id_env']}/{self.params.get('client_secret_env')} not set: "
                "reading the RSS feeds (no scores, heavily throttled)"
            )
        feeds: list[tuple[str, dict[str, Any]]] = []
        if self.params.get("search", True) and brand is not None:
            query = search_query(brand.search_terms())
            if subs:
                feeds.append(
                    (
                        f"{web}/r/{'+'.join(subs)}/search.rss",
                        {"q": query, "restrict_sr": "on", "sort": "new"},
                    )
                )
            else:
                feeds.append((f"{web}/search.rss", {"q": query, "sort": "new"}))
        if subs and self.params.get("listing"):
            feeds.append((f"{web}/r/{'+'.join(subs)}/new/.rss", {}))
        posts: dict[str, Post] = {}
        validators = dict(state.extra.get("validators") or {})
        for url, params in feeds:
            known = validators.get(url) or {}
            try:
                response = self.client.get(
                    url,
                    params=params,
                    headers=self._headers(),
                    etag=known.get("etag"),
                    last_modified=known.get("last_modified"),
                )
            except RateLimitedError as exc:
                raise RateLimitedError(exc.status, exc.retry_after, url=url) from None
            except BlockedError:
                raise BlockedError(
                    403,
                    "Reddit blocked the RSS request ('whoa there' page); configure an approved "
                    "app (client_id_env/client_secret_env) or poll less often",
                    url=url,
                ) from None
            if response.not_modified:
                continue
            for post in parse_rss(
                response.content,
                source=self.type,
                url=response.url,
                content_type=response.headers.get("content-type"),
            ):
                posts.setdefault(post.native_id, post)
            validators[url] = {
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
            }
        new_state = state.evolve(extra=dict(state.extra) | {"validators": validators})
        return Collected(list(posts.values()), new_state, mode="rss", notes=notes)

    # --- re-polling ---------------------------------------------------------------------------

    def refresh(self, native_ids: Sequence[str]) -> list[Post]:
        """Current score/comments of known posts via ``/api/info`` (100 ids a call; OAuth only)."""
        if self._credentials() is None:
            return []
        names = [n for n in native_ids if n.startswith(("t3_", "t1_"))]
        web = str(self.params.get("web_url", DEFAULT_WEB))
        posts: list[Post] = []
        for start in range(0, len(names), 100):
            chunk = names[start : start + 100]
            response = self._api_get("/api/info", {"id": ",".join(chunk)})
            posts.extend(
                parse_listing(
                    response.content,
                    fetched_at=self.clock(),
                    source=self.type,
                    url=response.url,
                    web_url=web,
                )
            )
        return posts
