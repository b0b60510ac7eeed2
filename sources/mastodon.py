"""Mastodon: hashtag timelines on configured servers (keyless) and, with a token, status search.

Status ids are local to each server, so cursors are kept per (server, feed). Polling walks forward
with ``min_id`` (the page immediately newer than the last one seen), so a backlog is read oldest
page first over as many polls as it takes and nothing is skipped. A post's identity is its
federated ``uri``, the same on every server; boosts are unwrapped to the original status.
Servers allow 300 requests per 5 minutes; ``X-RateLimit-*`` headers are honoured per server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

from monitor.config import Brand, Problems
from monitor.records import Post, Snapshot
from monitor.secrets import get_secret
from monitor.store import SourceState
from sources.base import Collected, Collector
from sources.dates import parse_date
from sources.errors import HttpStatusError, ParseError, SourceError
from sources.http import FetchResponse
from sources.social import as_int, as_str, check_int, client_cache, load_json
from sources.text import html_to_text

__all__ = [
    "MastodonCollector",
    "hashtags_for",
    "link_header",
    "parse_search",
    "parse_status",
    "parse_statuses",
    "server_url",
]

_TAG_CHARS = re.compile(r"[^\w]", re.UNICODE)
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([a-z]+)"?')
_STATUS_URI = re.compile(r"^https://([^/]+)/users/[^/]+/statuses/(\d+)$")
_SERVER = re.compile(r"^(https?://)?[A-Za-z0-9.-]+(:\d+)?/?$")
_RATE_RESERVE = 3.0


def server_url(server: str) -> str:
    """``mastodon.social`` or ``https://mastodon.social/`` → ``https://mastodon.social``."""
    server = server.strip().rstrip("/")
    return server if server.startswith(("http://", "https://")) else f"https://{server}"


def hashtags_for(terms: Sequence[str]) -> list[str]:
    """Hashtags a brand is likely to be tagged with: each term without spaces or punctuation."""
    tags: dict[str, str] = {}
    for term in terms:
        tag = _TAG_CHARS.sub("", term.lstrip("#"))
        if tag:
            tags.setdefault(tag.casefold(), tag)
    return list(tags.values())


def link_header(value: str | None) -> dict[str, str]:
    """``Link`` header → ``{rel: url}`` (Mastodon sends ``next`` and ``prev``)."""
    return {rel: url for url, rel in _LINK.findall(value or "")}


def _id_key(value: str) -> tuple[int, str]:
    # Ids are strings; on Mastodon they are snowflake numbers, so longer means newer.
    return (len(value), value)


def parse_status(
    status: Any, *, fetched_at: datetime, server: str | None = None, source: str = "mastodon"
) -> Post | None:
    """One Status entity → a post (boosts unwrapped); None when it has no usable identity."""
    if not isinstance(status, Mapping):
        return None
    boosted_by = None
    if isinstance(status.get("reblog"), Mapping):
        booster = status.get("account")
        boosted_by = as_str(booster.get("acct")) if isinstance(booster, Mapping) else None
        status = status["reblog"]
    uri = as_str(status.get("uri"))
    if uri is None:
        return None
    host = urlsplit(server).hostname if server else None
    account = status.get("account") if isinstance(status.get("account"), Mapping) else {}
    acct = as_str(account.get("acct"))
    if acct and "@" not in acct and host:
        acct = f"{acct}@{host}"  # local accounts come without their domain
    content = html_to_text(as_str(status.get("content")))
    spoiler = html_to_text(as_str(status.get("spoiler_text")))
    text = f"{spoiler}\n\n{content}" if spoiler and content else spoiler or content
    url = as_str(status.get("url")) or uri
    raw_date = as_str(status.get("created_at"))
    language = as_str(status.get("language"))
    tags = [
        t["name"]
        for t in status.get("tags") or []
        if isinstance(t, Mapping) and isinstance(t.get("name"), str)
    ]
    extra: dict[str, Any] = {"tags": tags}
    for key in ("id", "in_reply_to_id", "edited_at"):
        value = as_str(status.get(key))
        if value:
            extra["local_id" if key == "id" else key] = value
    if server:
        extra["server"] = server
    if boosted_by:
        extra["boosted_by"] = boosted_by
    if status.get("sensitive") is True:
        extra["sensitive"] = True
    quotes = as_int(status.get("quotes_count"))
    if quotes is not None:
        extra["quotes"] = quotes
    likes = as_int(status.get("favourites_count"))
    shares = as_int(status.get("reblogs_count"))
    replies = as_int(status.get("replies_count"))
    return Post(
        source=source,
        native_id=uri,
        text=text,
        url=url,
        author=acct,
        author_followers=as_int(account.get("followers_count")),
        published_at=parse_date(raw_date),
        raw_date=raw_date,
        lang=language.lower() if language else None,
        site=urlsplit(url).hostname,
        source_name=host or urlsplit(uri).hostname,
        engagement=Snapshot(fetched_at, likes=likes, shares=shares, comments=replies)
        if likes is not None or shares is not None or replies is not None
        else None,
        extra=extra,
    )


