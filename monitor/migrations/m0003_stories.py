"""Stories (clusters of posts about one thing), first-seen per source, and the LSH index."""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE stories (
            id TEXT PRIMARY KEY,              -- "st-" + hash of the first post's id
            first_post_id TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            mentions INTEGER NOT NULL DEFAULT 0,
            sources INTEGER NOT NULL DEFAULT 0  -- distinct source types that carried it
        )
        """
    )
    db.execute("CREATE INDEX idx_stories_last_seen ON stories(last_seen_at)")
    db.execute(
        """
        CREATE TABLE story_sources (
            story_id TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
            source TEXT NOT NULL,             -- source type: rss, google_news, reddit ...
            first_seen_at TEXT NOT NULL,      -- when the story first reached this source
            first_post_id TEXT NOT NULL,
            mentions INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (story_id, source)
        ) WITHOUT ROWID
        """
    )
    # MinHash signatures and LSH band keys of recent posts, for incremental clustering.
    db.execute(
        """
        CREATE TABLE story_signatures (
            post_id TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,               -- "text" (title + opening) or "title" (headline)
            story_id TEXT NOT NULL,
            at TEXT NOT NULL,
            signature BLOB NOT NULL,
            PRIMARY KEY (post_id, kind)
        )
        """
    )
    db.execute("CREATE INDEX idx_story_signatures_at ON story_signatures(at)")
    db.execute("CREATE INDEX idx_story_signatures_story ON story_signatures(story_id, kind, at)")
    # One row per band, key and story (not per post; bands 0-31 text, 32-63 headline): a story copied a thousand times is still
    # one candidate. ``at`` is the newest first-seen time that touched the row.
    db.execute(
        """
        CREATE TABLE story_bands (
            band INTEGER NOT NULL,
            key INTEGER NOT NULL,
            story_id TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (band, key, story_id)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX idx_story_bands_at ON story_bands(at)")
