"""Inbox filters without reading posts: the source name in the inbox, filters in the sort indexes.

The inbox's source filter matches the source type or the configured source name; with
``inbox.source_name`` it no longer reads each candidate's post. The sort indexes also carry
``status``, ``snoozed_until`` and ``lang``, so the open-items filter and the language filter are
checked on index entries during a walk and only entries that pass read their inbox row.
"""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE inbox ADD COLUMN source_name TEXT")
    db.execute(
        "UPDATE inbox SET source_name = (SELECT p.source_name FROM posts p WHERE p.id = inbox.post_id)"
    )
    db.execute("DROP INDEX idx_inbox_risk")
    db.execute("DROP INDEX idx_inbox_at")
    db.execute(
        "CREATE INDEX idx_inbox_risk ON inbox(risk, at, post_id, post_rowid, status, snoozed_until, lang)"
    )
    db.execute(
        "CREATE INDEX idx_inbox_at ON inbox(at, post_id, post_rowid, status, snoozed_until, lang)"
    )