def _statuses(
    items: list[Any], fetched_at: datetime, server: str | None, source: str
) -> list[Post]:
    posts: list[Post] = []
    seen: set[str] = set()
    for item in items:
        post = parse_status(item, fetched_at=fetched_at, server=server, source=source)
        if post is not None and post.native_id not in seen:
            seen.add(post.native_id)
            posts.append(post)
    return posts


def _error_object(data: Any, url: str | None) -> None:
    if isinstance(data, Mapping) and isinstance(data.get("error"), str):
        raise ParseError(f"Mastodon answered with an error: {data['error']}", url=url)


def parse_statuses(
    payload: bytes | str | list[Any] | Mapping[str, Any],
    *,
    fetched_at: datetime,
    server: str | None = None,
    source: str = "mastodon",
    url: str | None = None,
) -> list[Post]:
    """A timeline (array of statuses) or one status → posts. Pure; raises ParseError."""
    data = load_json(payload, url=url, what="Mastodon JSON")
    _error_object(data, url)
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise ParseError("Mastodon timeline is not a JSON array", url=url)
    return _statuses(data, fetched_at, server, source)


def parse_search(
    payload: bytes | str | Mapping[str, Any],
    *,
    fetched_at: datetime,
    server: str | None = None,
    source: str = "mastodon",
    url: str | None = None,
) -> list[Post]:
    """A ``/api/v2/search`` result → the posts in its ``statuses``. Pure; raises ParseError."""
    data = load_json(payload, url=url, what="Mastodon search JSON")
    _error_object(data, url)
    statuses = data.get("statuses") if isinstance(data, Mapping) else None
    if not isinstance(statuses, list):
        raise ParseError("Mastodon search result has no 'statuses' list", url=url)
    return _statuses(statuses, fetched_at, server, source)


def _raw_ids(data: Any) -> list[str]:
    items = data if isinstance(data, list) else (data or {}).get("statuses") or []
    return [i for i in (as_str(s.get("id")) for s in items if isinstance(s, Mapping)) if i]


