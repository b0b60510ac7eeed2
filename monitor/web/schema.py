"""Which optional tables and columns this archive has.

The UI runs on any archive: one with only posts, or one where sentiment, risk, alerts and audit
have written their tables. Every page asks here before it reads a feature's table.
"""

from __future__ import annotations

import sqlite3

__all__ = ["columns", "has_table"]


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether a table (or view) called ``name`` exists."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (name,)
    ).fetchone()
    return row is not None


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """Column names of ``table`` (empty when it does not exist)."""
    if not has_table(conn, table):
        return []
    return [row[1] for row in conn.execute(f"PRAGMA table_info([{table}])")]
