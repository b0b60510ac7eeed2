"""Inbox search: each inbox row knows its post's rowid, and the sort indexes carry it.

The search box narrows the inbox with the full-text index, whose matches are post rowids.
``inbox.post_rowid`` joins them without a lookup by post id; ``idx_inbox_post_rowid`` drives a
rare term's matches into the inbox, and the two sort indexes end with ``post_rowid`` so that a
common term's walk down the inbox order checks each entry against the matches from the index
alone, reading the inbox row only for entries that match (see ``monitor.web.inbox``).
"""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE inbox ADD COLUMN post_rowid INTEGER")
    db.execute(
        "UPDATE inbox SET post_rowid = (SELECT p.rowid FROM posts p WHERE p.id = inbox.post_id)"
    )
    db.execute("DROP INDEX idx_inbox_risk")
    db.execute("DROP INDEX idx_inbox_at")
    db.execute("CREATE INDEX idx_inbox_risk ON inbox(risk, at, post_id, post_rowid)")
    db.execute("CREATE INDEX idx_inbox_at ON inbox(at, post_id, post_rowid)")
    db.execute("CREATE INDEX idx_inbox_post_rowid ON inbox(post_rowid)")
