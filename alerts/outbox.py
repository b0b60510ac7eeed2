"""The persistent outbox: every delivery is written before it is sent and marked after.

A row per (notification, receiver, channel) with an idempotency key. Delivery claims due rows
with a short lease, sends, and marks them sent, or schedules a retry with exponential backoff,
or dead-letters them after ``max_attempts``. A process that dies anywhere in between leaves rows
that the next run picks up.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.records import isoformat
from monitor.store import Store

__all__ = [
    "NewDelivery",
    "OutboxItem",
    "backoff",
    "claim_due",
    "enqueue",
    "idempotency_key",
    "mark_failed",
    "mark_sent",
    "outbox_status",
    "retry_dead",
]


@dataclass(frozen=True, slots=True)
class NewDelivery:
    idempotency_key: str
    alert_id: int | None
    receiver: str
    channel_index: int
    channel_kind: str
    kind: str
    severity: str
    payload: dict[str, Any]
    next_attempt_at: datetime
    event_at: datetime | None = None
    deferred_reason: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    idempotency_key: str
    alert_id: int | None
    receiver: str
    channel_index: int
    channel_kind: str
    kind: str
    severity: str
    payload: dict[str, Any]
    attempts: int


def idempotency_key(*parts: object) -> str:
    """A stable key for one delivery: the same notification to the same channel, same key."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before retry number ``attempts`` (1 = first retry): base·2^(n-1), capped."""
    return float(min(cap, base * (2 ** max(0, attempts - 1))))


def enqueue(conn: sqlite3.Connection, deliveries: Iterable[NewDelivery], now: datetime) -> int:
    """Insert deliveries (inside the caller's transaction); known keys are ignored."""
    created = isoformat(now)
    rows = [
        (
            d.idempotency_key,
            d.alert_id,
            d.receiver,
            d.channel_index,
            d.channel_kind,
            d.kind,
            d.severity,
            json.dumps(d.payload, ensure_ascii=False, sort_keys=True),
            isoformat(d.next_attempt_at),
            d.deferred_reason,
            created,
            isoformat(d.event_at) if d.event_at else None,
        )
        for d in deliveries
    ]
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (idempotency_key, alert_id, receiver, channel_index, "
        "channel_kind, kind, severity, payload, next_attempt_at, deferred_reason, created_at, "
        "event_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return conn.total_changes - before


def claim_due(
    store: Store,
    now: datetime,
    limit: int,
    lease: float,
    only_ids: Sequence[int] | None = None,
) -> list[OutboxItem]:
    """Take up to ``limit`` due rows, pushing their next attempt out by ``lease`` seconds.

    The lease keeps a second worker off rows being sent; if this process dies mid-send the rows
    come due again when it runs out.
    """
    stamp = isoformat(now)
    sql = (
        "SELECT id, idempotency_key, alert_id, receiver, channel_index, channel_kind, kind, "
        "severity, payload, attempts FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
    )
    params: list[Any] = [stamp]
    if only_ids is not None:
        sql += f" AND id IN ({','.join('?' * len(only_ids))})"
        params.extend(only_ids)
    sql += " ORDER BY next_attempt_at, id LIMIT ?"
    params.append(limit)
    with store.transaction() as conn:
        rows = conn.execute(sql, params).fetchall()
        if rows:
            until = isoformat(now + timedelta(seconds=lease))
            conn.executemany(
                "UPDATE outbox SET next_attempt_at = ? WHERE id = ?",
                [(until, row[0]) for row in rows],
            )
    return [
        OutboxItem(
            int(r[0]), r[1], r[2], r[3], int(r[4]), r[5], r[6], r[7], json.loads(r[8]), int(r[9])
        )
        for r in rows
    ]


def mark_sent(conn: sqlite3.Connection, item_ids: Iterable[int], now: datetime) -> None:
    conn.executemany(
        "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
        "last_error = NULL WHERE id = ? AND status = 'pending'",
        [(isoformat(now), item_id) for item_id in item_ids],
    )


def mark_failed(
    conn: sqlite3.Connection,
    item: OutboxItem,
    error: str,
    now: datetime,
    *,
    max_attempts: int,
    base: float,
    cap: float,
) -> bool:
    """Record a failed attempt; returns True when the row is now dead-lettered."""
    attempts = item.attempts + 1
    dead = attempts >= max_attempts
    retry_at = now + timedelta(seconds=backoff(attempts, base, cap))
    conn.execute(
        "UPDATE outbox SET attempts = ?, last_error = ?, status = ?, next_attempt_at = ? "
        "WHERE id = ?",
        (attempts, error[:500], "dead" if dead else "pending", isoformat(retry_at), item.id),
    )
    return dead


def retry_dead(store: Store, now: datetime, item_ids: Sequence[int] | None = None) -> int:
    """Put dead-lettered rows back in the queue (all of them, or the given ids)."""
    sql = "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE status = 'dead'"
    params: list[Any] = [isoformat(now)]
    if item_ids:
        sql += f" AND id IN ({','.join('?' * len(item_ids))})"
        params.extend(item_ids)
    with store.transaction() as conn:
        return int(conn.execute(sql, params).rowcount)


def outbox_status(store: Store, dead_limit: int = 10) -> dict[str, Any]:
    """Counts by status, the oldest pending row and the latest dead letters (for ``status``)."""
    if not store.db["outbox"].exists():
        return {"pending": 0, "sent": 0, "dead": 0, "oldest_pending_at": None, "dead_letters": []}
    counts = dict(
        store.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
    )
    oldest = store.conn.execute(
        "SELECT min(created_at) FROM outbox WHERE status = 'pending'"
    ).fetchone()[0]
    dead = [
        {
            "id": row[0],
            "receiver": row[1],
            "channel": row[2],
            "kind": row[3],
            "alert_id": row[4],
            "attempts": row[5],
            "last_error": row[6],
        }
        for row in store.conn.execute(
            "SELECT id, receiver, channel_kind, kind, alert_id, attempts, last_error FROM outbox "
            "WHERE status = 'dead' ORDER BY id DESC LIMIT ?",
            (dead_limit,),
        )
    ]
    return {
        "pending": int(counts.get("pending", 0)),
        "sent": int(counts.get("sent", 0)),
        "dead": int(counts.get("dead", 0)),
        "oldest_pending_at": oldest,
        "dead_letters": dead,
    }
