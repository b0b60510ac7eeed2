"""The PostgreSQL archive: same schema and store behaviour as SQLite, on a real local server."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install 'groundswell[postgres]'"
)
pytest.importorskip(
    "sqlglot", reason="sqlglot is not installed: pip install 'groundswell[postgres]'"
)

from monitor.pg.store import PgStore
from monitor.pg.translate import HIDDEN_COLUMNS
from monitor.records import Post, Snapshot
from monitor.store import ReadOnlyError, SourceState, Store

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _post(native_id: str, text: str = "Still no refund", **kw: Any) -> Post:
    return Post(source="rss", native_id=native_id, title="Refund", text=text, **kw)


def _columns_sqlite(store: Store) -> dict[str, list[str]]:
    tables = [
        r[0]
        for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'posts_fts%' "
            "AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {t: [r[1] for r in store.conn.execute(f"PRAGMA table_info([{t}])")] for t in tables}


def test_schema_matches_the_sqlite_migrations(pg_store: PgStore, tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db") as lite:
        expected = _columns_sqlite(lite)
        assert pg_store.schema_version() == lite.schema_version()
    found: dict[str, list[str]] = {}
    for table, column in pg_store.conn.raw.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name IN "
        "(SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema = current_schema()) ORDER BY table_name, ordinal_position"
    ):
        if column not in HIDDEN_COLUMNS:
            found.setdefault(table, []).append(column)
    assert found == expected
    assert pg_store.migrate() == []


def test_upsert_snapshots_and_state_behave_like_sqlite(pg_store: PgStore, tmp_path: Path) -> None:
    with Store.open(tmp_path / "b.db") as lite:
        for store in (lite, pg_store):
            first = store.upsert_posts(
                [
                    (_post("1", engagement=Snapshot(T0, likes=1)), ["Skyline"]),
                    (_post("2"), ["Skyline", "Acme"]),
                    (_post("1", engagement=Snapshot(T0, likes=1)), ["Acme"]),
                ],
                seen_at=T0,
            )
            assert (first.new, first.updated, first.snapshots) == (2, 0, 1)
            again = store.upsert_posts(
                [(_post("1", text="edited", engagement=Snapshot(T0, likes=5)), ["Skyline"])],
                seen_at=T0 + timedelta(hours=1),
            )
            assert (again.new, again.updated, again.snapshots, again.new_ids) == (0, 1, 1, ())
            assert store.add_snapshot("rss:2", Snapshot(T0, likes=3)) is True
            assert (
                store.add_snapshot("rss:2", Snapshot(T0 + timedelta(minutes=5), likes=3)) is False
            )
            store.save_state(SourceState(key="feed", source="feed", type="rss", extra={"a": 1}))
            store.save_state(SourceState(key="feed", source="feed", type="rss", cursor="c2"))
        assert pg_store.post("rss:1") == lite.post("rss:1")
        assert pg_store.snapshots("rss:1") == lite.snapshots("rss:1")
        assert pg_store.states() == lite.states()
        for table in ("posts", "post_brands", "snapshots", "source_state"):
            assert pg_store.count(table) == lite.count(table)
    (edited,) = pg_store.conn.execute(
        "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?", ['{title text} : "edited"']
    ).fetchone()
    assert edited == 1


def test_transactions_nest_roll_back_and_map_errors(pg_store: PgStore) -> None:
    conn = pg_store.conn
    with pytest.raises(RuntimeError), pg_store.transaction():
        conn.execute("INSERT INTO burst_state (brand, evaluated_until) VALUES (?, ?)", ("a", "x"))
        raise RuntimeError("undo")
    with pg_store.transaction():
        conn.execute("INSERT INTO burst_state (brand, evaluated_until) VALUES (?, ?)", ("b", "x"))
        with pytest.raises(sqlite3.IntegrityError), pg_store.transaction():
            conn.execute(
                "INSERT INTO burst_state (brand, evaluated_until) VALUES (?, ?)", ("b", "again")
            )
        assert conn.in_transaction
    assert [r[0] for r in conn.execute("SELECT brand FROM burst_state")] == ["b"]
    assert not conn.in_transaction


def test_row_ids_and_change_counts(pg_store: PgStore) -> None:
    conn = pg_store.conn
    before = conn.total_changes
    cursor = conn.execute(
        "INSERT INTO silences (matchers, starts_at, ends_at, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        ("[]", "a", "b", "me", "now"),
    )
    first = cursor.lastrowid
    conn.execute(
        "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (first + 10, "[]", "a", "b", "me", "now"),
    )
    third = conn.execute(
        "INSERT INTO silences (matchers, starts_at, ends_at, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        ("[]", "a", "b", "me", "now"),
    ).lastrowid
    assert third == first + 11  # an explicit key moves the sequence, as SQLite's max(rowid)+1
    assert conn.total_changes - before == 3
    assert conn.execute("SELECT max(rowid) FROM silences").fetchone() == (third,)
    assert pg_store.db["silences"].exists() and not pg_store.db["nope"].exists()


def test_readonly_refuses_writes(pg_archive: str) -> None:
    with PgStore.open(pg_archive, readonly=True) as store:
        with pytest.raises(ReadOnlyError):
            store.save_state(SourceState(key="k", source="k", type="rss"))
        with pytest.raises(sqlite3.OperationalError):
            store.conn.execute("DELETE FROM posts")
        assert store.count("posts") == 0


def test_audit_chain_on_postgresql(pg_store: PgStore) -> None:
    from monitor import audit

    audit.record(pg_store, actor="alice", action="alert.ack", subject="alert:1")
    audit.record(pg_store, actor="bob", action="review.label", subject="post:rss:1", after={"a": 1})
    assert audit.verify(pg_store).ok
    with pytest.raises(sqlite3.Error):
        pg_store.conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    with pytest.raises(sqlite3.Error):
        pg_store.conn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, subject, prev_hash, hash) "
            "VALUES (9, 'x', 'm', 'a', 's', 'p', 'h')"
        )
    assert [e.actor for e in audit.entries(pg_store)] == ["alice", "bob"]


def test_concurrent_writers_keep_one_audit_chain(pg_archive: str) -> None:
    """Two workers appending at once: the head is read FOR UPDATE, so one waits, none forks."""
    import threading

    from monitor import audit

    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            with PgStore.open(pg_archive, migrate=False) as own:
                for i in range(40):
                    audit.record(own, actor=name, action="review.label", subject=f"post:{i}")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("web", "worker")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with PgStore.open(pg_archive, readonly=True) as store:
        report = audit.verify(store)
        assert report.ok, report.problems
        assert report.rows == 80


def test_streamed_queries_survive_interleaved_statements(pg_store: PgStore) -> None:
    pg_store.upsert_posts([(_post(str(i)), ["Acme"]) for i in range(300)], seen_at=T0)
    conn = pg_store.conn
    seen = []
    for (post_id,) in conn.execute("SELECT id FROM posts ORDER BY id"):  # streams: sorted, open
        seen.append(post_id)
        if len(seen) % 50 == 0:  # another statement mid-stream reads the rest in first
            conn.execute("UPDATE posts SET lang = 'en' WHERE id = ?", (post_id,))
            with pg_store.transaction():
                conn.execute("UPDATE posts SET lang = 'de' WHERE id = ?", (post_id,))
    assert len(seen) == 300 and seen == sorted(seen)
    abandoned = conn.execute("SELECT id FROM posts ORDER BY id DESC")
    assert abandoned.fetchone() == ("rss:99",)
    del abandoned  # stopping early closes the server-side cursor and its transaction
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM posts WHERE lang = 'de'").fetchone() == (6,)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT nope FROM posts ORDER BY id")
    assert conn.execute("SELECT id FROM posts WHERE id = ? ORDER BY id", ("rss:7",)).fetchall() == [
        ("rss:7",)
    ]


def test_two_deliverers_never_claim_the_same_outbox_row(pg_archive: str) -> None:
    """SQLite serialises the claim with BEGIN IMMEDIATE; on PostgreSQL the claim's read locks
    its rows (SKIP LOCKED), so a second deliverer takes the next rows instead of the same."""
    from alerts.outbox import NewDelivery, claim_due, enqueue

    with PgStore.open(pg_archive) as first, PgStore.open(pg_archive) as second:
        with first.transaction() as conn:
            enqueue(
                conn,
                [
                    NewDelivery(f"k{i}", None, "pr", 0, "log", "fired", "warning", {"i": i}, T0)
                    for i in range(6)
                ],
                T0,
            )
        with first.transaction():  # the first deliverer's claim is not committed yet …
            mine = claim_due(first, T0, limit=4, lease=60)
            theirs = claim_due(second, T0, limit=4, lease=60)  # … and the second one runs
        later = claim_due(second, T0, limit=4, lease=60)
    assert len(mine) == 4 and len(theirs) == 2
    assert not {i.id for i in mine} & {i.id for i in theirs}
    assert later == []  # every row is leased now


def test_nul_characters_do_not_fail_a_batch(pg_store: PgStore) -> None:
    """SQLite stores NUL in text, PostgreSQL refuses it: it becomes U+FFFD, the batch is kept."""
    result = pg_store.upsert_posts(
        [
            (_post("nul", text="refund\x00 never", author="Ja\x00ne"), ["Acme"]),
            (_post("ok"), ["Acme"]),
        ]
    )
    assert result.new == 2
    stored = pg_store.post("rss:nul")
    assert stored is not None and stored["text"] == "refund\ufffd never"
    assert stored["author"] == "Ja\ufffdne"


def test_optimize_stage_with_backups_says_what_to_use(pg_archive: str, tmp_path: Path) -> None:
    from monitor.config import parse_config
    from monitor.stages import StageContext, run_stage
    from sources.http import HttpClient

    config = parse_config({"scheduler": {"backup_dir": str(tmp_path / "backups")}})
    with HttpClient(timeout=1) as client:
        ctx = StageContext(config=config, db_path=pg_archive, client=client)
        plain = run_stage(
            StageContext(config=parse_config({}), db_path=pg_archive, client=client), "optimize"
        )
        result = run_stage(ctx, "optimize")
    assert plain.ok  # PRAGMA optimize and the WAL checkpoint are no-ops on PostgreSQL
    assert not result.ok and "pg_dump" in result.detail


def test_connections_to_one_database_share_translations(pg_archive: str) -> None:
    with PgStore.open(pg_archive) as first, PgStore.open(pg_archive) as second:
        sql = "SELECT count(*) FROM posts WHERE lang = ? COLLATE NOCASE"
        assert first.conn.execute(sql, ("EN",)).fetchone() == (0,)
        assert second.conn.translator is first.conn.translator
        assert second.conn.translator.translate(sql) is first.conn.translator.translate(sql)


def test_two_workers_storing_the_same_new_post(pg_archive: str) -> None:
    """The second insert waits for the first worker's uncommitted row, then keeps it."""
    import threading

    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def second_worker(store: PgStore) -> None:
        try:
            results["second"] = store.upsert_posts([(_post("same"), ["Other"])], seen_at=T0)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    with (
        PgStore.open(pg_archive) as first,
        PgStore.open(pg_archive) as second,
        PgStore.open(pg_archive) as watcher,
    ):
        with first.transaction():
            results["first"] = first.upsert_posts([(_post("same"), ["Acme"])], seen_at=T0)
            worker = threading.Thread(target=second_worker, args=(second,))
            worker.start()
            waiting = 0
            for _ in range(5000):  # until the second worker waits on our uncommitted row
                (waiting,) = watcher.conn.raw.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()  # type: ignore[misc]
                if waiting:
                    break
            assert waiting == 1
        worker.join(timeout=30)
        assert errors == []
        assert results["first"].new_ids == ("rss:same",)
        assert results["second"].new_ids == () and results["second"].new == 0
        brands = {r[0] for r in watcher.conn.execute("SELECT brand FROM post_brands")}
        assert brands == {"Acme", "Other"}


def test_exclusive_sections_run_one_after_another(pg_archive: str) -> None:
    """Two writers in ``exclusive("stories")``: the second waits, then sees the first's rows."""
    import threading

    entered = threading.Event()
    seen: list[int] = []
    with PgStore.open(pg_archive) as first, PgStore.open(pg_archive) as second:

        def later() -> None:
            entered.set()
            with second.exclusive("stories") as conn:
                seen.append(conn.execute("SELECT count(*) FROM stories").fetchone()[0])

        with first.exclusive("stories") as conn:
            worker = threading.Thread(target=later)
            worker.start()
            assert entered.wait(5)
            worker.join(0.5)
            assert worker.is_alive()  # held at the advisory lock
            conn.execute(
                "INSERT INTO stories (id, first_post_id, title, first_seen_at, last_seen_at, "
                "mentions, sources) VALUES ('st-1', 'p1', 't', '2026-01-01', '2026-01-01', 1, 1)"
            )
        worker.join(5)
        assert not worker.is_alive()
    assert seen == [1]


def test_every_public_method_of_the_sqlite_archive_exists_on_postgresql() -> None:
    missing = [
        name for name in dir(Store) if not name.startswith("_") and not hasattr(PgStore, name)
    ]
    assert missing == []
