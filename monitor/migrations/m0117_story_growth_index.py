"""Stories' growth found by index: posts indexed by (story_id, first_seen_at).

The score stage asks, for a mention, whether its story has a post first seen after the mention's
last score. With an index on ``story_id`` alone that reads every post of the story, once per
mention: a syndicated story of thousands of copies made the question cost seconds per run. The
composite index answers it with one seek and still serves lookups by ``story_id``.
"""

from __future__ import annotations

import sqlite_utils


def upgrade(db: sqlite_utils.Database) -> None:
    db.execute("DROP INDEX IF EXISTS idx_posts_story_id")
    db.execute("CREATE INDEX idx_posts_story_id ON posts(story_id, first_seen_at)")
