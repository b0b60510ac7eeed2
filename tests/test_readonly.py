"""Auditor access is read-only at the SQLite level, not by the application's good manners."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.audit import record, verify
from monitor.cli import cli
from monitor.search import search
from monitor.store import ReadOnlyError, Store
from tests.test_search import _add


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive.db"
    with Store.open(path) as store:
        _add(store)
        record(store, actor="alice", action="alert.ack", subject="alert:1")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


WRITES = [
    "INSERT INTO posts (id, source, native_id, first_seen_at, last_seen_at, content_hash) "
    "VALUES ('x:1', 'x', '1', 't', 't', 'h')",
    "UPDATE posts SET title = 'changed'",
    "DELETE FROM posts",
    "DELETE FROM post_brands",
    "CREATE TABLE intruder (x)",
    "DROP TRIGGER audit_log_no_update",
]


@pytest.mark.parametrize("sql", WRITES)
def test_readonly_store_refuses_writes_even_without_query_only(archive: Path, sql: str) -> None:
    with Store.open(archive, readonly=True) as store:
        # The app's guard (query_only) switched off: mode=ro must still refuse.
        store.conn.execute("PRAGMA query_only = OFF")
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
            store.conn.execute(sql)
        with pytest.raises(ReadOnlyError), store.transaction():
            pass


@pytest.mark.parametrize("sql", WRITES[:3])
def test_immutable_uri_refuses_writes(archive: Path, sql: str) -> None:
    conn = sqlite3.connect(f"file:{archive.as_posix()}?mode=ro&immutable=1", uri=True)
    assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == 8
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
        conn.execute(sql)
    conn.close()


def test_readonly_open_of_missing_file_does_not_create_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Store.open(tmp_path / "nope.db", readonly=True)
    assert not (tmp_path / "nope.db").exists()


def test_auditor_commands_leave_the_file_unchanged(archive: Path, tmp_path: Path) -> None:
    before = hashlib.sha256(archive.read_bytes()).hexdigest()
    runner = CliRunner()
    for args in (
        ["search", "zwrot*", "--db", str(archive)],
        ["search", "lodz", "--db", str(archive), "--sort", "relevance", "--format", "json"],
        ["audit", "verify", "--db", str(archive)],
        ["audit", "log", "--db", str(archive)],
        ["hold", "list", "--db", str(archive)],
        ["archive", "metadata", "--db", str(archive)],
    ):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before
    with Store.open(archive, readonly=True) as store:
        assert verify(store).ok and len(search(store, "zwrot*")) == 2
