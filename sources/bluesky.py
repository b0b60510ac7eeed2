"""Bluesky: post search through the AppView with an app-password session.

Anonymous search was switched off in 2025, so the collector logs in with a handle and an *app
password* named by env vars. ``createSession`` is limited to 30 per 5 minutes and 300 a day per
account, so the session is cached next to the HTTP client (and, with ``session_file``, on disk for
one-shot ``groundswell poll`` runs from cron) and renewed with ``refreshSession``; it never logs in
per poll. Search pages newest first from the cursor (``since``), with gaps filled later
(``until``), like Hacker News.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from monitor.config import Brand, Problems
from monitor.records import Post, Snapshot, isoformat
from monitor.secrets import Secret, get_secret
from monitor.store import SourceState
from sources.base import Collected, Collector
from sources.dates import parse_date
from sources.errors import HttpStatusError, ParseError, RateLimitedError, SourceError
from sources.http import FetchResponse
from sources.social import (
    RangeResult,
    as_int,
    as_str,
    check_int,
    check_url,
    client_cache,
    collect_windows,
    epoch_to_datetime,
    load_json,
)

__all__ = [
    "DEFAULT_SERVICE",
    "BlueskyCollector",
    "parse_feed_items",
    "parse_post_view",
    "parse_posts",
    "parse_profiles",
    "web_url",
]

DEFAULT_SERVICE = "https://bsky.social"
SITE = "bsky.app"
_GETPOSTS_MAX = 25
_CLOCK_SKEW = timedelta(minutes=5)
_FOLLOWERS_TTL = timedelta(hours=6)


def web_url(uri: str, handle: str | None) -> str | None:
    """``at://did/app.bsky.feed.post/rkey`` → ``https://bsky.app/profile/<handle>/post/<rkey>``."""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        return None
    who = handle if handle and handle != "handle.invalid" else parts[0]
    return f"https://{SITE}/profile/{who}/post/{parts[2]}"


def parse_post_view(view: Any, *, fetched_at: datetime, source: str = "bluesky") -> Post | None:
    """One ``app.bsky.feed.defs#postView`` → a post; None without a usable ``uri``."""
    if not isinstance(view, Mapping):
        return None
    uri = as_str(view.get("uri"))
    if uri is None or not uri.startswith("at://"):
        return None
    author = _obj(view.get("author"))
    record = _obj(view.get("record"))
    handle = as_str(author.get("handle"))
    raw_created = as_str(record.get("createdAt"))
    created = parse_date(raw_created)
    indexed = parse_date(as_str(view.get("indexedAt")))
    # createdAt is whatever the client said; a post "from the future" gets the server's time.
    published = created
    if created is None or (indexed is not None and created > indexed + _CLOCK_SKEW):
        published = indexed
    langs = [x for x in record.get("langs") or [] if isinstance(x, str) and x]
    extra: dict[str, Any] = {"cid": as_str(view.get("cid"))}
    if author.get("did"):
        extra["did"] = author.get("did")
    if indexed is not None:
        extra["indexed_at"] = isoformat(indexed)
    parent = _obj(_obj(record.get("reply")).get("parent"))
    if as_str(parent.get("uri")):
        extra["reply_to"] = parent["uri"]
    embed = _obj(view.get("embed"))
    external = _obj(embed.get("external"))
    if as_str(external.get("uri")):
        extra["link"] = external["uri"]
        if as_str(external.get("title")):
            extra["link_title"] = external["title"]
    likes = as_int(view.get("likeCount"))
    reposts = as_int(view.get("repostCount"))
    quotes = as_int(view.get("quoteCount"))
    replies = as_int(view.get("replyCount"))
    if quotes is not None:
        extra["quotes"] = quotes
    shares = None if reposts is None and quotes is None else (reposts or 0) + (quotes or 0)
    text = record.get("text")
    return Post(
        source=source,
        native_id=uri,
        text=text.strip() if isinstance(text, str) else "",
        url=web_url(uri, handle),
        author=handle or as_str(author.get("did")),
        published_at=published,
        raw_date=raw_created,
        lang=langs[0].lower() if langs else None,
        site=SITE,
        source_name="Bluesky",
        engagement=Snapshot(fetched_at, likes=likes, shares=shares, comments=replies)
        if likes is not None or shares is not None or replies is not None
        else None,
        extra=extra,
    )


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _views(items: list[Any], fetched_at: datetime, source: str) -> list[Post]:
    posts: list[Post] = []
    seen: set[str] = set()
    for item in items:
        post = parse_post_view(item, fetched_at=fetched_at, source=source)
        if post is not None and post.native_id not in seen:
            seen.add(post.native_id)
            posts.append(post)
    return posts


