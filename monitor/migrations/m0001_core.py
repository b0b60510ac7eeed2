"""Posts, brand mentions, engagement snapshots, per-source state, and the full-text index."""

from __future__ import annotations

import sqlite_utils

from monitor.textnorm import FTS5_TOKENIZE, SQL_FOLD


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE posts (
            id TEXT PRIMARY KEY,          -- "{source}:{native_id}"
            source TEXT NOT NULL,         -- source type: rss, reddit, news ...
            native_id TEXT NOT NULL,
            source_name TEXT,             -- configured source / feed / subreddit
            url TEXT,
            canonical_url TEXT,
            site TEXT,
            author TEXT,
            author_followers INTEGER,
            lang TEXT,
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            published_at TEXT,            -- ISO 8601 UTC
            raw_date TEXT,                -- the date as the source wrote it
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            story_id TEXT,
            extra TEXT                    -- JSON
        )
        """
    )
    for column in (
        "published_at",
        "first_seen_at",
        "source",
        "story_id",
        "canonical_url",
        "author",
        "lang",
    ):
        db.execute(f"CREATE INDEX idx_posts_{column} ON posts({column})")
    db.execute(
        """
        CREATE TABLE post_brands (
            post_id TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
            brand TEXT NOT NULL,
            matched_at TEXT NOT NULL,
            PRIMARY KEY (post_id, brand)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX idx_post_brands_brand ON post_brands(brand, post_id)")
    db.execute(
        """
        CREATE TABLE snapshots (
            post_id TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            likes INTEGER,
            shares INTEGER,
            comments INTEGER,
            views INTEGER,
            PRIMARY KEY (post_id, at)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE source_state (
            key TEXT PRIMARY KEY,         -- source name, or "source|brand" for per-brand sources
            source TEXT NOT NULL,
            brand TEXT,
            type TEXT NOT NULL,
            cursor TEXT,
            etag TEXT,
            last_modified TEXT,
            mode TEXT,
            last_attempt_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            items_total INTEGER NOT NULL DEFAULT 0,
            last_items INTEGER NOT NULL DEFAULT 0,
            next_poll_at TEXT,
            breaker TEXT NOT NULL DEFAULT 'closed',
            extra TEXT
        )
        """
    )
    # External-content FTS5 index over posts. The triggers fold letters that unicode61 does not
    # (ł, ß, ø ...) so that "lodz" finds "Łódź" just as the query language does.
    db.execute(
        "CREATE VIRTUAL TABLE posts_fts USING fts5(title, text, author, content='posts', "
        f"content_rowid='rowid', tokenize={FTS5_TOKENIZE})"
    )
    fold_new = ", ".join(SQL_FOLD(f"coalesce(new.{c}, '')") for c in ("title", "text", "author"))
    fold_old = ", ".join(SQL_FOLD(f"coalesce(old.{c}, '')") for c in ("title", "text", "author"))
    db.execute(
        f"CREATE TRIGGER posts_fts_ai AFTER INSERT ON posts BEGIN "
        f"INSERT INTO posts_fts(rowid, title, text, author) VALUES (new.rowid, {fold_new}); END"
    )
    db.execute(
        f"CREATE TRIGGER posts_fts_ad AFTER DELETE ON posts BEGIN "
        f"INSERT INTO posts_fts(posts_fts, rowid, title, text, author) "
        f"VALUES ('delete', old.rowid, {fold_old}); END"
    )
    db.execute(
        f"CREATE TRIGGER posts_fts_au AFTER UPDATE OF title, text, author ON posts BEGIN "
        f"INSERT INTO posts_fts(posts_fts, rowid, title, text, author) "
        f"VALUES ('delete', old.rowid, {fold_old}); "
        f"INSERT INTO posts_fts(rowid, title, text, author) VALUES (new.rowid, {fold_new}); END"
    )
