"""Alert threads, their history, the delivery outbox, silences and digest bookkeeping."""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            group_key TEXT NOT NULL,        -- one spreading story = one thread
            brand TEXT NOT NULL,
            kind TEXT NOT NULL,             -- post | story | burst
            severity TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'firing',  -- firing | acknowledged | resolved
            route TEXT NOT NULL,            -- matched route path
            receiver TEXT NOT NULL,         -- first receiver (escalation starts here)
            receivers TEXT NOT NULL,        -- JSON list of every receiver
            labels TEXT NOT NULL,           -- JSON
            first_post_id TEXT,
            story_id TEXT,
            risk REAL NOT NULL,
            reasons TEXT NOT NULL,          -- JSON list (latest)
            state TEXT NOT NULL,            -- JSON: aggregated view of the thread
            notified_state TEXT,            -- JSON: what the last notification said
            event_count INTEGER NOT NULL DEFAULT 0,
            seq INTEGER NOT NULL DEFAULT 0, -- notifications sent for this thread
            group_wait REAL NOT NULL,
            group_interval REAL NOT NULL,
            repeat_interval REAL NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_event_at TEXT NOT NULL,
            pending_since TEXT,             -- score time of the oldest change not yet notified
            next_notify_at TEXT,
            first_notified_at TEXT,
            notified_at TEXT,
            escalation_level INTEGER NOT NULL DEFAULT 0,
            escalated_at TEXT,
            acknowledged_by TEXT,
            acknowledged_at TEXT,
            acknowledged_via TEXT,
            resolved_by TEXT,
            resolved_at TEXT,
            resolved_via TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_alerts_group ON alerts(group_key, status)")
    db.execute("CREATE INDEX idx_alerts_status ON alerts(status, next_notify_at)")
    db.execute("CREATE INDEX idx_alerts_updated ON alerts(updated_at)")
    db.execute(
        """
        CREATE TABLE alert_events (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER REFERENCES alerts(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,   -- fired grouped silenced inhibited notified acknowledged
                                  -- escalated resolved
            actor TEXT NOT NULL DEFAULT 'system',
            post_id TEXT,
            detail TEXT           -- JSON
        )
        """
    )
    db.execute("CREATE INDEX idx_alert_events_alert ON alert_events(alert_id, at)")
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            alert_id INTEGER REFERENCES alerts(id) ON DELETE SET NULL,
            receiver TEXT NOT NULL,
            channel_index INTEGER NOT NULL,  -- position in the receiver's channels; -1 = log only
            channel_kind TEXT NOT NULL,      -- apprise | webhook | log
            kind TEXT NOT NULL,              -- fired updated repeat escalated resolved ...
            severity TEXT NOT NULL,
            payload TEXT NOT NULL,           -- JSON: rendered message, never a secret
            status TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | dead
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            deferred_reason TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            event_at TEXT,                   -- score time of the oldest change it reports
            sent_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_outbox_due ON outbox(status, next_attempt_at)")
    db.execute("CREATE INDEX idx_outbox_alert ON outbox(alert_id)")
    db.execute(
        """
        CREATE TABLE silences (
            id INTEGER PRIMARY KEY,
            matchers TEXT NOT NULL,     -- JSON list of matcher strings
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            expired_at TEXT             -- set when lifted early
        )
        """
    )
    db.execute("CREATE INDEX idx_silences_ends ON silences(ends_at)")
    db.execute("CREATE TABLE alert_digests (name TEXT PRIMARY KEY, last_sent_at TEXT NOT NULL)")