def _xrpc_error(data: Any, url: str | None) -> None:
    if isinstance(data, Mapping) and isinstance(data.get("error"), str) and "posts" not in data:
        message = as_str(data.get("message")) or ""
        raise ParseError(f"Bluesky error {data['error']}: {message}".rstrip(": "), url=url)


def parse_posts(
    payload: bytes | str | Mapping[str, Any],
    *,
    fetched_at: datetime,
    source: str = "bluesky",
    url: str | None = None,
) -> list[Post]:
    """``searchPosts`` or ``getPosts`` output (``{posts: [postView]}``) → posts. Pure."""
    data = load_json(payload, url=url, what="Bluesky JSON")
    _xrpc_error(data, url)
    posts = data.get("posts") if isinstance(data, Mapping) else None
    if not isinstance(posts, list):
        raise ParseError("Bluesky response has no 'posts' list", url=url)
    return _views(posts, fetched_at, source)


def parse_feed_items(
    payload: bytes | str | Mapping[str, Any],
    *,
    fetched_at: datetime,
    source: str = "bluesky",
    url: str | None = None,
) -> list[Post]:
    """``getFeed`` / ``getAuthorFeed`` output (``{feed: [{post, reply?, reason?}]}``) → posts."""
    data = load_json(payload, url=url, what="Bluesky JSON")
    _xrpc_error(data, url)
    feed = data.get("feed") if isinstance(data, Mapping) else None
    if not isinstance(feed, list):
        raise ParseError("Bluesky feed response has no 'feed' list", url=url)
    return _views([i.get("post") for i in feed if isinstance(i, Mapping)], fetched_at, source)


def parse_profiles(
    payload: bytes | str | Mapping[str, Any], *, url: str | None = None
) -> dict[str, int]:
    """``app.bsky.actor.getProfiles`` output → ``{did: followersCount}``. Pure."""
    data = load_json(payload, url=url, what="Bluesky profiles JSON")
    _xrpc_error(data, url)
    profiles = data.get("profiles") if isinstance(data, Mapping) else None
    if not isinstance(profiles, list):
        raise ParseError("Bluesky profiles response has no 'profiles' list", url=url)
    counts: dict[str, int] = {}
    for profile in profiles:
        did = as_str(_obj(profile).get("did"))
        followers = as_int(_obj(profile).get("followersCount"))
        if did and followers is not None:
            counts[did] = followers
    return counts


def _sort_time(post: Post) -> datetime | None:
    """The time searchPosts sorts and filters by: the earlier of createdAt and indexedAt."""
    indexed = parse_date(post.extra.get("indexed_at"))
    times = [t for t in (post.published_at, indexed) if t is not None]
    return min(times) if times else None


@dataclass
class _Session:
    access: str
    refresh: str
    did: str
    handle: str
    access_expires: datetime | None
    refresh_expires: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], url: str) -> _Session:
        access, refresh = as_str(data.get("accessJwt")), as_str(data.get("refreshJwt"))
        if access is None or refresh is None:
            raise ParseError("Bluesky session response lacks accessJwt/refreshJwt", url=url)
        return cls(
            Secret(access),
            Secret(refresh),
            as_str(data.get("did")) or "",
            as_str(data.get("handle")) or "",
            _jwt_expiry(access),
            _jwt_expiry(refresh),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "accessJwt": self.access,
            "refreshJwt": self.refresh,
            "did": self.did,
            "handle": self.handle,
        }


