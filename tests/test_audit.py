"""The audit log: append-only from the app, hash chain, tamper detection, anchors."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.audit import (
    GENESIS,
    AnchorError,
    anchor,
    canonical_json,
    entries,
    read_anchor_file,
    record,
    row_hash,
    verify,
)
from monitor.store import Store

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _fill(store: Store, n: int = 6) -> None:
    for i in range(n):
        record(
            store,
            actor="alice" if i % 2 else "system",
            action="alert.ack" if i % 2 else "alert.fired",
            subject=f"alert:{i}",
            before={"status": "firing"} if i % 2 else None,
            after={"status": "acknowledged", "at": T0 + timedelta(minutes=i)},
            at=T0 + timedelta(minutes=i),
        )


def _attacker(store: Store) -> sqlite3.Connection:
    """A second connection that drops the guard triggers, as someone with file access could."""
    conn = sqlite3.connect(store.path, isolation_level=None)
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_head_guard"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    return conn


def test_record_chains_rows_and_verify_passes(store: Store) -> None:
    _fill(store)
    rows = list(entries(store))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].prev_hash == GENESIS
    for previous, current in itertools.pairwise(rows):
        assert current.prev_hash == previous.hash
    assert all(r.hash == r.expected_hash() for r in rows)
    assert rows[1].before == '{"status":"firing"}'
    assert '"at":"2026-11-03T09:01:00.000000Z"' in (rows[1].after or "")
    report = verify(store)
    assert report.ok, report.problems
    assert (report.rows, report.head_seq, report.head_hash) == (6, 6, rows[-1].hash)


def test_row_hash_is_over_canonical_fields() -> None:
    digest = row_hash(
        seq=1,
        at="t",
        actor="a",
        action="x",
        subject="s",
        before=None,
        after="{}",
        prev_hash=GENESIS,
    )
    other = row_hash(
        seq=2,
        at="t",
        actor="a",
        action="x",
        subject="s",
        before=None,
        after="{}",
        prev_hash=GENESIS,
    )
    assert len(digest) == 64 and digest != other
    assert canonical_json({"b": [1, 2], "a": "ł"}) == '{"a":"ł","b":[1,2]}'


def test_record_joins_the_callers_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        record(store, actor="bob", action="review.label", subject="post:x")
        raise RuntimeError("boom")
    assert store.count("audit_log") == 0
    with store.transaction():
        record(store, actor="bob", action="review.label", subject="post:x")
        record(store, actor="bob", action="review.assign", subject="post:x")
    assert store.count("audit_log") == 2
    assert verify(store).ok


@pytest.mark.parametrize("field", ["actor", "action", "subject"])
def test_record_rejects_empty_fields(store: Store, field: str) -> None:
    values = {"actor": "a", "action": "b", "subject": "c"}
    values[field] = " "
    with pytest.raises(ValueError, match=field):
        record(store, **values)


def test_app_connection_cannot_update_or_delete(store: Store) -> None:
    _fill(store, 3)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM audit_log WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="chain head"):
        store.conn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, subject, prev_hash, hash) "
            "VALUES (4, 't', 'm', 'x', 's', ?, ?)",
            (GENESIS, GENESIS),
        )
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("UPDATE audit_head SET seq = 99")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM audit_head")
    assert verify(store).ok


def test_edit_is_detected_at_the_edited_row(store: Store) -> None:
    _fill(store)
    _attacker(store).execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    report = verify(store)
    assert not report.ok
    assert report.first_bad is not None
    assert (report.first_bad.seq, report.first_bad.kind) == (3, "edited")


def test_edit_with_recomputed_row_hash_breaks_the_next_link(store: Store) -> None:
    _fill(store)
    conn = _attacker(store)
    seq, at, _actor, action, subject, before, after, prev, _ = conn.execute(
        "SELECT * FROM audit_log WHERE seq = 2"
    ).fetchone()
    forged = row_hash(
        seq=seq,
        at=at,
        actor="mallory",
        action=action,
        subject=subject,
        before=before,
        after=after,
        prev_hash=prev,
    )
    conn.execute("UPDATE audit_log SET actor = 'mallory', hash = ? WHERE seq = 2", (forged,))
    report = verify(store)
    assert report.first_bad is not None
    assert (report.first_bad.seq, report.first_bad.kind) == (3, "reordered")


def test_deleted_row_is_named(store: Store) -> None:
    _fill(store)
    _attacker(store).execute("DELETE FROM audit_log WHERE seq = 4")
    report = verify(store)
    assert report.first_bad is not None
    assert (report.first_bad.seq, report.first_bad.kind) == (4, "missing")
    assert "row 4 is missing" in str(report.first_bad)


def test_deleted_first_row_is_named(store: Store) -> None:
    _fill(store)
    _attacker(store).execute("DELETE FROM audit_log WHERE seq = 1")
    report = verify(store)
    assert report.first_bad is not None and report.first_bad.seq == 1


def test_reordered_rows_are_detected(store: Store) -> None:
    _fill(store)
    conn = _attacker(store)
    # Swap rows 2 and 5 (move row 5 to a spare number, 2 to 5, then 5 to 2).
    conn.execute("UPDATE audit_log SET seq = 100 WHERE seq = 5")
    conn.execute("UPDATE audit_log SET seq = 5 WHERE seq = 2")
    conn.execute("UPDATE audit_log SET seq = 2 WHERE seq = 100")
    report = verify(store)
    assert report.first_bad is not None
    assert report.first_bad.seq == 2
    assert {p.kind for p in report.problems} >= {"reordered", "edited"}


def test_truncation_is_detected_by_the_head(store: Store) -> None:
    _fill(store)
    _attacker(store).execute("DELETE FROM audit_log WHERE seq >= 5")
    report = verify(store)
    assert report.first_bad is not None
    assert (report.first_bad.seq, report.first_bad.kind) == (5, "truncated")


def test_truncation_with_forged_head_is_detected_by_an_anchor_file(
    store: Store, tmp_path: Path
) -> None:
    _fill(store)
    anchors = tmp_path / "anchors" / "audit.jsonl"
    anchor(store, anchors, now=T0 + timedelta(hours=1))
    conn = _attacker(store)
    conn.execute("DELETE FROM audit_log WHERE seq >= 5")
    conn.execute("DELETE FROM audit_anchors")
    conn.execute("UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4)")
    assert verify(store).ok  # nothing inside the file shows it any more ...
    report = verify(store, read_anchor_file(anchors))  # ... the anchor outside does
    assert report.first_bad is not None
    assert (report.first_bad.seq, report.first_bad.kind) == (5, "truncated")


def test_whole_chain_rewrite_is_detected_by_an_anchor(store: Store, tmp_path: Path) -> None:
    _fill(store, 4)
    anchors = tmp_path / "audit-anchors.jsonl"
    anchor(store, anchors)
    _fill(store, 2)
    anchor(store, anchors)
    assert len(read_anchor_file(anchors)) == 2
    # Rewrite every row from 2 on with consistent hashes, as a careful attacker would.
    conn = _attacker(store)
    conn.execute("DROP TRIGGER audit_log_chain")
    rows = conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
    prev = rows[0][8]
    for seq, at, actor, action, subject, before, after, _, _ in rows[1:]:
        actor = "mallory" if seq == 2 else actor
        digest = row_hash(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            before=before,
            after=after,
            prev_hash=prev,
        )
        conn.execute(
            "UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (actor, prev, digest, seq),
        )
        prev = digest
    conn.execute("DELETE FROM audit_anchors")
    conn.execute("UPDATE audit_head SET hash = ?", (prev,))
    assert verify(store).ok
    report = verify(store, read_anchor_file(anchors))
    assert not report.ok
    assert {p.kind for p in report.problems} == {"rewritten"}
    assert [p.seq for p in report.problems] == [4, 6]


def test_anchor_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"at": "2026-11-03T09:00:00Z", "seq": 1, "hash": "ab"}\nnot json\n')
    with pytest.raises(AnchorError, match=r"a\.jsonl:2"):
        read_anchor_file(path)
    with pytest.raises(AnchorError, match="cannot read"):
        read_anchor_file(tmp_path / "missing.jsonl")


def test_entries_filters(store: Store) -> None:
    _fill(store)
    assert [e.seq for e in entries(store, actor="alice")] == [2, 4, 6]
    assert [e.seq for e in entries(store, action="alert.")] == [1, 2, 3, 4, 5, 6]
    assert [e.seq for e in entries(store, action="alert.fired")] == [1, 3, 5]
    assert [e.seq for e in entries(store, since=T0 + timedelta(minutes=4))] == [5, 6]
    assert [e.seq for e in entries(store, limit=2, newest_first=True)] == [6, 5]


def test_readonly_store_sees_but_cannot_record(store: Store) -> None:
    _fill(store, 2)
    with Store.open(store.path, readonly=True) as ro:
        assert verify(ro).ok
        with pytest.raises(Exception, match="read-only"):
            record(ro, actor="a", action="b", subject="c")


def test_concurrent_writers_keep_one_chain(store: Store) -> None:
    """Two connections (say, the web UI and the scheduler) appending at the same time."""
    import threading

    def writer(name: str) -> None:
        with Store.open(store.path, migrate=False) as own:
            for i in range(100):
                record(own, actor=name, action="review.label", subject=f"post:{i}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("web", "scheduler")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    report = verify(store)
    assert report.ok, report.problems
    assert report.rows == 200
    assert {e.actor for e in entries(store)} == {"web", "scheduler"}
