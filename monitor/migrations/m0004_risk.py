"""Risk score history per post and brand, brand-level bursts, and the burst detector's progress."""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE risk_scores (
            post_id TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
            brand TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL,             -- when the score was computed (ISO 8601 UTC)
            kind TEXT NOT NULL DEFAULT 'post',  -- post | story
            risk REAL NOT NULL,           -- 0..1
            severity TEXT,                -- info | warning | critical | NULL (below info)
            harm REAL,
            reach REAL,
            spread REAL,
            forecast REAL,                -- forecast final engagement units
            reasons TEXT NOT NULL DEFAULT '[]',     -- JSON list of strings
            components TEXT NOT NULL DEFAULT '{}',  -- JSON: every number behind the score
            PRIMARY KEY (post_id, brand, at)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX idx_risk_scores_at ON risk_scores(at)")
    db.execute("CREATE INDEX idx_risk_scores_risk ON risk_scores(risk)")
    db.execute(
        """
        CREATE TABLE bursts (
            brand TEXT NOT NULL,
            series TEXT NOT NULL,         -- all | negative
            hour TEXT NOT NULL,           -- start of the hour (ISO 8601 UTC)
            kind TEXT NOT NULL,           -- spike | ramp
            count INTEGER NOT NULL,
            expected REAL NOT NULL,
            p_value REAL NOT NULL,
            cusum REAL NOT NULL,
            is_competitor INTEGER NOT NULL DEFAULT 0,
            post_id TEXT,                 -- the most representative post of that hour
            detected_at TEXT NOT NULL,
            PRIMARY KEY (brand, series, hour)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE burst_state (
            brand TEXT NOT NULL,
            evaluated_until TEXT NOT NULL,  -- hours before this were judged already
            PRIMARY KEY (brand)
        ) WITHOUT ROWID
        """
    )