def _jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT (not verified: only to renew before the server refuses it)."""
    try:
        body = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (IndexError, ValueError):
        return None
    return epoch_to_datetime(claims.get("exp")) if isinstance(claims, Mapping) else None


class BlueskyCollector(Collector):
    """Bluesky posts mentioning the brand (``app.bsky.feed.searchPosts``, ``sort=latest``).

    Params: ``handle_env`` and ``app_password_env`` (required: names of the env vars holding the
    account handle and an app password), ``service`` (PDS, default https://bsky.social),
    ``session_file`` (optional path to keep the session between processes, written 0600),
    ``lang`` (only posts in this language), ``limit`` (1–100, default 100), ``max_pages`` (per
    term and poll, default 5), ``overlap`` (seconds, default 600), ``lookback`` (first poll,
    seconds, default 86400), ``author_reach`` (look up authors' follower counts, default true).
    """

    type: ClassVar[str] = "bluesky"
    per_brand: ClassVar[bool] = True
    param_keys: ClassVar[frozenset[str]] = frozenset(
        {
            "handle_env",
            "app_password_env",
            "service",
            "session_file",
            "lang",
            "limit",
            "max_pages",
            "overlap",
            "lookback",
            "author_reach",
        }
    )

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        super().validate_params(params, path, problems)
        for key, example in (
            ("handle_env", "BSKY_HANDLE"),
            ("app_password_env", "BSKY_APP_PASSWORD"),
        ):
            value = problems.expect(params, key, str, path)
            if value is None and key not in params:
                problems.add(
                    f"{path}.{key}",
                    "missing required key (Bluesky search needs a logged-in account)",
                    f'add {key} = "{example}" and set that environment variable',
                )
        check_url(params, "service", path, problems)
        problems.expect(params, "session_file", str, path)
        lang = problems.expect(params, "lang", str, path)
        if lang is not None and not (2 <= len(lang) <= 8):
            problems.add(f"{path}.lang", f"not a language code: {lang!r}", "use e.g. 'en'")
        check_int(params, "limit", path, problems, maximum=100)
        check_int(params, "max_pages", path, problems, maximum=50)
        check_int(params, "overlap", path, problems, minimum=0)
        check_int(params, "lookback", path, problems)
        problems.expect(params, "author_reach", bool, path)

    # --- session ------------------------------------------------------------------------------

    @property
    def _service(self) -> str:
        return str(self.params.get("service", DEFAULT_SERVICE)).rstrip("/")

    def _credentials(self) -> tuple[Secret, Secret]:
        handle_env = str(self.params.get("handle_env", ""))
        password_env = str(self.params.get("app_password_env", ""))
        handle = get_secret(handle_env) if handle_env else None
        password = get_secret(password_env) if password_env else None
        if handle is None or password is None:
            missing = [n for n, v in ((handle_env, handle), (password_env, password)) if not v]
            raise SourceError(
                "Bluesky search needs an account: set "
                + " and ".join(n or "<unnamed>" for n in missing)
                + " (handle and an app password from Settings → App passwords)"
            )
        return handle, password

    def _session_key(self, handle: str) -> str:
        return f"bluesky:{self._service}:{handle.lower()}"

    def _load_file(self) -> _Session | None:
        location = self.params.get("session_file")
        if not location:
            return None
        try:
            data = json.loads(Path(str(location)).expanduser().read_text(encoding="utf-8"))
            return _Session.from_json(data, str(location)) if isinstance(data, Mapping) else None
        except (OSError, ValueError, ParseError):
            return None

    def _save_file(self, session: _Session) -> None:
        location = self.params.get("session_file")
        if not location:
            return
        target = Path(str(location)).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".bsky-session-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(session.to_json(), out)
            os.replace(temp, target)
        except OSError:
            Path(temp).unlink(missing_ok=True)
            raise

    def _session(self, *, stale: _Session | None = None) -> _Session:
        """A usable session: cached, refreshed, or (only when nothing else works) a new login."""
        handle, password = self._credentials()
        cache = client_cache(self.client)
        key = self._session_key(handle)
        with cache.lock:  # several brands poll at once; only one of them may log in
            session: _Session | None = cache.sessions.get(key) or self._load_file()
            now = self.clock()
            if (
                session is not None
                and session is not stale
                and (session.access_expires is None or session.access_expires - _CLOCK_SKEW > now)
            ):
                cache.sessions[key] = session
                return session
            if session is not None and (
                session.refresh_expires is None or session.refresh_expires > now
            ):
                renewed = self._refresh_session(session)
                if renewed is not None:
                    cache.sessions[key] = renewed
                    self._save_file(renewed)
                    return renewed
            session = self._create_session(handle, password)
            cache.sessions[key] = session
            self._save_file(session)
            return session

    def _refresh_session(self, session: _Session) -> _Session | None:
        url = f"{self._service}/xrpc/com.atproto.server.refreshSession"
        response = self.client.request(
            "POST",
            url,
            headers={"Authorization": f"Bearer {session.refresh}"},
            accept_statuses=frozenset({400, 401}),
        )
        if response.status in (400, 401):
            return None  # refresh token expired or revoked: log in again
        return _Session.from_json(load_json(response.content, url=url), url)

    def _create_session(self, handle: Secret, password: Secret) -> _Session:
        url = f"{self._service}/xrpc/com.atproto.server.createSession"
        try:
            response = self.client.request(
                "POST", url, json_body={"identifier": handle, "password": password}
            )
        except RateLimitedError as exc:
            raise RateLimitedError(exc.status, exc.retry_after, url=url) from None
        except HttpStatusError as exc:
            if exc.status in (400, 401):
                raise HttpStatusError(
                    exc.status,
                    "Bluesky rejected the login from "
                    f"{self.params.get('handle_env')}/{self.params.get('app_password_env')} "
                    "(use an app password, not the account password)",
                    url=url,
                ) from None
            raise
        data = load_json(response.content, url=url, what="Bluesky session JSON")
        if not isinstance(data, Mapping):
            raise ParseError("Bluesky session response is not an object", url=url)
        return _Session.from_json(data, url)

    def _xrpc_get(self, method: str, params: Mapping[str, Any]) -> FetchResponse:
        """An authenticated XRPC query; an expired access token is refreshed once."""
        url = f"{self._service}/xrpc/{method}"
        session = self._session()
        for attempt in (1, 2):
            response = self.client.get(
                url,
                params=params,
                headers={"Authorization": f"Bearer {session.access}"},
                accept_statuses=frozenset({400, 401}),
            )
            if response.status < 400:
                return response
            error = _error_name(response)
            if attempt == 1 and (response.status == 401 or error in _TOKEN_ERRORS):
                session = self._session(stale=session)
                continue
            raise HttpStatusError(
                response.status, f"Bluesky refused {method}: {error or 'bad request'}", url=url
            )
        raise HttpStatusError(401, "Bluesky refused a freshly refreshed session", url=url)

    # --- collect ------------------------------------------------------------------------------

    def fetch_search(
        self, term: str, since: datetime, until: datetime | None, cursor: str | None
    ) -> tuple[Mapping[str, Any], str]:
        """One ``searchPosts`` page, decoded, with its URL."""
        params: dict[str, Any] = {
            "q": f'"{term}"' if " " in term else term,
            "sort": "latest",
            "limit": int(self.params.get("limit", 100)),
            "since": isoformat(since),
        }
        if until is not None:
            params["until"] = isoformat(until)
        if self.params.get("lang"):
            params["lang"] = self.params["lang"]
        if cursor:
            params["cursor"] = cursor
        response = self._xrpc_get("app.bsky.feed.searchPosts", params)
        data = load_json(response.content, url=response.url, what="Bluesky JSON")
        if not isinstance(data, Mapping):
            raise ParseError("Bluesky search response is not an object", url=response.url)
        return data, response.url

    def search_range(self, term: str, since: datetime, until: datetime | None) -> RangeResult:
        """All pages (up to ``max_pages``) of one term's posts in a time range, newest first."""
        now = self.clock()
        posts: list[Post] = []
        cursor: str | None = None
        for _page in range(int(self.params.get("max_pages", 5))):
            data, url = self.fetch_search(term, since, until, cursor)
            found = parse_posts(data, fetched_at=now, source=self.type, url=url)
            posts.extend(found)
            cursor = as_str(data.get("cursor"))
            if not found or not cursor:
                return RangeResult.of(posts, truncated=False, time=_sort_time)
        return RangeResult.of(posts, truncated=True, time=_sort_time)

    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        """Search each brand term newer than the cursor, then fill any gap left earlier."""
        if brand is None:
            raise ParseError("the bluesky source needs a brand to search for")
        posts, new_state, notes = collect_windows(
            state,
            self.clock(),
            brand.search_terms(),
            self.search_range,
            lookback=timedelta(seconds=int(self.params.get("lookback", 86400))),
            overlap=timedelta(seconds=int(self.params.get("overlap", 600))),
        )
        return Collected(self._with_followers(posts, notes), new_state, notes=notes)

    def _with_followers(self, posts: list[Post], notes: list[str]) -> list[Post]:
        """Fill ``author_followers`` from ``getProfiles`` (25 actors a call, cached 6 hours).

        Post views carry no follower counts, but author reach matters for viral risk. A failing
        profile lookup is a note: the posts are stored without reach rather than lost.
        """
        if not posts or self.params.get("author_reach") is False:
            return posts
        now = self.clock()
        cache = client_cache(self.client)
        with cache.lock:
            known: dict[str, tuple[int, datetime]] = cache.sessions.setdefault(
                f"bluesky-followers:{self._service}", {}
            )
            fresh = {d: c for d, (c, at) in known.items() if now - at < _FOLLOWERS_TTL}
        wanted = sorted({str(p.extra["did"]) for p in posts if p.extra.get("did")} - set(fresh))
        for start in range(0, len(wanted), _GETPOSTS_MAX):
            chunk = wanted[start : start + _GETPOSTS_MAX]
            try:
                response = self._xrpc_get("app.bsky.actor.getProfiles", {"actors": chunk})
                counts = parse_profiles(response.content, url=response.url)
            except SourceError as exc:
                notes.append(f"author follower counts unavailable: {exc}")
                break
            with cache.lock:
                for did, count in counts.items():
                    known[did] = (count, now)
            fresh.update(counts)
        return [
            replace(p, author_followers=fresh[str(p.extra["did"])])
            if p.author_followers is None and p.extra.get("did") in fresh
            else p
            for p in posts
        ]

    def refresh(self, native_ids: Sequence[str]) -> list[Post]:
        """Current like/repost/reply/quote counts via ``getPosts`` (25 uris a call)."""
        uris = [u for u in native_ids if u.startswith("at://")]
        now = self.clock()
        posts: list[Post] = []
        for start in range(0, len(uris), _GETPOSTS_MAX):
            response = self._xrpc_get(
                "app.bsky.feed.getPosts", {"uris": uris[start : start + _GETPOSTS_MAX]}
            )
            posts.extend(
                parse_posts(response.content, fetched_at=now, source=self.type, url=response.url)
            )
        return posts


_TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired"})


def _error_name(response: FetchResponse) -> str | None:
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    return as_str(data.get("error")) if isinstance(data, Mapping) else None
