"""Loopback fake sources that play a :class:`~monitor.demo_script.Scenario` in (accelerated) time.

Each fake speaks the shape of the real API closely enough for groundswell's own collectors:
a news RSS feed, Reddit (OAuth token, search, ``/api/info``), Mastodon (tag timelines with
``min_id``, statuses by id), Bluesky (sessions, ``searchPosts``, ``getPosts``) and Hacker News
(Algolia ``search_by_date`` and item lookups). Only posts published by the scenario clock's
"now" are visible, with engagement counts as of "now". Used by the demo, the soak script and the
integration tests; they bind 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from typing import Any
from urllib.parse import unquote, urlsplit

from monitor.demo_script import Scenario, ScriptedPost
from monitor.loopback import LoopbackServer, Reply, Request

__all__ = ["FakeSources", "SimulatedClock"]


class SimulatedClock:
    """Scenario time running ``speed`` times faster than the wall clock from ``start``."""

    def __init__(
        self, start: datetime, speed: float = 1.0, wall: Callable[[], float] | None = None
    ):
        import time

        self._wall = wall or time.monotonic
        self.start = start
        self.speed = speed
        self._t0 = self._wall()

    def restart(self) -> None:
        """Start the scenario now (after slow set-up such as loading the model)."""
        self._t0 = self._wall()

    def __call__(self) -> datetime:
        from datetime import timedelta

        return self.start + timedelta(seconds=(self._wall() - self._t0) * self.speed)


def _json(data: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        200,
        json.dumps(data).encode(),
        {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        etag=False,
    )


def _terms(query: str) -> list[str]:
    """The phrases of a search API query (``"Aurora Air" OR auroraair`` → both), flattened."""
    parts = re.split(r"\s+OR\s+|\|", query)
    return [t for t in (re.sub(r"[^\w]", "", part.lower()) for part in parts) if t]


def _flat(post: ScriptedPost) -> str:
    return re.sub(r"[^\w]", "", f"{post.title} {post.text}".lower())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class _Ids:
    """Stable numeric ids in publication order (Mastodon and HN ids grow with time)."""

    scenario: Scenario

    def __post_init__(self) -> None:
        self.number = {p.key: 110_000_000_000 + n * 1000 for n, p in enumerate(self.scenario.posts)}
        self.by_number = {v: k for k, v in self.number.items()}


class FakeSources:
    """Start with ``with FakeSources(scenario, clock) as fakes:``; ``fakes.urls`` has the bases."""

    def __init__(self, scenario: Scenario, clock: Callable[[], datetime]):
        self.scenario = scenario
        self.clock = clock
        self.ids = _Ids(scenario)
        self.posts = {p.key: p for p in scenario.posts}
        self.served: dict[str, set[str]] = {}  # source → keys handed out at least once
        self.news = LoopbackServer({"/rss": self._news})
        self.reddit = LoopbackServer(
            {
                "/api/v1/access_token": self._reddit_token,
                "/oauth/search": self._reddit_search,
                "/oauth/api/info": self._reddit_info,
            }
        )
        self.mastodon = LoopbackServer(
            {"/api/v1/instance": lambda r: _json({"uri": "demo", "version": "4.3.0"})}
        )
        self.bluesky = LoopbackServer(
            {
                "/xrpc/com.atproto.server.createSession": self._bsky_session,
                "/xrpc/com.atproto.server.refreshSession": self._bsky_session,
                "/xrpc/app.bsky.feed.searchPosts": self._bsky_search,
                "/xrpc/app.bsky.feed.getPosts": self._bsky_get_posts,
                "/xrpc/app.bsky.actor.getProfiles": self._bsky_profiles,
            }
        )
        self.hn = LoopbackServer({"/api/v1/search_by_date": self._hn_search})
        self._servers = (self.news, self.reddit, self.mastodon, self.bluesky, self.hn)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeSources:
        for server in self._servers:
            server.start()
        # Path-parameter routes are resolved by prefix in a catch-all handler.
        self.mastodon.routes["*"] = self._mastodon
        self.hn.routes["*"] = self._hn_item
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.stop()

    @property
    def urls(self) -> dict[str, str]:
        return {
            "news": self.news.url("/rss"),
            "reddit_api": self.reddit.url("/oauth"),
            "reddit_token": self.reddit.url("/api/v1/access_token"),
            "reddit_web": self.reddit.url(""),
            "mastodon": self.mastodon.url("").rstrip("/"),
            "bluesky": self.bluesky.url("").rstrip("/"),
            "hn_api": self.hn.url("/api/v1"),
            "hn_items": self.hn.url("/v0"),
        }

    def _visible(self, source: str, query: str | None = None) -> list[ScriptedPost]:
        """Posts published by now, newest first; a search ``query`` keeps the posts it names."""
        posts = self.scenario.visible(source, self.clock())
        if query:
            terms = _terms(query)
            posts = [p for p in posts if any(t in _flat(p) for t in terms)]
        self.served.setdefault(source, set()).update(p.key for p in posts)
        return posts

    # -- news (RSS) --------------------------------------------------------------------------

    def _news(self, request: Request) -> Reply:
        items = []
        for post in self._visible("news"):
            items.append(
                f"<item><title>{escape(post.title)}</title><link>{escape(post.url)}</link>"
                f'<guid isPermaLink="false">{post.key}</guid><pubDate>{format_datetime(post.published_at)}</pubDate>'
                f"<description>{escape(post.text)}</description></item>"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Travel Wire</title>'
            "<link>https://travelwire.example/</link><language>en</language>"
            + "".join(items)
            + "</channel></rss>"
        )
        return Reply(200, body.encode(), {"Content-Type": "application/rss+xml; charset=utf-8"})

    # -- Reddit ------------------------------------------------------------------------------

    def _reddit_token(self, request: Request) -> Reply:
        if request.method != "POST" or "authorization" not in request.headers:
            return Reply(401, b'{"error": 401}', {"Content-Type": "application/json"})
        return _json(
            {"access_token": "demo-token", "token_type": "bearer", "expires_in": 3600, "scope": "*"}
        )

    def _reddit_thing(self, post: ScriptedPost) -> dict[str, Any]:
        likes, _, comments = post.counts_at(self.clock())
        rid = f"d{self.ids.number[post.key]:x}"
        permalink = f"/r/travel/comments/{rid}/{post.key}/"
        return {
            "kind": "t3",
            "data": {
                "id": rid,
                "name": f"t3_{rid}",
                "title": post.title or post.text[:80],
                "selftext": post.text,
                "author": post.author,
                "subreddit": "travel",
                "created_utc": post.published_at.timestamp(),
                "score": likes,
                "ups": likes,
                "downs": 0,
                "upvote_ratio": 0.96,
                "num_comments": comments,
                "permalink": permalink,
                "url": f"https://www.reddit.com{permalink}",
                "over_18": False,
                "is_self": True,
                "author_fullname": f"t2_{post.author}",
                "subreddit_subscribers": 250000,
            },
        }

    def _reddit_listing(self, posts: list[ScriptedPost]) -> Reply:
        headers = {
            "X-Ratelimit-Used": "1",
            "X-Ratelimit-Remaining": "99.0",
            "X-Ratelimit-Reset": "300",
        }
        return _json(
            {
                "kind": "Listing",
                "data": {
                    "after": None,
                    "before": None,
                    "dist": len(posts),
                    "children": [self._reddit_thing(p) for p in posts],
                },
            },
            headers,
        )

    def _reddit_search(self, request: Request) -> Reply:
        limit = int((request.query.get("limit") or ["100"])[0])
        return self._reddit_listing(
            self._visible("reddit", (request.query.get("q") or [""])[0])[:limit]
        )

    def _reddit_info(self, request: Request) -> Reply:
        wanted = set(",".join(request.query.get("id", [])).split(","))
        posts = [p for p in self._visible("reddit") if f"t3_d{self.ids.number[p.key]:x}" in wanted]
        return self._reddit_listing(posts)

    # -- Mastodon ----------------------------------------------------------------------------

    def _status(self, post: ScriptedPost) -> dict[str, Any]:
        likes, shares, comments = post.counts_at(self.clock())
        number = self.ids.number[post.key]
        netloc = urlsplit(self.mastodon.url("/")).netloc
        user = post.author.split("@")[0]
        return {
            "id": str(number),
            "uri": f"https://{netloc}/users/{user}/statuses/{number}",
            "url": f"https://{netloc}/@{user}/{number}",
            "created_at": _iso(post.published_at),
            "content": f"<p>{escape(post.text)}</p>",
            "language": post.lang,
            "visibility": "public",
            "sensitive": False,
            "spoiler_text": "",
            "favourites_count": likes,
            "reblogs_count": shares,
            "replies_count": comments,
            "in_reply_to_id": None,
            "reblog": None,
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
            "edited_at": None,
            "account": {
                "id": str(abs(hash(user)) % 10**9),
                "username": user,
                "acct": post.author,
                "display_name": user,
                "followers_count": post.followers,
                "url": f"https://{netloc}/@{user}",
            },
        }

    def _mastodon(self, request: Request) -> Reply:
        if request.path.startswith("/api/v1/timelines/tag/"):
            posts = self._visible("mastodon", unquote(request.path.rsplit("/", 1)[1]))
            min_id = int((request.query.get("min_id") or ["0"])[0] or 0)
            limit = int((request.query.get("limit") or ["20"])[0])
            newer = [p for p in posts if self.ids.number[p.key] > min_id]
            page = (
                newer[-limit:] if min_id else newer[:limit]
            )  # min_id: the page right after the cursor
            headers = {
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "299",
                "X-RateLimit-Reset": _iso(self.clock()),
            }
            if page:
                top = max(self.ids.number[p.key] for p in page)
                headers["Link"] = f'<{self.mastodon.url(request.path)}?min_id={top}>; rel="prev"'
            return _json([self._status(p) for p in page], headers)
        match = re.fullmatch(r"/api/v1/statuses/(\d+)", request.path)
        if match:
            key = self.ids.by_number.get(int(match.group(1)))
            if key and self.posts[key].published_at <= self.clock():
                return _json(self._status(self.posts[key]))
            return Reply(404, b'{"error":"Record not found"}', {"Content-Type": "application/json"})
        return Reply(404, b'{"error":"not found"}', {"Content-Type": "application/json"})

    # -- Bluesky -----------------------------------------------------------------------------

    def _bsky_session(self, request: Request) -> Reply:
        return _json(
            {
                "accessJwt": "demo-access",
                "refreshJwt": "demo-refresh",
                "handle": "demo.bsky.social",
                "did": "did:plc:demoaccount",
                "active": True,
            }
        )

    def _bsky_view(self, post: ScriptedPost) -> dict[str, Any]:
        likes, shares, comments = post.counts_at(self.clock())
        rkey = f"3l{self.ids.number[post.key]:x}"
        did = f"did:plc:{re.sub(r'[^a-z0-9]', '', post.author.lower())[:20]}"
        return {
            "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
            "cid": f"bafy{rkey}",
            "author": {
                "did": did,
                "handle": post.author if "." in post.author else f"{post.author}.bsky.social",
                "displayName": post.author,
            },
            "record": {
                "$type": "app.bsky.feed.post",
                "text": post.text,
                "createdAt": _iso(post.published_at),
                "langs": [post.lang],
            },
            "replyCount": comments,
            "repostCount": shares,
            "likeCount": likes,
            "quoteCount": shares // 5,
            "indexedAt": _iso(post.published_at),
        }

    def _bsky_search(self, request: Request) -> Reply:
        posts = self._visible("bluesky", (request.query.get("q") or [""])[0])
        since = request.query.get("since")
        until = request.query.get("until")
        if since:
            start = datetime.fromisoformat(since[0].replace("Z", "+00:00"))
            posts = [p for p in posts if p.published_at >= start]
        if until:
            stop = datetime.fromisoformat(until[0].replace("Z", "+00:00"))
            posts = [p for p in posts if p.published_at < stop]
        return _json({"posts": [self._bsky_view(p) for p in posts]})

    def _bsky_get_posts(self, request: Request) -> Reply:
        wanted = set(request.query.get("uris", []))
        views = [self._bsky_view(p) for p in self._visible("bluesky")]
        return _json({"posts": [v for v in views if v["uri"] in wanted]})

    def _bsky_profiles(self, request: Request) -> Reply:
        by_handle = {self._bsky_view(p)["author"]["handle"]: p for p in self._visible("bluesky")}
        return _json(
            {
                "profiles": [
                    {
                        "handle": h,
                        "did": self._bsky_view(p)["author"]["did"],
                        "followersCount": p.followers,
                    }
                    for h, p in by_handle.items()
                    if h in request.query.get("actors", [])
                ]
            }
        )

    # -- Hacker News ---------------------------------------------------------------------------

    def _hn_hit(self, post: ScriptedPost) -> dict[str, Any]:
        likes, _, comments = post.counts_at(self.clock())
        number = self.ids.number[post.key]
        return {
            "objectID": str(number),
            "title": post.title or post.text[:80],
            "url": None,
            "author": post.author,
            "points": likes,
            "num_comments": comments,
            "created_at": _iso(post.published_at),
            "created_at_i": int(post.published_at.timestamp()),
            "story_text": escape(post.text),
            "_tags": ["story", f"author_{post.author}", f"story_{number}"],
        }

    def _hn_search(self, request: Request) -> Reply:
        posts = self._visible("hackernews", (request.query.get("query") or [""])[0])
        for condition in ",".join(request.query.get("numericFilters", [])).split(","):
            match = re.fullmatch(r"created_at_i([<>]=?)(\d+)", condition.strip())
            if match:
                op, bound = match.group(1), int(match.group(2))
                test = {">": int.__gt__, ">=": int.__ge__, "<": int.__lt__, "<=": int.__le__}[op]
                posts = [p for p in posts if test(int(p.published_at.timestamp()), bound)]
        hits = [self._hn_hit(p) for p in posts]
        return _json(
            {
                "hits": hits,
                "nbHits": len(hits),
                "page": 0,
                "nbPages": 1,
                "hitsPerPage": max(1, len(hits)),
            }
        )

    def _hn_item(self, request: Request) -> Reply:
        match = re.fullmatch(r"/v0/item/(\d+)\.json", request.path)
        key = self.ids.by_number.get(int(match.group(1))) if match else None
        if key is None or self.posts[key].published_at > self.clock():
            return Reply(200, b"null", {"Content-Type": "application/json"})
        post = self.posts[key]
        likes, _, comments = post.counts_at(self.clock())
        return _json(
            {
                "id": int(match.group(1)) if match else 0,
                "by": post.author,
                "score": likes,
                "descendants": comments,
                "time": int(post.published_at.timestamp()),
                "type": "story",
                "title": post.title or post.text[:80],
                "text": escape(post.text),
            }
        )
