"""Alert lifecycle: firing → acknowledged → resolved, from the CLI, the web UI or a signed link.

These functions only change the alert and record who did it; the engine's next ``tick`` tells
the receivers ("acknowledged by …", "resolved by …") through the outbox.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from alerts.journal import audit
from monitor.records import isoformat, utcnow
from monitor.store import Store

__all__ = [
    "STATUSES",
    "AlertNotFoundError",
    "TransitionError",
    "ack",
    "get_alert",
    "list_alerts",
    "resolve",
]

STATUSES = ("firing", "acknowledged", "resolved")
_JSON_COLUMNS = ("receivers", "labels", "reasons", "state", "notified_state")


class AlertNotFoundError(LookupError):
    """No alert with that id."""


class TransitionError(ValueError):
    """The alert cannot make that move (e.g. acknowledging a resolved alert)."""


def decode_row(names: list[str], row: tuple) -> dict[str, Any]:
    item = dict(zip(names, row, strict=True))
    for column in _JSON_COLUMNS:
        if column in item and item[column] is not None:
            item[column] = json.loads(item[column])
    return item


def get_alert(store: Store, alert_id: int) -> dict[str, Any] | None:
    """One alert row with its JSON columns decoded, or None."""
    cursor = store.conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    return decode_row([d[0] for d in cursor.description], row)


def list_alerts(
    store: Store,
    *,
    status: str | None = None,
    brand: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Alerts newest first, optionally filtered by status and brand."""
    sql = "SELECT * FROM alerts WHERE 1 = 1"
    params: list[Any] = []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if brand:
        sql += " AND brand = ? COLLATE NOCASE"
        params.append(brand)
    sql += " ORDER BY updated_at DESC, id DESC LIMIT ?"
    params.append(limit)
    cursor = store.conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [decode_row(names, row) for row in cursor.fetchall()]


def _transition(
    store: Store,
    alert_id: int,
    actor: str,
    via: str,
    now: datetime | None,
    target: str,
) -> dict[str, Any]:
    if not actor.strip():
        raise TransitionError("say who you are (actor)")
    moment = now or utcnow()
    stamp = isoformat(moment)
    with store.transaction() as conn:
        alert = get_alert(store, alert_id)
        if alert is None:
            raise AlertNotFoundError(f"no alert with id {alert_id}")
        before = alert["status"]
        if before == target:
            return alert  # a second click on the same link changes nothing
        if before == "resolved":
            raise TransitionError(f"alert {alert_id} is already resolved")
        column = "acknowledged" if target == "acknowledged" else "resolved"
        conn.execute(
            f"UPDATE alerts SET status = ?, {column}_by = ?, {column}_at = ?, {column}_via = ?, "
            "updated_at = ?, next_notify_at = ? WHERE id = ?",
            (target, actor, stamp, via, stamp, stamp, alert_id),
        )
        conn.execute(
            "INSERT INTO alert_events (alert_id, at, kind, actor, detail) VALUES (?, ?, ?, ?, ?)",
            (alert_id, stamp, target, actor, json.dumps({"via": via, "from": before})),
        )
        audit(
            store,
            "alert.ack" if target == "acknowledged" else "alert.resolve",
            f"alert:{alert_id}",
            actor=actor,
            before={"status": before},
            after={"status": target, "via": via},
            at=moment,
        )
        updated = get_alert(store, alert_id)
    if updated is None:  # deleted concurrently
        raise AlertNotFoundError(f"no alert with id {alert_id}")
    return updated


def ack(
    store: Store, alert_id: int, actor: str, via: str = "cli", *, now: datetime | None = None
) -> dict[str, Any]:
    """Acknowledge an alert: someone is on it (stops reminders and escalation)."""
    return _transition(store, alert_id, actor, via, now, "acknowledged")


def resolve(
    store: Store, alert_id: int, actor: str, via: str = "cli", *, now: datetime | None = None
) -> dict[str, Any]:
    """Resolve an alert: answered and closed. New events for the story open a new thread."""
    return _transition(store, alert_id, actor, via, now, "resolved")
