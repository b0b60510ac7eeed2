"""A PostgreSQL archive (or a date range of it) copied into the SQLite archive auditors know.

The SQLite file is created by the normal SQLite migrations (``Store.open``), so it has exactly
the schema, triggers and full-text index of any groundswell archive; rows are then copied table
by table from one consistent snapshot of the PostgreSQL database (``REPEATABLE READ``).

The audit chain is always copied whole, row by row in ``seq`` order, through the SQLite chain
triggers: the copy verifies with ``groundswell audit verify`` from genesis to the head it had at
the time of the snapshot. A date range (``since``/``until``, on the post time) limits the posts
and what hangs off them (brands, snapshots, assessments, risk scores, story links, reviews) and
the alert threads created in the range; it never cuts the chain, because a segment could not be
verified on its own.

Not copied: ``users`` (password hashes stay on the server), the derived ``inbox``/``inbox_sync``
(the review UI rebuilds them), and what the SQLite triggers maintain (``posts_fts``,
``posts_time_blocks``, ``audit_head``).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.pg.store import PgStore
from monitor.records import isoformat
from monitor.store import Store

__all__ = ["ExportSqliteError", "SqliteExport", "export_sqlite"]

_BATCH = 5000
_SKIP = frozenset(
    {
        "schema_migrations",
        "audit_head",
        "posts_time_blocks",
        "users",
        "inbox",
        "inbox_sync",
    }
)
_FIRST = ("posts", "stories", "alerts", "audit_log")  # referenced by others: copied first
_WHEN = "coalesce(p.published_at, p.first_seen_at)"


class ExportSqliteError(RuntimeError):
    """The export could not be written (target exists, chain refused, …)."""


@dataclass(frozen=True)
class SqliteExport:
    """What was written: rows per table, the audit head copied, the file's SHA-256."""

    path: str
    rows: dict[str, int] = field(default_factory=dict)
    audit_seq: int = 0
    audit_hash: str = ""
    sha256: str = ""
    since: str | None = None
    until: str | None = None


def _sqlite_tables(lite: Store) -> dict[str, list[str]]:
    names = [
        row[0]
        for row in lite.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'posts_fts%' ORDER BY name"
        )
    ]
    return {n: [r[1] for r in lite.conn.execute(f"PRAGMA table_info([{n}])")] for n in names}


def _pg_columns(raw: Any, table: str) -> set[str]:
    return {
        row[0]
        for row in raw.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        )
    }


def _range(expr: str, since: bool, until: bool) -> str:
    parts = ([f"{expr} >= %(since)s"] if since else []) + ([f"{expr} < %(until)s"] if until else [])
    return " AND ".join(parts) or "TRUE"


def _selection(table: str, columns: set[str], since: bool, until: bool) -> tuple[str, str]:
    """(FROM … WHERE …, ORDER BY) for ``table``; ``%(since)s``/``%(until)s`` bind the range."""
    order = "seq" if table == "audit_log" else ("rowid" if "rowid" in columns else "1")
    if not (since or until):
        return f'"{table}" t', order
    posts_in_range = "SELECT p.{0} FROM posts p WHERE " + _range(_WHEN, since, until)
    alerts_in_range = "SELECT a.id FROM alerts a WHERE " + _range("a.created_at", since, until)
    if table == "posts":
        return "posts t WHERE " + _range(_WHEN.replace("p.", "t."), since, until), order
    if table in ("stories", "story_sources"):
        key = "id" if table == "stories" else "story_id"
        return f'"{table}" t WHERE t.{key} IN ({posts_in_range.format("story_id")})', order
    if table == "alerts":
        return "alerts t WHERE " + _range("t.created_at", since, until), order
    if "alert_id" in columns:
        return f'"{table}" t WHERE t.alert_id IN ({alerts_in_range})', order
    if "post_id" in columns:
        return f'"{table}" t WHERE t.post_id IN ({posts_in_range.format("id")})', order
    return f'"{table}" t', order


def _rows(raw: Any, sql: str, args: dict[str, Any]) -> Iterator[list[tuple[Any, ...]]]:
    with raw.cursor(name="gs_export") as cur:
        cur.itersize = _BATCH
        cur.execute(sql, args)
        while batch := cur.fetchmany(_BATCH):
            yield batch


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def export_sqlite(
    pg: PgStore,
    out: str | Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> SqliteExport:
    """Write the archive (posts in ``[since, until)`` when given) to a new SQLite file ``out``.

    Example:
        >>> report = export_sqlite(pg_store, "audit.db")  # doctest: +SKIP
        >>> report.rows["posts"], report.audit_seq  # doctest: +SKIP
        (1200, 57)
    """
    target = Path(out)
    if target.exists():
        raise ExportSqliteError(f"{target} exists; choose a new file for the export")
    args = {
        "since": isoformat(since) if since else None,
        "until": isoformat(until) if until else None,
    }
    import psycopg

    # A plain connection of its own: one snapshot for every table, server-side cursors, and
    # none of the SQLite-compatibility adapters of the store's connection.
    raw = psycopg.connect(pg.url, autocommit=True)
    counts: dict[str, int] = {}
    try:
        with Store.open(target) as lite:
            tables = _sqlite_tables(lite)
            order = [t for t in _FIRST if t in tables] + [
                t for t in tables if t not in _FIRST and t not in _SKIP
            ]
            lite.conn.execute("PRAGMA foreign_keys = OFF")
            raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                for table in order:
                    pg_columns = _pg_columns(raw, table)
                    if not pg_columns:
                        continue
                    columns = [c for c in tables[table] if c in pg_columns]
                    source, ordering = _selection(
                        table, pg_columns, since is not None, until is not None
                    )
                    select = ", ".join(f't."{c}"' for c in columns)
                    insert = (
                        f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))})"
                    )
                    total = 0
                    sql = f"SELECT {select} FROM {source} ORDER BY {ordering}"
                    for batch in _rows(raw, sql, args):
                        with lite.transaction() as conn:
                            conn.executemany(insert, batch)
                        total += len(batch)
                    counts[table] = total
            finally:
                raw.execute("ROLLBACK")
            lite.conn.execute("PRAGMA foreign_keys = ON")
            dangling = lite.conn.execute("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise ExportSqliteError(
                    f"{len(dangling)} rows refer to rows missing from the archive, e.g. {dangling[0]}"
                )
            head = lite.conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise ExportSqliteError(f"export to {target} failed: {exc}") from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        raw.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    return SqliteExport(
        path=str(target),
        rows=counts,
        audit_seq=int(head[0]) if head else 0,
        audit_hash=str(head[1]) if head else "",
        sha256=_sha256(target),
        since=args["since"],
        until=args["until"],
    )
