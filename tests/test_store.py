"""The archive: migrations, idempotent upserts, snapshots on change, FTS kept in sync, read-only."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.records import Post, Snapshot
from monitor.store import ReadOnlyError, SourceState, Store

T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


def post(
    native_id: str = "1", text: str = "Acme Air lost my guitar", likes: int | None = None, **kw
) -> Post:
    engagement = Snapshot(T0, likes=likes, shares=0) if likes is not None else None
    return Post(
        source="rss",
        native_id=native_id,
        title=kw.pop("title", "Guitar"),
        text=text,
        published_at=T0,
        engagement=engagement,
        **kw,
    )


def fts_ids(store: Store, match: str) -> list[str]:
    return [
        row[0]
        for row in store.conn.execute(
            "SELECT p.id FROM posts_fts JOIN posts p ON p.rowid = posts_fts.rowid WHERE posts_fts MATCH ? ORDER BY p.id",
            (match,),
        )
    ]


def test_migrations_are_recorded_and_idempotent(store: Store) -> None:
    version = store.schema_version()
    assert version >= 1
    assert store.migrate() == []
    names = {row[0] for row in store.conn.execute("SELECT name FROM schema_migrations")}
    assert "core" in names
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_post_seen_twice_is_one_row(store: Store) -> None:
    first = store.upsert_posts([(post(), ["Acme Air"])], seen_at=T0)
    second = store.upsert_posts([(post(), ["Acme Air"])], seen_at=T0 + timedelta(minutes=5))
    assert (first.new, first.updated) == (1, 0)
    assert (second.new, second.updated) == (0, 1)
    assert store.count("posts") == 1
    assert store.count("post_brands") == 1
    row = store.post("rss:1")
    assert row is not None
    assert row["first_seen_at"].startswith("2026-11-03T08:00:00")
    assert row["last_seen_at"].startswith("2026-11-03T08:05:00")


def test_duplicates_inside_one_batch_merge_brands(store: Store) -> None:
    result = store.upsert_posts([(post(), ["Acme Air"]), (post(), ["Globex"])], seen_at=T0)
    assert result.new == 1
    brands = sorted(r[0] for r in store.conn.execute("SELECT brand FROM post_brands"))
    assert brands == ["Acme Air", "Globex"]


def test_snapshot_only_when_counts_change(store: Store) -> None:
    store.upsert_posts([(post(likes=3), ["A"])], seen_at=T0)
    store.upsert_posts([(post(likes=3), ["A"])], seen_at=T0 + timedelta(minutes=10))
    store.upsert_posts([(post(likes=9), ["A"])], seen_at=T0 + timedelta(minutes=20))
    store.upsert_posts([(post(likes=None), ["A"])], seen_at=T0 + timedelta(minutes=30))
    history = store.snapshots("rss:1")
    assert [s.likes for s in history] == [3, 9]
    assert history[1].at == T0 + timedelta(minutes=20)
    assert (
        store.add_snapshot("rss:1", Snapshot(T0 + timedelta(hours=1), likes=9, shares=0)) is False
    )
    assert (
        store.add_snapshot("rss:1", Snapshot(T0 + timedelta(hours=1), likes=12, shares=1)) is True
    )


def test_fts_follows_inserts_edits_and_deletes(store: Store) -> None:
    store.upsert_posts([(post(text="Zwrot pieniędzy w Łodzi odrzucony"), ["A"])], seen_at=T0)
    assert fts_ids(store, "lodzi") == ["rss:1"]  # ł folded by the trigger, ó by the tokenizer
    assert fts_ids(store, "pieniedzy") == ["rss:1"]
    store.upsert_posts([(post(text="Straße gesperrt"), ["A"])], seen_at=T0 + timedelta(minutes=1))
    assert fts_ids(store, "lodzi") == []
    assert fts_ids(store, "strasse") == ["rss:1"]
    with store.transaction() as conn:
        conn.execute("DELETE FROM posts WHERE id = 'rss:1'")
    assert fts_ids(store, "strasse") == []
    assert (
        store.conn.execute("INSERT INTO posts_fts(posts_fts) VALUES ('integrity-check')")
        is not None
    )


def test_transaction_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert_posts([(post(), ["A"])], seen_at=T0)  # nested: a savepoint
        raise RuntimeError("boom")
    assert store.count("posts") == 0


def test_source_state_round_trip(store: Store) -> None:
    state = SourceState(
        key="news|Acme",
        source="news",
        type="rss",
        brand="Acme",
        etag='"x"',
        cursor="c1",
        extra={"seen": [1, 2]},
    )
    store.save_state(state)
    assert store.get_state("news|Acme") == state
    store.save_state(state.evolve(consecutive_failures=2, last_error="HTTP 500"))
    loaded = store.get_state("news|Acme")
    assert loaded is not None and loaded.consecutive_failures == 2
    assert [s.key for s in store.states()] == ["news|Acme"]


def test_readonly_refuses_writes_at_sqlite_level(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with Store.open(path) as writable:
        writable.upsert_posts([(post(), ["A"])], seen_at=T0)
    with Store.open(path, readonly=True) as auditor:
        assert auditor.count("posts") == 1
        with pytest.raises(ReadOnlyError):
            auditor.upsert_posts([(post("2"), ["A"])], seen_at=T0)
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|attempt to write"):
            auditor.conn.execute("DELETE FROM posts")
    with pytest.raises(FileNotFoundError):
        Store.open(tmp_path / "missing.db", readonly=True)


def test_bulk_upsert_many_posts(store: Store) -> None:
    items = [(post(str(i), text=f"post number {i} about Acme"), ["Acme"]) for i in range(2000)]
    assert store.upsert_posts(items, seen_at=T0).new == 2000
    assert store.upsert_posts(items, seen_at=T0).updated == 2000
    assert store.count("posts") == 2000
    assert len(fts_ids(store, "1999")) == 1


def test_a_migration_added_later_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.store as store_module
    from monitor.migrations import discover

    everything = discover()
    late = everything[1]  # pretend this feature was installed after the archive was created
    monkeypatch.setattr(store_module, "discover", lambda: [m for m in everything if m is not late])
    with Store.open(tmp_path / "m.db") as archive:
        assert late.version not in {
            r[0] for r in archive.conn.execute("SELECT version FROM schema_migrations")
        }
    monkeypatch.setattr(store_module, "discover", lambda: everything)
    with Store.open(tmp_path / "m.db") as archive:
        versions = {r[0] for r in archive.conn.execute("SELECT version FROM schema_migrations")}
    assert versions == {m.version for m in everything}


def test_exclusive_section_waits_for_its_name_but_blocks_no_writer(tmp_path: Path) -> None:
    import threading

    db = tmp_path / "x.db"
    entered = threading.Event()
    order: list[str] = []
    with Store.open(db) as first, Store.open(db) as second:

        def later() -> None:
            entered.set()
            with second.exclusive("stories"):
                order.append("second")

        with first.exclusive("stories"):
            worker = threading.Thread(target=later)
            worker.start()
            assert entered.wait(5)
            worker.join(0.3)
            assert worker.is_alive()  # waits for the section
            with second.transaction() as conn:  # while writes from elsewhere go through
                conn.execute("INSERT INTO burst_state (brand, evaluated_until) VALUES ('b', 't')")
            order.append("first")
        worker.join(5)
        assert not worker.is_alive()
    assert order == ["first", "second"]


def test_deferred_checkpoints_space_them_out_and_checkpoint_once_at_the_end(store: Store) -> None:
    def autocheckpoint() -> int:
        return int(store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])

    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    with store.deferred_checkpoints(pages=5_000):
        assert autocheckpoint() == 5_000
        with store.deferred_checkpoints(pages=5_000):  # nested: left to the outer section
            store.upsert_posts([(post("1"), ["Acme"])])
        assert autocheckpoint() == 5_000
        store.upsert_posts([(post("2"), ["Acme"])])
    store.conn.set_trace_callback(None)
    assert autocheckpoint() == 1000  # restored
    assert statements.count("PRAGMA wal_checkpoint(PASSIVE)") == 1  # once, at the outer end


def test_deferred_checkpoints_do_nothing_for_an_archive_in_memory() -> None:
    with Store.open(":memory:") as archive:
        statements: list[str] = []
        archive.conn.set_trace_callback(statements.append)
        with archive.deferred_checkpoints():
            archive.upsert_posts([(post("1"), ["Acme"])])
        archive.conn.set_trace_callback(None)
        assert archive.count("posts") == 1
        assert not [s for s in statements if "checkpoint" in s]
