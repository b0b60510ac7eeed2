"""What ``groundswell status`` (and the UI's health page) report about the running system."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from monitor.config import Config
from monitor.store import Store

__all__ = ["collect_status"]


def collect_status(config: Config, store: Store) -> dict[str, Any]:
    """Per-source state plus archive counts, as plain data (rendered by CLI, UI and /metrics)."""
    states = {state.key: state for state in store.states()}
    sources = []
    for state in states.values():
        item = asdict(state)
        extra = item.pop("extra", None) or {}
        # An open breaker's retry time is the source's real next poll.
        item["breaker_retry_at"] = extra.get("breaker_retry_at")
        sources.append(item)
    configured = {spec.name for spec in config.sources}
    for spec in config.sources:
        if not any(s.source == spec.name for s in states.values()):
            sources.append(
                {
                    "key": spec.name,
                    "source": spec.name,
                    "type": spec.type,
                    "brand": None,
                    "mode": None,
                    "breaker": "closed",
                    "breaker_retry_at": None,
                    "items_total": 0,
                    "last_success_at": None,
                    "last_error": None,
                    "last_error_at": None,
                    "next_poll_at": "at next round",
                    "consecutive_failures": 0,
                    "last_items": 0,
                    "cursor": None,
                    "etag": None,
                    "last_modified": None,
                    "last_attempt_at": None,
                }
            )
    sources.sort(key=lambda s: (s["source"] not in configured, s["key"]))
    return {
        "archive": {
            "path": store.path,
            "posts": store.count("posts"),
            "snapshots": store.count("snapshots"),
            "stories": store.count("stories") if store.db["stories"].exists() else 0,
            "schema_version": store.schema_version(),
        },
        "sources": sources,
        "outbox": _outbox(store),
        "queues": _queues(store),
        "stages": _stages(store),
        "last_alert": _last_alert(store),
    }


def _exists(store: Store, table: str) -> bool:
    return bool(store.db[table].exists())


def _queues(store: Store) -> dict[str, int]:
    """Work waiting for the next ``process`` run."""
    queues: dict[str, int] = {}
    if _exists(store, "assessments"):
        queues["unclassified"] = int(
            store.conn.execute(
                "SELECT count(*) FROM posts p WHERE NOT EXISTS (SELECT 1 FROM assessments a WHERE a.post_id = p.id)"
            ).fetchone()[0]
        )
    if _exists(store, "risk_scores"):
        queues["unscored"] = int(
            store.conn.execute(
                "SELECT count(*) FROM posts p WHERE NOT EXISTS (SELECT 1 FROM risk_scores r WHERE r.post_id = p.id)"
            ).fetchone()[0]
        )
    return queues


def _stages(store: Store) -> list[dict[str, Any]]:
    """Each scheduled job's last run (written by the service), including model load failures."""
    if not _exists(store, "stage_runs"):
        return []
    cursor = store.conn.execute(
        "SELECT stage, last_run_at, last_ok_at, last_error, last_count, last_seconds, runs, failures "
        "FROM stage_runs ORDER BY stage"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _last_alert(store: Store) -> dict[str, Any] | None:
    if not _exists(store, "alerts"):
        return None
    row = store.conn.execute(
        "SELECT id, brand, kind, severity, status, created_at FROM alerts ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return dict(zip(("id", "brand", "kind", "severity", "status", "created_at"), row, strict=True))


def _outbox(store: Store) -> dict[str, Any]:
    """Alert deliveries: pending, sent, dead letters (empty when alerts are not installed)."""
    try:
        from alerts.outbox import outbox_status
    except ImportError:
        return {}
    return outbox_status(store)
