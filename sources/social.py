"""Helpers shared by the social API collectors (Reddit, Hacker News, Mastodon, Bluesky, Lemmy).

JSON payload loading with clear errors, tolerant number/date readers, rate-limit bookkeeping from
``X-RateLimit-*`` headers, a per-client cache for auth sessions, and the time-window cursor that
lets newest-first search APIs resume after a restart without skipping or re-storing items.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Problems
from monitor.records import Post, isoformat
from monitor.store import SourceState
from sources.dates import parse_date
from sources.errors import BlockedError, ParseError
from sources.http import HttpClient

__all__ = [
    "ClientCache",
    "FetchRange",
    "RangeResult",
    "RateBudget",
    "as_int",
    "as_str",
    "check_int",
    "check_url",
    "client_cache",
    "collect_windows",
    "epoch_to_datetime",
    "load_json",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HTML_START = (b"<!doctype html", b"<html", b"<head", b"<body")


def load_json(payload: bytes | str | Any, *, url: str | None = None, what: str = "JSON") -> Any:
    """Decode a response body (bytes or text) to JSON; already-decoded values pass through.

    An HTML page is a block page (``BlockedError``), an empty or cut-off body is a ``ParseError``.
    Invalid UTF-8 bytes are replaced rather than failing the whole page: one mangled character
    should not cost a page of posts.
    """
    if isinstance(payload, bytes | bytearray):
        body = bytes(payload).lstrip(b"\xef\xbb\xbf \t\r\n")
        if not body:
            raise ParseError(f"empty response body, expected {what}", url=url)
        if body[:15].lower().startswith(_HTML_START):
            raise BlockedError(200, f"got an HTML page where {what} was expected", url=url)
        text = body.decode("utf-8", "replace")
    elif isinstance(payload, str):
        text = payload.lstrip("\ufeff \t\r\n")
        if not text:
            raise ParseError(f"empty response body, expected {what}", url=url)
        if text[:15].lower().startswith(tuple(s.decode() for s in _HTML_START)):
            raise BlockedError(200, f"got an HTML page where {what} was expected", url=url)
    else:
        return payload
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ParseError(f"invalid or truncated {what}: {exc}", url=url) from None


def as_int(value: Any) -> int | None:
    """An engagement count from whatever the API sent (int, float, numeric string), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 1e18 else None
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def as_str(value: Any) -> str | None:
    """A non-empty string, or None for anything else (null, numbers, objects, blanks)."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def epoch_to_datetime(value: Any) -> datetime | None:
    """Epoch seconds (int, float or numeric string) as aware UTC; None when unreadable."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if not (0 <= seconds < 32503680000):  # up to year 3000; anything else is garbage
        return None
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class RateBudget:
    """What a host's ``X-RateLimit-*`` headers said last: requests left and when they reset."""

    remaining: float | None = None
    reset_at: datetime | None = None
    updated_at: datetime = _EPOCH

    def update(self, headers: Mapping[str, str], now: datetime) -> None:
        """Read ``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (seconds or a timestamp)."""
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is None:
            return  # this response said nothing about the budget
        self.updated_at, self.reset_at = now, None
        try:
            self.remaining = float(remaining)
        except ValueError:
            self.remaining = None
        reset = headers.get("x-ratelimit-reset")
        if reset:
            try:
                # Reddit sends seconds until the reset; Mastodon an ISO timestamp.
                self.reset_at = now + timedelta(seconds=float(reset))
            except ValueError:
                self.reset_at = parse_date(reset)

    def spent_until(self, moment: datetime) -> None:
        """Record that no requests are left until ``moment`` (after a 429)."""
        self.remaining, self.reset_at = 0.0, moment

    def exhausted(self, now: datetime, reserve: float = 1.0) -> bool:
        """True when fewer than ``reserve`` requests are left and the window has not reset."""
        if self.remaining is None or self.remaining >= reserve:
            return False
        # Without a reset time, assume the common one-minute window rather than waiting forever.
        return (self.reset_at or self.updated_at + timedelta(minutes=1)) > now

    def describe(self) -> str:
        when = isoformat(self.reset_at) if self.reset_at else "an unknown time"
        return f"rate-limit budget used up until {when}"


@dataclass
class ClientCache:
    """Auth sessions and rate budgets that live as long as the HTTP client (not per poll).

    Collector objects are created per poll round, but logins are rate-limited (Bluesky allows 30
    per 5 minutes), so sessions are kept next to the long-lived client instead.
    """

    lock: threading.RLock = field(default_factory=threading.RLock)
    sessions: dict[str, Any] = field(default_factory=dict)
    budgets: dict[str, RateBudget] = field(default_factory=dict)

    def budget(self, key: str) -> RateBudget:
        with self.lock:
            return self.budgets.setdefault(key, RateBudget())


