"""Per-host rate limits shared by every worker, booked in the queue's PostgreSQL database.

:class:`~sources.limits.HostLimiter` spaces requests to a host with a reservation scheduler
(GCRA) held in process memory, so two workers would each send at the full rate. Here the same
booking runs against one row per host in ``groundswell_host_budget``: ``SELECT ... FOR UPDATE``
serialises the bookings of every worker on every machine, and the database's clock is the only
clock involved (machines' clocks may disagree). Holds learnt from ``Retry-After`` and rate-limit
headers are written to the same row, so one worker's 429 quiets all of them.

What stays per process: the cap on requests in flight (``concurrency``); with N workers a host
sees at most N × concurrency at once, still at the shared rate. If the database cannot be reached
the limiter falls back to the in-process booking and logs it (the worker cannot take new jobs
then anyway).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sources.errors import RateLimitedError
from sources.limits import HostLimiter, _HostState, host_key

__all__ = ["BUDGET_TABLE_SQL", "SharedHostLimiter"]

log = logging.getLogger("groundswell.workers.limits")

BUDGET_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS groundswell_host_budget (
    host text PRIMARY KEY,
    next_free double precision NOT NULL DEFAULT 0,  -- epoch seconds, database clock
    hold_until double precision NOT NULL DEFAULT 0,
    sent bigint NOT NULL DEFAULT 0
)
"""

_NOW = "extract(epoch FROM clock_timestamp())::float8"


class SharedHostLimiter(HostLimiter):
    """A :class:`HostLimiter` whose rate bookings and holds live in PostgreSQL."""

    def __init__(self, dsn: str, *, connect_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._db_lock = threading.Lock()

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=max(1, int(self.connect_timeout)),
                options="-c statement_timeout=10000",
            )
            self._conn.execute(BUDGET_TABLE_SQL)
        return self._conn

    def _book(self, state: _HostState, url: str) -> float:
        import psycopg

        host = host_key(url)
        rule = state.rule
        try:
            with self._db_lock:
                conn = self._connection()
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO groundswell_host_budget (host) VALUES (%s) "
                        "ON CONFLICT (host) DO NOTHING",
                        (host,),
                    )
                    now, next_free, hold_until = conn.execute(
                        f"SELECT {_NOW}, next_free, hold_until FROM groundswell_host_budget "
                        "WHERE host = %s FOR UPDATE",
                        (host,),
                    ).fetchone()
                    held = hold_until - now
                    if held > self.settings.max_rate_wait:
                        raise RateLimitedError(429, held, url=url)
                    start = max(now, hold_until)
                    slot = start
                    interval = rule.interval
                    if interval:
                        tat = max(next_free, start)
                        slot = max(start, tat - interval * (rule.burst_size - 1))
                        next_free = max(tat, slot) + interval
                    conn.execute(
                        "UPDATE groundswell_host_budget SET next_free = %s, sent = sent + 1 "
                        "WHERE host = %s",
                        (next_free, host),
                    )
        except psycopg.Error as exc:
            log.warning("shared rate limit unavailable (%s); pacing %s in this process", exc, host)
            self._drop_connection()
            return super()._book(state, url)
        with self._lock:
            state.sent += 1
        return max(0.0, slot - now)

    def hold(self, url: str, seconds: float) -> None:
        """Hold the host here and for every other worker."""
        import psycopg

        super().hold(url, seconds)
        host = host_key(url)
        try:
            with self._db_lock:
                self._connection().execute(
                    "INSERT INTO groundswell_host_budget (host, hold_until) "
                    f"VALUES (%s, {_NOW} + %s) ON CONFLICT (host) DO UPDATE SET "
                    "hold_until = greatest(groundswell_host_budget.hold_until, excluded.hold_until)",
                    (host, max(0.0, seconds)),
                )
        except psycopg.Error as exc:
            log.warning("could not share the hold on %s: %s", host, exc)
            self._drop_connection()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close the database connection."""
        with self._db_lock:
            self._drop_connection()
