"""New posts and their brands are inserted as one statement over a JSON array; every value must
come back exactly as an ``executemany`` would have stored it."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.records import Post
from monitor.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _posts() -> list[Post]:
    return [
        Post(
            source="rss",
            native_id="a",
            title='Quotes " and \\ backslashes, emoji 😀, ünïcode, \u2028 separators',
            text="tabs\tand\nnewlines",
            url="https://news.example/a",
            author="Zoë",
            author_followers=1200,
            published_at=T0,
            lang="de",
            extra={"score": 3},
        ),
        Post(source="rss", native_id="b", title="plain", author_followers=None),
        Post(source="rss", native_id="c", title="float reach", author_followers=12.5),  # type: ignore[arg-type]
        # A NUL would be cut short by SQLite's JSON functions: this batch goes row by row.
        Post(source="rss", native_id="d", title="nul \x00 inside", text="x\x00y"),
    ]


def test_bulk_insert_keeps_every_value_exactly(store: Store) -> None:
    posts = _posts()
    clean = posts[:3]
    result = store.upsert_posts([(p, ["Brand", "Other"]) for p in clean], seen_at=T0)
    assert result.new_ids == tuple(p.id for p in clean)
    result = store.upsert_posts([(posts[3], ["Brand"])], seen_at=T0)
    assert result.new == 1
    for post in posts:
        row = store.post(post.id)
        assert row is not None
        assert (row["title"], row["text"], row["author"]) == (post.title, post.text, post.author)
        assert row["author_followers"] == post.author_followers
        assert type(row["author_followers"]) is type(post.author_followers)
    assert store.post("rss:a")["extra"] == '{"score": 3}'  # type: ignore[index]
    assert store.post("rss:a")["published_at"] == "2026-11-02T09:00:00.000000Z"  # type: ignore[index]
    brands = store.conn.execute("SELECT post_id, brand FROM post_brands ORDER BY 1, 2").fetchall()
    assert brands == [
        ("rss:a", "Brand"),
        ("rss:a", "Other"),
        ("rss:b", "Brand"),
        ("rss:b", "Other"),
        ("rss:c", "Brand"),
        ("rss:c", "Other"),
        ("rss:d", "Brand"),
    ]
    # The full-text index saw the bulk rows like any other.
    found = store.conn.execute(
        "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH 'backslashes'"
    ).fetchone()
    assert found == (1,)
