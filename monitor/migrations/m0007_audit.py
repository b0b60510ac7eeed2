"""Audit: the hash-chained, append-only audit log, its head, anchors, and legal holds.

``audit_log`` rows are chained: each row stores ``prev_hash`` (the hash of the row before it,
64 zeros for the first) and ``hash`` = SHA-256 of a canonical JSON of its own fields (see
``monitor.audit.row_hash``). Triggers refuse UPDATE and DELETE on the log and refuse an INSERT
whose ``prev_hash`` is not the current head, so the application cannot break the chain by
accident; someone with write access to the file can drop the triggers, which is what
``groundswell audit verify`` and the anchors kept outside the file are for.
"""

from __future__ import annotations

import sqlite_utils

GENESIS = "0" * 64


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,      -- 1, 2, 3 ... without gaps
            at TEXT NOT NULL,             -- ISO 8601 UTC
            actor TEXT NOT NULL,          -- user name, or "system"
            action TEXT NOT NULL,         -- "alert.ack", "export", "retention.purge" ...
            subject TEXT NOT NULL,        -- what it was done to: "alert:12", "post:rss:abc" ...
            before TEXT,                  -- canonical JSON, or NULL
            after TEXT,                   -- canonical JSON, or NULL
            prev_hash TEXT NOT NULL,      -- hash of the previous row (64 zeros for the first)
            hash TEXT NOT NULL            -- SHA-256 over the canonical JSON of this row's fields
        )
        """
    )
    db.execute("CREATE INDEX idx_audit_log_at ON audit_log(at)")
    db.execute("CREATE INDEX idx_audit_log_action ON audit_log(action, at)")
    db.execute("CREATE INDEX idx_audit_log_subject ON audit_log(subject, at)")
    db.execute("CREATE INDEX idx_audit_log_actor ON audit_log(actor, at)")
    # One row: the last sequence number and hash. Kept by a trigger, so cutting rows off the
    # end of the log (after dropping the log's own triggers) leaves a head that points past it.
    db.execute(
        """
        CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )
    db.execute(f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')")
    db.execute(
        """
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
        WHEN NEW.prev_hash IS NOT (SELECT hash FROM audit_head WHERE id = 1)
          OR NEW.seq IS NOT (SELECT seq + 1 FROM audit_head WHERE id = 1)
        BEGIN SELECT RAISE(ABORT, 'audit_log insert does not extend the chain head'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER audit_log_advance AFTER INSERT ON audit_log
        BEGIN UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; END
        """
    )
    db.execute(
        """
        CREATE TRIGGER audit_head_guard BEFORE UPDATE ON audit_head
        WHEN NEW.seq IS NOT (SELECT max(seq) FROM audit_log)
          OR NEW.hash IS NOT (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1)
        BEGIN SELECT RAISE(ABORT, 'audit_head follows audit_log only'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
        BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END
        """
    )
    # Where and when the chain head was copied out of the archive.
    db.execute(
        """
        CREATE TABLE audit_anchors (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL,
            destination TEXT NOT NULL     -- file path or channel name
        )
        """
    )
    # Legal holds: posts matching an open hold are never purged by retention.
    db.execute(
        """
        CREATE TABLE legal_holds (
            id INTEGER PRIMARY KEY,
            query TEXT NOT NULL,          -- brand query language, e.g. 'author:"Dave Carroll"'
            reason TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            released_by TEXT,
            released_at TEXT              -- NULL while the hold is open
        )
        """
    )
    db.execute("CREATE INDEX idx_legal_holds_open ON legal_holds(released_at)")
    # What retention removed: counts and content hashes stay after the text is gone.
    db.execute(
        """
        CREATE TABLE retention_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            rule TEXT NOT NULL,           -- "text_after=365d", "delete_after=1095d", "forget-author"
            action TEXT NOT NULL,         -- "redact" (text removed) or "delete" (row removed)
            post_id TEXT NOT NULL,
            source TEXT,
            brands TEXT,                  -- comma-separated, so per-brand counts survive
            published_at TEXT,
            content_hash TEXT             -- SHA-256 of title + text as they were
        )
        """
    )
    db.execute("CREATE INDEX idx_retention_log_post ON retention_log(post_id)")
    db.execute("CREATE INDEX idx_retention_log_at ON retention_log(at, rule)")
    _search_support(db)


def _search_support(db: sqlite_utils.Database) -> None:
    """Indexes that let archive search stop early instead of sorting every match.

    ``idx_posts_when`` orders posts by the time auditors sort on. ``posts_time_blocks`` keeps,
    for every block of 1024 rowids, the latest such time in it: walking the full-text index
    newest rowid first, search knows that no older block can hold a later post and can emit
    results before reading every match (see ``monitor.search``).
    """
    db.execute("CREATE INDEX idx_posts_when ON posts(coalesce(published_at, first_seen_at))")
    db.execute(
        """
        CREATE TABLE posts_time_blocks (
            block INTEGER PRIMARY KEY,    -- posts.rowid >> 10
            max_when TEXT NOT NULL        -- max(coalesce(published_at, first_seen_at)) in it
        )
        """
    )
    upsert = (
        "INSERT INTO posts_time_blocks (block, max_when) "
        "VALUES (new.rowid >> 10, coalesce(new.published_at, new.first_seen_at)) "
        "ON CONFLICT(block) DO UPDATE SET max_when = max(max_when, excluded.max_when)"
    )
    db.execute(f"CREATE TRIGGER posts_time_blocks_ai AFTER INSERT ON posts BEGIN {upsert}; END")
    db.execute(
        "CREATE TRIGGER posts_time_blocks_au AFTER UPDATE OF published_at, first_seen_at ON posts "
        f"BEGIN {upsert}; END"
    )
    db.execute(
        "INSERT INTO posts_time_blocks (block, max_when) "
        "SELECT rowid >> 10, max(coalesce(published_at, first_seen_at)) FROM posts GROUP BY 1"
    )
    # Search, export and retention look alerts up by post and by story, once per post.
    if db["alerts"].exists():
        db.execute("CREATE INDEX IF NOT EXISTS idx_alerts_first_post ON alerts(first_post_id)")
        db.execute("CREATE INDEX IF NOT EXISTS idx_alerts_story ON alerts(story_id)")
    if db["alert_events"].exists() and "post_id" in db["alert_events"].columns_dict:
        db.execute("CREATE INDEX IF NOT EXISTS idx_alert_events_post ON alert_events(post_id)")
