"""Risk score history per post and brand, brand-level bursts, and the burst detector's progress."""

from __future__ import annotations

from typing import Any


def upgrade(conn: Any) -> None:
    conn.execute(
        """
        CREATE TABLE risk_scores (
            post_id TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
            brand TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'post',
            risk DOUBLE PRECISION NOT NULL,
            severity TEXT,
            harm DOUBLE PRECISION,
            reach DOUBLE PRECISION,
            spread DOUBLE PRECISION,
            forecast DOUBLE PRECISION,
            reasons TEXT NOT NULL DEFAULT '[]',
            components TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (post_id, brand, at)
        )
        """
    )
    conn.execute("CREATE INDEX idx_risk_scores_at ON risk_scores(at)")
    conn.execute("CREATE INDEX idx_risk_scores_risk ON risk_scores(risk)")
    conn.execute(
        """
        CREATE TABLE bursts (
            brand TEXT NOT NULL,
            series TEXT NOT NULL,
            hour TEXT NOT NULL,
            kind TEXT NOT NULL,
            count BIGINT NOT NULL,
            expected DOUBLE PRECISION NOT NULL,
            p_value DOUBLE PRECISION NOT NULL,
            cusum DOUBLE PRECISION NOT NULL,
            is_competitor BIGINT NOT NULL DEFAULT 0,
            post_id TEXT,
            detected_at TEXT NOT NULL,
            PRIMARY KEY (brand, series, hour)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE burst_state (
            brand TEXT NOT NULL,
            evaluated_until TEXT NOT NULL,
            PRIMARY KEY (brand)
        )
        """
    )