class MastodonCollector(Collector):
    """Hashtag timelines (and token-backed status search) on the configured servers.

    Params: ``servers`` (required list of hosts), ``hashtags`` (default: the brand's terms
    without spaces, e.g. "Acme Air" → ``acmeair``), ``token_env`` (env var holding a user access
    token; enables ``/api/v2/search`` and authenticated timelines), ``search`` (default true when a
    token is configured), ``local`` (local posts only, default false), ``limit`` (1–40, default
    40), ``max_pages`` (per feed and poll, default 5).
    """

    type: ClassVar[str] = "mastodon"
    per_brand: ClassVar[bool] = True
    param_keys: ClassVar[frozenset[str]] = frozenset(
        {"servers", "hashtags", "token_env", "search", "local", "limit", "max_pages"}
    )

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        super().validate_params(params, path, problems)
        servers = problems.string_list(params, "servers", path)
        if "servers" not in params:
            problems.add(
                f"{path}.servers", "missing required key", 'add servers = ["mastodon.social"]'
            )
        elif not servers:
            problems.add(f"{path}.servers", "no servers listed", 'add e.g. "mastodon.social"')
        for index, server in enumerate(servers):
            if not _SERVER.match(server):
                problems.add(
                    f"{path}.servers[{index}]",
                    f"not a server host: {server!r}",
                    "use the host name, e.g. mastodon.social",
                )
        for index, tag in enumerate(problems.string_list(params, "hashtags", path)):
            if not hashtags_for([tag]):
                problems.add(f"{path}.hashtags[{index}]", f"empty hashtag {tag!r}", "drop it")
        problems.expect(params, "token_env", str, path)
        problems.expect(params, "search", bool, path)
        problems.expect(params, "local", bool, path)
        check_int(params, "limit", path, problems, maximum=40)
        check_int(params, "max_pages", path, problems, maximum=50)

    @property
    def _servers(self) -> dict[str, str]:
        """Configured servers by host[:port] → base URL."""
        bases = (server_url(str(s)) for s in self.params.get("servers") or [])
        return {urlsplit(base).netloc: base for base in bases}

    def _token(self) -> str | None:
        name = self.params.get("token_env")
        return get_secret(str(name)) if name else None

    def _get(self, base: str, path: str, params: Mapping[str, Any]) -> FetchResponse | None:
        """GET with the server's rate budget; None when the budget is used up."""
        budget = client_cache(self.client).budget(f"mastodon:{base}")
        if budget.exhausted(self.clock(), _RATE_RESERVE):
            return None
        token = self._token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.get(f"{base}{path}", params=params, headers=headers)
        budget.update(response.headers, self.clock())
        return response

    def _walk(
        self,
        base: str,
        key: str,
        path: str,
        params: dict[str, Any],
        cursors: dict[str, str],
        notes: list[str],
        search: bool,
    ) -> list[Post]:
        """Read one feed forward from its cursor (``min_id``), page by page."""
        now = self.clock()
        limit = int(self.params.get("limit", 40))
        max_pages = int(self.params.get("max_pages", 5))
        cursor = cursors.get(key)
        first_poll = cursor is None
        posts: list[Post] = []
        for _page in range(max_pages):
            query = dict(params) | {"limit": limit}
            if cursor:
                query["min_id"] = cursor
            response = self._get(base, path, query)
            if response is None:
                notes.append(
                    f"{key}: {client_cache(self.client).budget(f'mastodon:{base}').describe()}"
                )
                break
            data = load_json(response.content, url=response.url, what="Mastodon JSON")
            parse = parse_search if search else parse_statuses
            posts.extend(
                parse(data, fetched_at=now, server=base, source=self.type, url=response.url)
            )
            ids = _raw_ids(data)
            if not ids:
                break
            # Link rel="prev" carries the min_id for the next newer page; the ids agree with it.
            prev = link_header(response.headers.get("link")).get("prev")
            newer = parse_qs(urlsplit(prev).query).get("min_id", []) if prev else []
            cursor = max([*ids, *newer], key=_id_key)
            cursors[key] = cursor
            if first_poll or len(ids) < limit:
                break  # the first poll starts from the newest page; or the feed is caught up
        else:
            notes.append(f"{key}: more than {max_pages} pages of new posts; continuing next poll")
        return posts

    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        """Read the brand's hashtags (and search, with a token) on every configured server."""
        if brand is None:
            raise ParseError("the mastodon source needs a brand")
        token = self._token()
        notes: list[str] = []
        if self.params.get("token_env") and token is None:
            notes.append(f"{self.params['token_env']} is not set: hashtag timelines only")
        tags = list(self.params.get("hashtags") or []) or hashtags_for(brand.search_terms())
        tags = hashtags_for(tags)
        do_search = token is not None and self.params.get("search", True)
        cursors: dict[str, str] = dict(state.extra.get("min_id") or {})
        posts: dict[str, Post] = {}
        errors: list[SourceError] = []
        feeds = 0
        for base in self._servers.values():
            jobs: list[tuple[str, str, dict[str, Any], bool]] = [
                (
                    f"{base} #{tag}",
                    f"/api/v1/timelines/tag/{quote(tag, safe='')}",
                    {"local": "true"} if self.params.get("local") else {},
                    False,
                )
                for tag in tags
            ]
            if do_search:
                jobs += [
                    (f"{base} ?{term}", "/api/v2/search", {"q": term, "type": "statuses"}, True)
                    for term in brand.search_terms()
                ]
            for key, path, params, search in jobs:
                feeds += 1
                try:
                    found = self._walk(base, key, path, params, cursors, notes, search)
                except HttpStatusError as exc:
                    if exc.status == 404 and not search:
                        continue  # a tag nobody has used yet
                    if exc.status == 401:
                        exc = HttpStatusError(
                            401,
                            f"{base} requires an account for this feed (set token_env)",
                            url=exc.url,
                        )
                    errors.append(exc)
                    notes.append(f"{key}: {exc}")
                    continue
                except SourceError as exc:
                    errors.append(exc)
                    notes.append(f"{key}: {exc}")
                    continue
                for post in found:
                    posts.setdefault(post.native_id, post)
        if errors and len(errors) == feeds:
            raise errors[0]  # nothing worked: report it as this source's error
        extra = dict(state.extra) | {"min_id": cursors}
        mode = "hashtags+search" if do_search else "hashtags"  # shown by `groundswell status`
        return Collected(list(posts.values()), state.evolve(extra=extra), mode=mode, notes=notes)

    def refresh(self, native_ids: Sequence[str]) -> list[Post]:
        """Current counts of known statuses from their home server (``/api/v1/statuses/<id>``).

        Only ids in Mastodon's ``https://host/users/<name>/statuses/<id>`` form can be re-read;
        the home server's counts are the most complete view of a post.
        """
        now = self.clock()
        posts: list[Post] = []
        for uri in native_ids:
            match = _STATUS_URI.match(uri)
            if not match:
                continue
            base = self._servers.get(match.group(1), f"https://{match.group(1)}")
            try:
                response = self._get(base, f"/api/v1/statuses/{match.group(2)}", {})
            except HttpStatusError as exc:
                if exc.status in (404, 410):
                    continue  # deleted
                raise
            if response is None:
                continue
            posts.extend(
                parse_statuses(
                    response.content,
                    fetched_at=now,
                    server=base,
                    source=self.type,
                    url=response.url,
                )
            )
        return posts
