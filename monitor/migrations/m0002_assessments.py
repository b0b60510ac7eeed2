"""Model assessments per post and model version, and reviewers' label corrections."""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    # One row per (post, model, version): reclassifying with a new model keeps the history.
    # IF NOT EXISTS: archives seeded for the review UI may already carry this exact table.
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS assessments (
            post_id TEXT NOT NULL,
            model_id TEXT NOT NULL,
            model_version TEXT NOT NULL,
            assessed_at TEXT NOT NULL,    -- ISO 8601 UTC
            lang TEXT,
            sentiment TEXT NOT NULL,      -- negative | neutral | positive
            p_negative REAL, p_neutral REAL, p_positive REAL,
            complaint REAL,               -- 0..1
            risk REAL,                    -- text-only risk 0..1
            cues TEXT,                    -- JSON list of {name, span, start, end}
            PRIMARY KEY (post_id, model_id, model_version)
        )
        """
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_assessments_version ON assessments(model_version, post_id)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_assessments_at ON assessments(assessed_at)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS label_feedback (
            id INTEGER PRIMARY KEY,
            post_id TEXT,
            text TEXT NOT NULL,
            lang TEXT,
            sentiment TEXT,               -- corrected label, NULL when only complaint changed
            complaint INTEGER,            -- 0 | 1 | NULL
            cues TEXT,                    -- JSON list of cue names
            source TEXT NOT NULL DEFAULT 'review',
            reviewer TEXT,
            created_at TEXT NOT NULL      -- ISO 8601 UTC
        )
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_label_feedback_post ON label_feedback(post_id)")
