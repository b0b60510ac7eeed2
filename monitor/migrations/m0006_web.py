"""Review UI: users, the human review state of each post, notes, and the inbox index.

``reviews`` is the source of truth for what people decided (status, assignee, snooze, false
positive, label corrections when the model's ``label_feedback`` table is absent). ``inbox`` is a
derived, denormalised copy of what the inbox sorts and filters on (latest risk, severity,
sentiment, status), kept up to date incrementally by ``monitor.web.inbox.sync_inbox`` so that
keyset pagination stays an index range scan on a large archive.
"""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'reviewer', 'admin', 'auditor')),
            password_hash TEXT NOT NULL,      -- argon2id
            session_version INTEGER NOT NULL DEFAULT 1,  -- bumped to end every open session
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_login_at TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE reviews (
            post_id TEXT PRIMARY KEY,
            status TEXT NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'assigned', 'acknowledged', 'resolved', 'false_positive')),
            assignee TEXT,
            snoozed_until TEXT,
            label_sentiment TEXT,             -- corrections, when label_feedback is absent
            label_complaint INTEGER,
            labelled_by TEXT,
            labelled_at TEXT,
            updated_by TEXT,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_reviews_assignee ON reviews(assignee)")
    db.execute(
        """
        CREATE TABLE review_notes (
            id INTEGER PRIMARY KEY,
            post_id TEXT NOT NULL,
            at TEXT NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_review_notes_post ON review_notes(post_id, at)")
    db.execute(
        """
        CREATE TABLE inbox (
            post_id TEXT PRIMARY KEY,
            at TEXT NOT NULL,                 -- coalesce(published_at, first_seen_at)
            brand TEXT,
            source TEXT,
            lang TEXT,
            risk REAL NOT NULL DEFAULT 0,
            severity TEXT,
            sentiment TEXT,
            complaint REAL,
            cues TEXT,                        -- JSON list of cue names
            status TEXT NOT NULL DEFAULT 'new',
            assignee TEXT,
            snoozed_until TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_inbox_risk ON inbox(risk, at, post_id)")
    db.execute("CREATE INDEX idx_inbox_at ON inbox(at, post_id)")
    db.execute("CREATE INDEX idx_inbox_brand ON inbox(brand, at)")
    db.execute(
        "CREATE TABLE inbox_sync (name TEXT PRIMARY KEY, watermark INTEGER NOT NULL DEFAULT 0, "
        "mark TEXT)  -- rowid watermark, or a time mark for WITHOUT ROWID tables"
    )
