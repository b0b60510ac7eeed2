"""Incremental scoring state: the cached forecast calibration and hourly mention counts for bursts.

``risk_calibration`` keeps the per-source calibration learned from the archive together with the
cutoff and settings it was learned with, so the score stage re-learns it only when the cutoff
moves on (``[risk.forecast] calibration_refresh``). ``burst_hours`` keeps each brand's hourly
counts (all and negative mentions) for the hours already judged, so judging a new hour reads one
hour of posts instead of the whole burst history. ``burst_state.counted`` says whether
``burst_hours`` holds a brand's counts up to ``evaluated_until`` (0 for archives from before
this migration: their counts are rebuilt from the posts once).
"""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE risk_calibration (
            name TEXT PRIMARY KEY,        -- 'forecast'
            settings TEXT NOT NULL,       -- fingerprint of the settings it was learned with
            cutoff TEXT NOT NULL,         -- learned from posts published up to here (ISO UTC)
            learned_at TEXT NOT NULL,     -- the score run's clock when it was learned
            posts INTEGER NOT NULL,       -- posts read
            data TEXT NOT NULL            -- JSON: source -> ratios, ordinary, viral, posts
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE burst_hours (
            brand TEXT NOT NULL,
            hour TEXT NOT NULL,           -- start of the hour (ISO 8601 UTC)
            total INTEGER NOT NULL,       -- mentions first seen in that hour
            negative INTEGER NOT NULL,    -- of which negative (harm >= negative_threshold)
            PRIMARY KEY (brand, hour)
        ) WITHOUT ROWID
        """
    )
    db.execute("ALTER TABLE burst_state ADD COLUMN counted INTEGER NOT NULL DEFAULT 0")
