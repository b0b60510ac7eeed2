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
    }


def _outbox(store: Store) -> dict[str, Any]:
    """Alert deliveries: pending, sent, dead letters (empty when alerts are not installed)."""
    try:
        from alerts.outbox import outbox_status
    except ImportError:
        return {}
    return outbox_status(store)
