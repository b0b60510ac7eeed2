"""Politeness and self-protection: a per-host limiter and a per-source circuit breaker.

:class:`HostLimiter` bounds requests in flight per host and spaces them to the host's rate
(a reservation scheduler: each request books the next free slot, so waiting never spins). It
also learns from the answers: ``X-Ratelimit-Remaining: 0`` with ``X-Ratelimit-Reset`` (Reddit,
Mastodon, GitHub style) or the IETF ``RateLimit-*`` headers, and a ``Retry-After`` the client did
not wait out, hold the host until the reset. A hold longer than ``max_wait`` fails fast with
:class:`~sources.errors.RateLimitedError` instead of sending a request that would be refused.

The circuit breaker is a handful of pure functions over :class:`~monitor.store.SourceState`, so
its state survives restarts in ``source_state`` and shows in ``groundswell status``:
closed → (``failures`` consecutive errors, or a rate limit) → open until ``breaker_retry_at`` →
half-open (one trial poll) → closed on success, open again with a doubled cool-down on failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from monitor.records import isoformat, parse_iso
from monitor.store import SourceState
from sources.errors import RateLimitedError
from sources.settings import BreakerSettings, CollectSettings, HostRule

__all__ = [
    "BREAKER_CLOSED",
    "BREAKER_HALF_OPEN",
    "BREAKER_OPEN",
    "HostLimiter",
    "breaker_after_failure",
    "breaker_after_success",
    "breaker_gate",
    "host_key",
    "rate_limit_hold",
]

BREAKER_CLOSED = "closed"
BREAKER_OPEN = "open"
BREAKER_HALF_OPEN = "half-open"


def host_key(url: str) -> str:
    """``host`` or ``host:port`` (non-default ports), lower-case; the unit of politeness."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and not (
        (parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443)
    ):
        return f"{host}:{port}"
    return host


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def rate_limit_hold(headers: Mapping[str, str], now: float, wall: datetime) -> float | None:
    """Seconds to hold a host after this answer (``None``: the budget is not exhausted).

    Reads ``X-Ratelimit-Remaining``/``-Reset`` (reset as seconds, epoch seconds or an ISO time)
    and the IETF ``RateLimit-Remaining``/``-Reset``; ``headers`` keys are lower-case.
    """
    del now
    for prefix in ("x-ratelimit-", "ratelimit-", "x-rate-limit-"):
        remaining = _number(headers.get(prefix + "remaining"))
        if remaining is None or remaining >= 1:
            continue
        raw_reset = headers.get(prefix + "reset")
        reset = _number(raw_reset)
        if reset is not None:
            if reset > 1_000_000_000:  # epoch seconds
                return max(0.0, reset - wall.timestamp())
            return max(0.0, reset)
        if raw_reset:
            try:
                return max(0.0, (parse_iso(raw_reset.strip()) - wall).total_seconds())
            except ValueError:
                pass
        return 60.0  # exhausted with no usable reset: a conservative minute
    return None


@dataclass
class _HostState:
    rule: HostRule
    gate: threading.BoundedSemaphore
    next_free: float = 0.0  # theoretical arrival time of the next request (GCRA)
    hold_until: float = 0.0  # monotonic time before which nothing is sent
    in_flight: int = 0
    peak: int = 0
    sent: int = 0


