"""Alerts and silences as the UI sees them: lists, the thread of a post, ack/resolve, silences.

When the alerts package is installed its functions are used (``alerts.lifecycle.ack``/``resolve``,
``alerts.silences.create_silence``/``expire_silence``), so the CLI, chat links and the UI change
alerts the same way; otherwise the UI updates the tables directly and writes the same events.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from monitor.records import isoformat, utcnow
from monitor.store import Store
from monitor.web.reviews import audit
from monitor.web.schema import columns, has_table

__all__ = [
    "AlertActionError",
    "ack_alert",
    "alert_events",
    "alerts_for_post",
    "create_silence",
    "expire_silence",
    "list_alerts",
    "list_silences",
    "resolve_alert",
]


class AlertActionError(ValueError):
    """An alert or silence action that cannot be applied."""


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _json_list(raw: Any) -> list[Any]:
    if not raw:
        return []
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return [str(raw)]
    return value if isinstance(value, list) else [value]


def _reason_text(reason: Any) -> str:
    if isinstance(reason, dict):
        text = reason.get("text") or reason.get("reason") or reason.get("name") or ""
        return str(text) if text else json.dumps(reason, sort_keys=True)
    return str(reason)


def list_alerts(
    store: Store, statuses: tuple[str, ...] = ("firing", "acknowledged"), limit: int = 200
) -> list[dict[str, Any]]:
    """Alerts in ``statuses``, most severe and newest first."""
    if not has_table(store.conn, "alerts"):
        return []
    marks = ", ".join("?" * len(statuses))
    cur = store.conn.execute(
        f"SELECT * FROM alerts WHERE status IN ({marks}) ORDER BY "
        "CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, updated_at DESC "
        "LIMIT ?",
        (*statuses, limit),
    )
    rows = _dicts(cur)
    for row in rows:
        row["reason_texts"] = [_reason_text(r) for r in _json_list(row.get("reasons"))]
    return rows


def alerts_for_post(store: Store, post_id: str, story_id: str | None) -> list[dict[str, Any]]:
    """Alert threads that involve this post or its story, each with its events."""
    if not has_table(store.conn, "alerts"):
        return []
    clauses = ["first_post_id = ?"]
    args: list[Any] = [post_id]
    if story_id:
        clauses.append("story_id = ?")
        args.append(story_id)
    if has_table(store.conn, "alert_events"):
        clauses.append("id IN (SELECT alert_id FROM alert_events WHERE post_id = ?)")
        args.append(post_id)
    rows = _dicts(
        store.conn.execute(
            f"SELECT * FROM alerts WHERE {' OR '.join(clauses)} ORDER BY created_at DESC", args
        )
    )
    for row in rows:
        row["reason_texts"] = [_reason_text(r) for r in _json_list(row.get("reasons"))]
        row["events"] = alert_events(store, int(row["id"]))
    return rows


def alert_events(store: Store, alert_id: int) -> list[dict[str, Any]]:
    """The history of one alert thread, oldest first."""
    if not has_table(store.conn, "alert_events"):
        return []
    return _dicts(
        store.conn.execute(
            "SELECT id, at, kind, actor, post_id, detail FROM alert_events WHERE alert_id = ? "
            "ORDER BY at, id",
            (alert_id,),
        )
    )


def _lifecycle(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    func = getattr(found, name, None)
    return func if callable(func) else None


def _alert(store: Store, alert_id: int) -> dict[str, Any]:
    if not has_table(store.conn, "alerts"):
        raise AlertActionError("this archive has no alerts")
    rows = _dicts(store.conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)))
    if not rows:
        raise AlertActionError(f"no alert {alert_id}")
    return rows[0]


def _transition(store: Store, alert_id: int, actor: str, target: str, now: datetime) -> None:
    alert = _alert(store, alert_id)
    if alert["status"] == "resolved" or alert["status"] == target:
        raise AlertActionError(f"alert {alert_id} is already {alert['status']}")
    stamp = isoformat(now)
    prefix = "acknowledged" if target == "acknowledged" else "resolved"
    cols = set(columns(store.conn, "alerts"))
    sets = ["status = ?", "updated_at = ?"]
    args: list[Any] = [target, stamp]
    for suffix, value in (("by", actor), ("at", stamp), ("via", "web")):
        if f"{prefix}_{suffix}" in cols:
            sets.append(f"{prefix}_{suffix} = ?")
            args.append(value)
    store.conn.execute(f"UPDATE alerts SET {', '.join(sets)} WHERE id = ?", (*args, alert_id))
    if has_table(store.conn, "alert_events"):
        store.conn.execute(
            "INSERT INTO alert_events (alert_id, at, kind, actor, detail) VALUES (?, ?, ?, ?, ?)",
            (alert_id, stamp, target, actor, json.dumps({"via": "web"})),
        )
    audit(
        store,
        actor,
        "alert.ack" if target == "acknowledged" else "alert.resolve",
        f"alert:{alert_id}",
        {"status": alert["status"]},
        {"status": target},
    )


def _change(store: Store, alert_id: int, actor: str, target: str, now: datetime | None) -> None:
    name = "ack" if target == "acknowledged" else "resolve"
    func = _lifecycle("alerts.lifecycle", name)
    if func is not None:
        _alert(store, alert_id)
        try:
            func(store, alert_id, actor, "web", now=now or utcnow())
        except (ValueError, LookupError) as exc:
            raise AlertActionError(str(exc)) from exc
        return
    with store.transaction():
        _transition(store, alert_id, actor, target, now or utcnow())


def ack_alert(store: Store, alert_id: int, actor: str, now: datetime | None = None) -> None:
    """Acknowledge an alert thread (stops escalation)."""
    _change(store, alert_id, actor, "acknowledged", now)


def resolve_alert(store: Store, alert_id: int, actor: str, now: datetime | None = None) -> None:
    """Resolve an alert thread."""
    _change(store, alert_id, actor, "resolved", now)


def list_silences(
    store: Store, now: datetime | None = None, include_expired: bool = False
) -> list[dict[str, Any]]:
    """Silences that are active or upcoming (and recently ended ones when asked)."""
    if not has_table(store.conn, "silences"):
        return []
    stamp = isoformat(now or utcnow())
    where = "" if include_expired else "WHERE ends_at > ? AND expired_at IS NULL"
    args = () if include_expired else (stamp,)
    rows = _dicts(store.conn.execute(f"SELECT * FROM silences {where} ORDER BY ends_at", args))
    for row in rows:
        row["matcher_list"] = [str(m) for m in _json_list(row.get("matchers"))]
        row["active"] = row["starts_at"] <= stamp < row["ends_at"] and not row.get("expired_at")
    return rows


def _check_matchers(matchers: list[str]) -> list[str]:
    cleaned = [m.strip() for m in matchers if m.strip()]
    if not cleaned:
        raise AlertActionError("a silence needs at least one matcher, e.g. brand=Acme")
    try:
        from alerts.matchers import MatcherError, parse_matchers
    except ImportError:
        return cleaned
    try:
        parse_matchers(cleaned)
    except MatcherError as exc:
        raise AlertActionError(str(exc)) from exc
    return cleaned


def create_silence(
    store: Store,
    matchers: list[str],
    duration: timedelta,
    actor: str,
    comment: str = "",
    now: datetime | None = None,
) -> int:
    """Silence alerts matching every matcher for ``duration``; returns the silence id."""
    if not has_table(store.conn, "silences"):
        raise AlertActionError("this archive has no silences table")
    if not timedelta(minutes=1) <= duration <= timedelta(days=90):
        raise AlertActionError("silence between one minute and 90 days")
    cleaned = _check_matchers(matchers)
    now = now or utcnow()
    create = _lifecycle("alerts.silences", "create_silence")
    if create is not None:
        try:
            silence = create(
                store,
                cleaned,
                starts_at=now,
                ends_at=now + duration,
                created_by=actor,
                comment=comment.strip()[:500],
                now=now,
            )
        except ValueError as exc:
            raise AlertActionError(str(exc)) from exc
        return int(silence.id)
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                json.dumps(cleaned),
                isoformat(now),
                isoformat(now + duration),
                actor,
                comment.strip()[:500],
                isoformat(now),
            ),
        )
        silence_id = int(cursor.lastrowid or 0)
        audit(
            store,
            actor,
            "silence.create",
            f"silence:{silence_id}",
            None,
            {"matchers": cleaned, "ends_at": isoformat(now + duration), "comment": comment},
        )
    return silence_id


def expire_silence(store: Store, silence_id: int, actor: str, now: datetime | None = None) -> None:
    """Lift a silence now."""
    if not has_table(store.conn, "silences"):
        raise AlertActionError("this archive has no silences table")
    now = now or utcnow()
    expire = _lifecycle("alerts.silences", "expire_silence")
    if expire is not None:
        try:
            expire(store, silence_id, actor=actor, now=now)
        except ValueError as exc:
            raise AlertActionError(str(exc)) from exc
        return
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT ends_at, expired_at FROM silences WHERE id = ?", (silence_id,)
        ).fetchone()
        if row is None:
            raise AlertActionError(f"no silence {silence_id}")
        if row[1] is not None or row[0] <= isoformat(now):
            raise AlertActionError(f"silence {silence_id} has already ended")
        conn.execute(
            "UPDATE silences SET expired_at = ?, ends_at = ? WHERE id = ?",
            (isoformat(now), isoformat(now), silence_id),
        )
        audit(
            store,
            actor,
            "silence.expire",
            f"silence:{silence_id}",
            {"ends_at": row[0]},
            {"ends_at": isoformat(now)},
        )
