"""What the running service did last, per stage: for ``groundswell status``, /healthz and /metrics."""

from __future__ import annotations

from typing import Any


def upgrade(conn: Any) -> None:
    conn.execute(
        """
        CREATE TABLE stage_runs (
            stage TEXT PRIMARY KEY,
            last_run_at TEXT NOT NULL,
            last_ok_at TEXT,
            last_error TEXT,
            last_count BIGINT NOT NULL DEFAULT 0,
            last_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
            runs BIGINT NOT NULL DEFAULT 0,
            failures BIGINT NOT NULL DEFAULT 0
        )
        """
    )
