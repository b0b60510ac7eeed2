"""Stories (clusters of posts about one thing), first-seen per source, and the LSH index."""

from __future__ import annotations

from typing import Any


def upgrade(conn: Any) -> None:
    conn.execute(
        """
        CREATE TABLE stories (
            rowid BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT PRIMARY KEY,
            first_post_id TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            mentions BIGINT NOT NULL DEFAULT 0,
            sources BIGINT NOT NULL DEFAULT 0
        )
        """
    )
    conn.execute("CREATE INDEX idx_stories_last_seen ON stories(last_seen_at)")
    conn.execute(
        """
        CREATE TABLE story_sources (
            story_id TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            first_post_id TEXT NOT NULL,
            mentions BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (story_id, source)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE story_signatures (
            rowid BIGINT GENERATED ALWAYS AS IDENTITY,
            post_id TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            story_id TEXT NOT NULL,
            at TEXT NOT NULL,
            signature BYTEA NOT NULL,
            PRIMARY KEY (post_id, kind)
        )
        """
    )
    conn.execute("CREATE INDEX idx_story_signatures_at ON story_signatures(at)")
    conn.execute("CREATE INDEX idx_story_signatures_story ON story_signatures(story_id, kind, at)")
    conn.execute(
        """
        CREATE TABLE story_bands (
            band BIGINT NOT NULL,
            key BIGINT NOT NULL,
            story_id TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (band, key, story_id)
        )
        """
    )
    conn.execute("CREATE INDEX idx_story_bands_at ON story_bands(at)")
