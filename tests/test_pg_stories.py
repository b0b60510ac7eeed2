"""Story assignment with several workers on one PostgreSQL archive."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from monitor.pg.store import PgStore
from monitor.records import Post
from monitor.stories import assign_stories

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TEXT = (
    "Aurora Air refused my refund after the cancelled flight to Lisbon, three weeks of calls "
    "and the hotline keeps hanging up on me, I am talking to a lawyer and the press now"
)


def _post(store: PgStore, source: str, native: str, text: str) -> str:
    post = Post(source, native, "", text, url=f"https://{source}.example/{native}", lang="en")
    store.upsert_posts([(post, ["Aurora Air"])], seen_at=NOW)
    return post.id


def test_copies_at_two_workers_at_once_become_one_story(pg_archive: str) -> None:
    results: list[str] = []
    with PgStore.open(pg_archive) as first, PgStore.open(pg_archive) as second:
        a = _post(first, "reddit", "a1", TEXT)
        b = _post(second, "mastodon", "b1", TEXT + " #aurora")

        def other_worker() -> None:
            assign_stories(second, [b], NOW)
            results.append(
                second.conn.execute("SELECT story_id FROM posts WHERE id = ?", (b,)).fetchone()[0]
            )

        with first.exclusive("stories"):
            assign_stories(first, [a], NOW)  # written, not yet committed
            worker = threading.Thread(target=other_worker)
            worker.start()
            worker.join(0.5)
            assert worker.is_alive()  # waits for the first batch instead of missing it
        worker.join(10)
        assert not worker.is_alive()
        story = first.conn.execute("SELECT story_id FROM posts WHERE id = ?", (a,)).fetchone()[0]
    assert story is not None and results == [story]