def client_cache(client: HttpClient) -> ClientCache:
    """The :class:`ClientCache` attached to ``client`` (created on first use, thread-safe)."""
    holder = vars(client)
    cache = holder.get("_social_cache")
    if cache is None:
        # dict.setdefault is atomic, so two threads racing here end up with the same cache.
        cache = holder.setdefault("_social_cache", ClientCache())
    return cache


@dataclass(frozen=True, slots=True)
class RangeResult:
    """What one search over a time range returned (all pages read for one term)."""

    posts: list[Post]
    newest: datetime | None  # the newest time seen
    oldest: datetime | None  # the oldest time seen
    truncated: bool  # the page budget ran out before the range was exhausted

    @classmethod
    def of(
        cls,
        posts: list[Post],
        *,
        truncated: bool,
        time: Callable[[Post], datetime | None] = lambda post: post.published_at,
    ) -> RangeResult:
        """Summarise posts read from a range (newest/oldest by ``time``)."""
        times = [t for t in map(time, posts) if t is not None]
        return cls(posts, max(times, default=None), min(times, default=None), truncated)


FetchRange = Callable[[str, datetime, datetime | None], RangeResult]


def collect_windows(
    state: SourceState,
    now: datetime,
    terms: Sequence[str],
    fetch: FetchRange,
    *,
    lookback: timedelta,
    overlap: timedelta,
) -> tuple[list[Post], SourceState, list[str]]:
    """Drive a newest-first search API (``since``/``until`` filters) without gaps or repeats.

    ``state.cursor`` is the newest time collected. Each poll first reads everything newer than it
    (minus ``overlap``, for late indexing), so fresh posts are never held back; when that read runs
    out of pages, the part it could not reach is remembered as a gap in ``extra["gaps"]``. Then
    the newest pending gap is filled (its own page budget), shrinking it until it is gone. So a
    burst or an outage is caught up over the next polls and nothing is skipped.
    """
    high = _read_time(state.cursor)
    gaps = [
        (lo, hi)
        for lo, hi in (
            (_read_time(g[0]), _read_time(g[1]))
            for g in state.extra.get("gaps") or []
            if isinstance(g, list | tuple) and len(g) == 2
        )
        if lo is not None and hi is not None and lo < hi
    ]
    posts: dict[str, Post] = {}
    notes: list[str] = []

    def run(since: datetime, until: datetime | None) -> tuple[datetime | None, datetime | None]:
        newest: datetime | None = None
        cut: datetime | None = None  # complete above this time for every term
        for term in terms:
            result = fetch(term, since, until)
            for post in result.posts:
                posts.setdefault(post.native_id, post)
            if result.newest is not None:
                newest = max(newest or result.newest, result.newest)
            if result.truncated and result.oldest is not None:
                cut = max(cut or result.oldest, result.oldest)
        return newest, cut

    floor = high or (now - lookback)
    newest, cut = run(floor - overlap, None)
    pending: list[tuple[datetime, datetime]] = []
    if cut is not None and cut > floor:
        pending.append((floor, cut))
        notes.append(
            f"more results since {isoformat(floor)} than the page budget; "
            f"the rest (to {isoformat(cut)}) is collected on the next polls"
        )
    if gaps:
        lo, hi = gaps[0]
        _, gap_cut = run(lo - overlap, hi + overlap)
        if gap_cut is not None and gap_cut > lo:
            pending.append((lo, min(hi, gap_cut)))
        pending.extend(gaps[1:])
    if newest is not None and (high is None or newest > high):
        high = newest
    extra = dict(state.extra)
    extra["gaps"] = [[isoformat(lo), isoformat(hi)] for lo, hi in pending]
    if not pending:
        extra.pop("gaps")
    cursor = isoformat(high) if high else state.cursor
    return list(posts.values()), state.evolve(cursor=cursor, extra=extra), notes


def _read_time(value: Any) -> datetime | None:
    return parse_date(value) if isinstance(value, str) else None


def check_int(
    params: Mapping[str, Any],
    key: str,
    path: str,
    problems: Problems,
    *,
    minimum: int = 1,
    maximum: int | None = None,
) -> int | None:
    """Validate an optional whole-number parameter within bounds; return it when valid."""
    value = problems.expect(params, key, int, path)
    if value is None:
        return None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum}–{maximum}" if maximum is not None else f"≥ {minimum}"
        problems.add(f"{path}.{key}", f"out of range: {value}", f"use a whole number {bound}")
        return None
    return int(value)


def check_url(
    params: Mapping[str, Any], key: str, path: str, problems: Problems, *, required: bool = False
) -> str | None:
    """Validate an http(s) URL parameter; return it when valid."""
    value = problems.expect(params, key, str, path, required=required)
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        problems.add(f"{path}.{key}", f"not an http(s) URL: {value!r}", "use a full https:// URL")
        return None
    return str(value)