@dataclass
class HostLimiter:
    """Per-host concurrency and rate limits shared by every collector using one HTTP client."""

    settings: CollectSettings = field(default_factory=CollectSettings)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)
    _hosts: dict[str, _HostState] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def configure(self, settings: CollectSettings) -> None:
        """Adopt new rules; hosts already seen keep their holds and bookings."""
        with self._lock:
            self.settings = settings
            for host, state in list(self._hosts.items()):
                rule = settings.rule_for(host)
                if rule != state.rule and state.in_flight == 0:
                    state.rule = rule
                    state.gate = threading.BoundedSemaphore(rule.concurrency)

    def _state(self, host: str) -> _HostState:
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                rule = self.settings.rule_for(host)
                state = _HostState(rule, threading.BoundedSemaphore(rule.concurrency))
                self._hosts[host] = state
            return state

    def _book(self, state: _HostState, url: str) -> float:
        """Reserve the next slot (GCRA); returns how long to wait for it."""
        with self._lock:
            now = self.clock()
            held = state.hold_until - now
            if held > self.settings.max_rate_wait:
                raise RateLimitedError(429, held, url=url)
            start = max(now, state.hold_until)
            slot = start
            interval = state.rule.interval
            if interval:
                # Up to burst_size requests may go back to back after an idle period.
                tat = max(state.next_free, start)
                slot = max(start, tat - interval * (state.rule.burst_size - 1))
                state.next_free = max(tat, slot) + interval
            state.sent += 1
            return max(0.0, slot - now)

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        """Hold a concurrency slot for ``url``'s host, after waiting for its rate and holds."""
        host = host_key(url)
        state = self._state(host)
        wait = self._book(state, url)
        if wait > 0:
            self.sleep(wait)
        state.gate.acquire()
        with self._lock:
            state.in_flight += 1
            state.peak = max(state.peak, state.in_flight)
        try:
            yield
        finally:
            with self._lock:
                state.in_flight -= 1
            state.gate.release()

    def observe(self, url: str, headers: Mapping[str, str]) -> None:
        """Learn from an answer's rate-limit headers (lower-case keys)."""
        hold = rate_limit_hold(headers, self.clock(), self.wall())
        if hold is not None:
            self.hold(url, hold)

    def hold(self, url: str, seconds: float) -> None:
        """Send nothing to ``url``'s host for ``seconds`` (e.g. a Retry-After not waited out)."""
        state = self._state(host_key(url))
        with self._lock:
            state.hold_until = max(state.hold_until, self.clock() + max(0.0, seconds))

    def stats(self) -> dict[str, dict[str, float]]:
        """Per host: requests sent, peak in flight, configured concurrency (for benchmarks)."""
        with self._lock:
            return {
                host: {
                    "sent": state.sent,
                    "peak_in_flight": state.peak,
                    "concurrency": state.rule.concurrency,
                }
                for host, state in self._hosts.items()
            }


# -- circuit breaker -----------------------------------------------------------------------


def _retry_at(state: SourceState) -> datetime | None:
    raw = state.extra.get("breaker_retry_at") if state.extra else None
    if not raw:
        return None
    try:
        return parse_iso(str(raw))
    except ValueError:
        return None


def breaker_gate(state: SourceState, now: datetime) -> tuple[bool, SourceState]:
    """Whether this source may be polled now, and its state for the attempt.

    An open breaker blocks until its retry time, then lets one half-open trial through.
    """
    if state.breaker == BREAKER_CLOSED:
        return True, state
    retry_at = _retry_at(state)
    if state.breaker == BREAKER_OPEN and retry_at is not None and now < retry_at:
        return False, state
    return True, state.evolve(breaker=BREAKER_HALF_OPEN)


def breaker_after_success(state: SourceState) -> SourceState:
    """Close the breaker and forget its history."""
    extra = {k: v for k, v in state.extra.items() if not k.startswith("breaker_")}
    return state.evolve(breaker=BREAKER_CLOSED, consecutive_failures=0, extra=extra)


def breaker_after_failure(
    state: SourceState,
    now: datetime,
    settings: BreakerSettings,
    *,
    retry_after: float | None = None,
    rate_limited: bool = False,
) -> SourceState:
    """Count a failure; open the breaker after ``settings.failures`` in a row, at once after a
    failed half-open trial, and at once on a rate limit (for at least its ``Retry-After``)."""
    failures = state.consecutive_failures + 1
    opening = rate_limited or state.breaker == BREAKER_HALF_OPEN or failures >= settings.failures
    if not opening:
        return state.evolve(consecutive_failures=failures, breaker=BREAKER_CLOSED)
    opens = int(state.extra.get("breaker_opens", 0)) if state.extra else 0
    cooldown = min(settings.max_cooldown, settings.cooldown * (2**opens))
    if retry_after is not None:
        cooldown = max(cooldown if not rate_limited else 0.0, retry_after)
    retry_at = now + timedelta(seconds=cooldown)
    extra = dict(state.extra)
    extra["breaker_opens"] = opens + 1
    extra["breaker_retry_at"] = isoformat(retry_at)
    extra["breaker_opened_at"] = isoformat(now)
    return state.evolve(
        consecutive_failures=failures,
        breaker=BREAKER_OPEN,
        next_poll_at=isoformat(max(retry_at, _parse_or(state.next_poll_at, retry_at))),
        extra=extra,
    )


def _parse_or(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        return parse_iso(value)
    except ValueError:
        return default
