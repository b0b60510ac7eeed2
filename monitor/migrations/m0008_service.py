"""What the running service did last, per stage: for ``groundswell status``, /healthz and /metrics."""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE stage_runs (
            stage TEXT PRIMARY KEY,       -- collect:<source>, process, repoll, retention, ...
            last_run_at TEXT NOT NULL,
            last_ok_at TEXT,
            last_error TEXT,
            last_count INTEGER NOT NULL DEFAULT 0,
            last_seconds REAL NOT NULL DEFAULT 0,
            runs INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID
        """
    )
