"""Daily and weekly digests per team: what fired, what is still open, how fast it was handled."""

from __future__ import annotations

import json
import statistics
from datetime import datetime
from typing import Any

from alerts.settings import AlertSettings, DigestSpec
from monitor.records import isoformat, parse_iso
from monitor.store import Store

__all__ = ["due_digests", "send_due_digests", "summarize"]


def due_digests(
    store: Store, settings: AlertSettings, now: datetime
) -> list[tuple[DigestSpec, datetime, datetime]]:
    """(digest, period start, scheduled time) for every digest due at ``now``.

    A digest seen for the first time starts its schedule now instead of sending at once.
    """
    due = []
    for spec in settings.digests:
        scheduled = spec.last_due(now)
        row = store.conn.execute(
            "SELECT last_sent_at FROM alert_digests WHERE name = ?", (spec.name,)
        ).fetchone()
        if row is None:
            with store.transaction() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO alert_digests (name, last_sent_at) VALUES (?, ?)",
                    (spec.name, isoformat(scheduled)),
                )
            continue
        last = parse_iso(row[0])
        if scheduled > last:
            due.append((spec, last, scheduled))
    return due


def summarize(
    store: Store, receiver: str, since: datetime, until: datetime, top: int = 10
) -> dict[str, Any]:
    """Alerts of ``receiver`` touched in [since, until): counts, ack times, the riskiest ones."""
    rows = store.conn.execute(
        "SELECT id, brand, severity, status, state, created_at, acknowledged_at, receivers "
        "FROM alerts WHERE updated_at >= ? AND created_at < ?",
        (isoformat(since), isoformat(until)),
    ).fetchall()
    items = []
    ack_minutes = []
    by_severity = {"critical": 0, "warning": 0, "info": 0}
    by_status = {"firing": 0, "acknowledged": 0, "resolved": 0}
    for alert_id, brand, severity, status, state, created, acked, receivers in rows:
        if receiver not in json.loads(receivers):
            continue
        data = json.loads(state)
        by_severity[severity] = by_severity.get(severity, 0) + 1
        by_status[status] = by_status.get(status, 0) + 1
        if acked:
            ack_minutes.append((parse_iso(acked) - parse_iso(created)).total_seconds() / 60)
        items.append(
            {
                "id": alert_id,
                "brand": brand,
                "severity": severity,
                "status": status,
                "max_risk": float(data.get("max_risk", 0.0)),
                "posts": int(data.get("post_count", 0)),
                "sources": list(data.get("sources", [])),
            }
        )
    items.sort(key=lambda item: (-item["max_risk"], item["id"]))
    return {
        "total": len(items),
        "open": by_status["firing"] + by_status["acknowledged"],
        "by_severity": by_severity,
        "by_status": by_status,
        "median_ack_minutes": round(statistics.median(ack_minutes), 1) if ack_minutes else None,
        "top": items[:top],
    }


def send_due_digests(store: Store, config: Any, now: datetime) -> int:
    """Queue every digest due at ``now`` in the outbox (the ``digest`` stage); returns how many."""
    from alerts.engine import AlertEngine

    return AlertEngine(config, store, lambda: now).send_digests(now)
