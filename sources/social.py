"""Helpers shared by the social API collectors (Reddit, Hacker News, Mastodon, Bluesky, Lemmy).

JSON payload loading with clear errors, tolerant number/date readers, rate-limit bookkeeping from
``X-RateLimit-*`` headers, a per-client cache for auth sessions, and the time-window cursor that
lets newest-first search APIs resume after a restart without skipping or re-storing items.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Problems
from monitor.records import isoformat
from monitor.store import SourceState
from sources.dates import parse_date
from sources.errors import BlockedError, ParseError
from sources.http import HttpClient

__all__ = [
    "ClientCache",
    "RateBudget",
    "TimeWindow",
    "as_int",
    "as_str",
    "check_int",
    "check_url",
    "client_cache",
    "epoch_to_datetime",
    "load_json",
    "plan_window",
    "settle_window",
]

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

    def update(self, headers: Mapping[str, str], now: datetime) -> None:
        """Read ``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (seconds or a timestamp)."""
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None:
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

    def exhausted(self, now: datetime, reserve: float = 1.0) -> bool:
        """True when fewer than ``reserve`` requests are left and the window has not reset."""
        if self.remaining is None or self.remaining >= reserve:
            return False
        return self.reset_at is None or self.reset_at > now

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
class TimeWindow:
    """The slice of time one poll asks a newest-first search API for.

    ``since`` is exclusive and already includes the overlap; ``until`` is set while a gap left by
    an earlier, truncated poll (more hits than the page budget) is being filled, newest first.
    """

    since: datetime
    until: datetime | None = None


def plan_window(
    state: SourceState, now: datetime, *, lookback: timedelta, overlap: timedelta
) -> TimeWindow:
    """The window for this poll from the cursor (low watermark) and any pending gap."""
    low = _read_time(state.cursor) or (now - lookback)
    gap = _read_time(state.extra.get("gap_until"))
    return TimeWindow(low - overlap, gap + overlap if gap else None)


def settle_window(
    state: SourceState,
    now: datetime,
    *,
    lookback: timedelta,
    newest: datetime | None,
    truncated_at: datetime | None,
) -> SourceState:
    """Advance the cursor after a successful poll.

    Everything at or below ``cursor`` has been collected. When the page budget ran out before the
    window was exhausted (``truncated_at`` = the oldest time seen), the gap below it is remembered
    and filled by the next polls before the cursor moves, so a long outage skips nothing.
    """
    low = _read_time(state.cursor) or (now - lookback)
    high = _read_time(state.extra.get("high"))
    if newest is not None and (high is None or newest > high):
        high = newest
    extra = dict(state.extra)
    if truncated_at is not None:
        extra["gap_until"] = isoformat(truncated_at)
        if high is not None:
            extra["high"] = isoformat(high)
        return state.evolve(cursor=isoformat(low), extra=extra)
    extra.pop("gap_until", None)
    extra.pop("high", None)
    if high is not None and high > low:
        low = high
    return state.evolve(cursor=isoformat(low), extra=extra)


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
