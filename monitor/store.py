"""The archive: one SQLite file (WAL) accessed through sqlite-utils.

Writes are idempotent: a post seen twice is one row, and a changed engagement count becomes a new
``snapshots`` row. Auditors open the same file read-only (``mode=ro``), enforced by SQLite itself.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.migrations import discover
from monitor.records import Post, Snapshot, isoformat, utcnow

__all__ = [
    "POST_COLUMNS",
    "ReadOnlyError",
    "SourceState",
    "Store",
    "UpsertResult",
    "json_rows",
    "post_row",
]

_CHUNK = 500  # stays under SQLite's host-parameter limit for IN (...) lists
BULK_CHECKPOINT_PAGES = 4_096  # WAL pages (16 MiB) between checkpoints during bulk writes


class ReadOnlyError(RuntimeError):
    """A write was attempted on an archive opened read-only."""


@dataclass(frozen=True, slots=True)
class UpsertResult:
    new: int = 0
    updated: int = 0
    snapshots: int = 0
    new_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the archive remembers of one source (or one source × brand) between polls."""

    key: str
    source: str
    type: str
    brand: str | None = None
    cursor: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    mode: str | None = None
    last_attempt_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    consecutive_failures: int = 0
    items_total: int = 0
    last_items: int = 0
    next_poll_at: str | None = None
    breaker: str = "closed"
    extra: dict[str, Any] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> SourceState:
        return replace(self, **changes)


_STATE_FIELDS = tuple(f.name for f in fields(SourceState))


class Store:
    """The SQLite archive. Use :meth:`open`; pass ``readonly=True`` for auditors."""

    def __init__(self, conn: sqlite3.Connection, path: str, readonly: bool):
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self.db = sqlite_utils.Database(conn)

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        readonly: bool = False,
        migrate: bool = True,
        timeout: float = 10.0,
    ) -> Store:
        path = str(path)
        if path.startswith(("postgresql://", "postgres://")):  # storage = "postgresql://..."
            from monitor.pg import open_archive

            return open_archive(path, readonly=readonly, migrate=migrate, timeout=timeout)
        if readonly:
            if path != ":memory:" and not Path(path).exists():
                raise FileNotFoundError(f"archive {path} does not exist")
            uri = f"file:{Path(path).resolve().as_posix()}?mode=ro"
            conn = sqlite3.connect(
                uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA query_only = ON")
        else:
            conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        store = cls(conn, path, readonly)
        if migrate and not readonly:
            store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions and schema -------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT (or ROLLBACK on error); nests as a SAVEPOINT."""
        if self.readonly:
            raise ReadOnlyError(f"archive {self.path} is open read-only")
        if self.conn.in_transaction:
            name = f"sp_{id(self)}_{utcnow().timestamp():.0f}".replace(".", "_")
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                raise
            self.conn.execute(f"RELEASE {name}")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def exclusive(self, name: str) -> Iterator[sqlite3.Connection]:
        """A section that other writers asking for the same ``name`` wait for.

        For read-then-write work that must see every earlier writer's result (story assignment
        by several threads or worker processes). On SQLite it is a lock file beside the archive
        (``<archive>.<name>.lock``), not a transaction: the work inside reads without blocking
        anyone and keeps its write transactions short, so scoring and delivery are not held up
        while it computes.
        """
        if self.readonly:
            raise ReadOnlyError(f"archive {self.path} is open read-only")
        if str(self.path) in ("", ":memory:"):  # private to this connection: nobody to wait for
            yield self.conn
            return
        from filelock import FileLock

        with FileLock(f"{self.path}.{name}.lock"):
            yield self.conn

    @contextmanager
    def deferred_checkpoints(self, pages: int = BULK_CHECKPOINT_PAGES) -> Iterator[None]:
        """Checkpoint the WAL at most every ``pages`` pages during bulk writes (a poll, a
        backfill), and once at the end: several small checkpoints, each with its own sync, cost
        more than one. SQLite files only; nested sections leave it to the outermost."""
        if self.path == ":memory:" or not isinstance(self.conn, sqlite3.Connection):
            yield
            return
        previous = int(self.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        if previous >= pages:  # an enclosing section (or the configuration) already spaces them
            yield
            return
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {pages}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA wal_autocheckpoint = {previous}")
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def schema_version(self) -> int:
        if not self.db["schema_migrations"].exists():
            return 0
        row = self.conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; returns the names applied."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in self.conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        # Every migration not yet recorded runs, in order: a feature added later still gets its
        # tables in an archive that already has higher-numbered ones.
        for migration in discover():
            if migration.version in done:
                continue
            with self.transaction():
                migration.upgrade(self.db)
                self.conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, isoformat(utcnow())),
                )
            applied.append(f"{migration.version:04d}_{migration.name}")
        return applied

    # -- posts and snapshots ----------------------------------------------------------------

    def upsert_posts(
        self,
        items: Iterable[tuple[Post, Sequence[str]]],
        seen_at: datetime | None = None,
        canonicalize: Any = None,
    ) -> UpsertResult:
        """Store posts with the brands they matched, in one transaction.

        A known post gets ``last_seen_at`` (and text, when edited) updated and any new brands
        added; a changed engagement count becomes a new snapshot at ``seen_at``.
        """
        seen = isoformat(seen_at or utcnow())
        batch: dict[str, tuple[Post, Sequence[str]]] = {}
        for post, brands in items:
            previous = batch.get(post.id)
            merged = tuple(dict.fromkeys([*(previous[1] if previous else ()), *brands]))
            batch[post.id] = (post, merged)
        if not batch:
            return UpsertResult()
        ids = list(batch)
        with self.transaction() as conn:
            existing = self._existing(conn, ids)
            new_rows: list[tuple[Any, ...]] = []
            updates: list[tuple[Any, ...]] = []
            brand_rows: list[tuple[str, str, str]] = []
            snapshot_rows: list[tuple[Any, ...]] = []
            for post_id, (post, brands) in batch.items():
                content_hash = post.content_hash()
                if post_id not in existing:
                    canonical = canonicalize(post.url) if (canonicalize and post.url) else post.url
                    new_rows.append(post_row(post, content_hash, seen, canonical))
                else:
                    old_hash, _ = existing[post_id]
                    updates.append(
                        (
                            seen,
                            post.title,
                            post.text,
                            content_hash,
                            post.author_followers,
                            post_id,
                            content_hash,
                            old_hash,
                        )
                    )
                brand_rows.extend((post_id, brand, seen) for brand in brands)
                snap = post.engagement
                if snap is not None and snap.has_counts():
                    last = existing.get(post_id, (None, None))[1]
                    if last != snap.counts():
                        snapshot_rows.append((post_id, seen, *snap.counts()))
            if new_rows:
                _insert_many(conn, _INSERT_POST, new_rows)
            if updates:
                conn.executemany(
                    "UPDATE posts SET last_seen_at = ?1, "
                    "title = CASE WHEN ?7 != ?8 THEN ?2 ELSE title END, "
                    "text = CASE WHEN ?7 != ?8 THEN ?3 ELSE text END, "
                    "content_hash = ?4, author_followers = coalesce(?5, author_followers) "
                    "WHERE id = ?6",
                    updates,
                )
            if brand_rows:
                _insert_many(
                    conn,
                    "INSERT OR IGNORE INTO post_brands (post_id, brand, matched_at) VALUES (?, ?, ?)",
                    brand_rows,
                )
            if snapshot_rows:
                conn.executemany(
                    "INSERT OR REPLACE INTO snapshots (post_id, at, likes, shares, comments, views) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    snapshot_rows,
                )
        return UpsertResult(
            len(new_rows), len(updates), len(snapshot_rows), tuple(row[0] for row in new_rows)
        )

    def _existing(
        self, conn: sqlite3.Connection, ids: list[str]
    ) -> dict[str, tuple[str, tuple | None]]:
        found: dict[str, tuple[str, tuple | None]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for post_id, content_hash in conn.execute(
                f"SELECT id, content_hash FROM posts WHERE id IN ({marks})", chunk
            ):
                found[post_id] = (content_hash, None)
            if not found:
                continue
            for post_id, *counts in conn.execute(
                f"SELECT s.post_id, s.likes, s.shares, s.comments, s.views FROM snapshots s "
                f"WHERE s.post_id IN ({marks}) AND s.at = "
                f"(SELECT max(at) FROM snapshots WHERE post_id = s.post_id)",
                chunk,
            ):
                found[post_id] = (found[post_id][0], tuple(counts))
        return found

    def add_snapshot(self, post_id: str, snapshot: Snapshot) -> bool:
        """Record engagement for a known post if it changed; returns whether a row was added."""
        with self.transaction() as conn:
            last = conn.execute(
                "SELECT likes, shares, comments, views FROM snapshots WHERE post_id = ? "
                "ORDER BY at DESC LIMIT 1",
                (post_id,),
            ).fetchone()
            if last is not None and tuple(last) == snapshot.counts():
                return False
            conn.execute(
                "INSERT OR REPLACE INTO snapshots (post_id, at, likes, shares, comments, views) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (post_id, isoformat(snapshot.at), *snapshot.counts()),
            )
        return True

    def snapshots(self, post_id: str) -> list[Snapshot]:
        from monitor.records import parse_iso

        return [
            Snapshot(parse_iso(at), likes, shares, comments, views)
            for at, likes, shares, comments, views in self.conn.execute(
                "SELECT at, likes, shares, comments, views FROM snapshots WHERE post_id = ? ORDER BY at",
                (post_id,),
            )
        ]

    def post(self, post_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM posts WHERE id = ?", (post_id,)).fetchone()
        if row is None:
            return None
        names = [d[0] for d in self.conn.execute("SELECT * FROM posts LIMIT 0").description]
        return dict(zip(names, row, strict=True))

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])

    # -- source state -------------------------------------------------------------------------

    def get_state(self, key: str) -> SourceState | None:
        row = self.conn.execute(
            f"SELECT {', '.join(_STATE_FIELDS)} FROM source_state WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        values = dict(zip(_STATE_FIELDS, row, strict=True))
        values["extra"] = json.loads(values["extra"]) if values["extra"] else {}
        return SourceState(**values)

    def save_state(self, state: SourceState) -> None:
        values = [getattr(state, name) for name in _STATE_FIELDS]
        values[_STATE_FIELDS.index("extra")] = json.dumps(state.extra, sort_keys=True)
        marks = ", ".join("?" * len(_STATE_FIELDS))
        with self.transaction() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO source_state ({', '.join(_STATE_FIELDS)}) VALUES ({marks})",
                values,
            )

    def states(self) -> list[SourceState]:
        keys = [row[0] for row in self.conn.execute("SELECT key FROM source_state ORDER BY key")]
        return [state for key in keys if (state := self.get_state(key)) is not None]


POST_COLUMNS = (
    "id",
    "source",
    "native_id",
    "source_name",
    "url",
    "canonical_url",
    "site",
    "author",
    "author_followers",
    "lang",
    "title",
    "text",
    "published_at",
    "raw_date",
    "first_seen_at",
    "last_seen_at",
    "content_hash",
    "extra",
)
_INSERT_POST = (
    f"INSERT INTO posts ({', '.join(POST_COLUMNS)}) VALUES ({', '.join('?' * len(POST_COLUMNS))})"
)


def json_rows(rows: Sequence[Sequence[Any]]) -> str | None:
    """``rows`` as one JSON array for ``json_each``, or None when JSON cannot carry them exactly:
    a NUL in a string (SQLite's JSON functions cut it short), NaN, or a type JSON lacks."""
    try:
        payload = json.dumps(rows, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return None if "\\u0000" in payload else payload


def _insert_many(conn: sqlite3.Connection, insert: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """``conn.executemany(insert, rows)`` for ``INSERT … VALUES (?, …)``, run as one statement
    over the rows sent as one JSON array (``json_each``): each step of ``executemany`` gives up
    the GIL, and while a poll's collect threads parse feeds every retake can wait for the
    interpreter's switch interval. Rows :func:`json_rows` cannot carry go the ``executemany``
    way."""
    head, _, values = insert.partition(" VALUES ")
    plain = values.startswith("(") and values.endswith(")")  # nothing after VALUES (…)
    payload = json_rows(rows) if plain else None
    if payload is None:
        conn.executemany(insert, rows)
        return
    width = values.count("?")
    picks = ", ".join(f"value ->> {n}" for n in range(width))
    conn.execute(f"{head} SELECT {picks} FROM json_each(?)", (payload,))


def post_row(post: Post, content_hash: str, seen: str, canonical: str | None) -> tuple[Any, ...]:
    """A new post's values in ``POST_COLUMNS`` order (first and last seen at ``seen``); both
    archive backends insert these."""
    return (
        post.id,
        post.source,
        post.native_id,
        post.source_name,
        post.url,
        canonical,
        post.site,
        post.author,
        post.author_followers,
        post.lang,
        post.title,
        post.text,
        isoformat(post.published_at) if post.published_at else None,
        post.raw_date,
        seen,
        seen,
        content_hash,
        json.dumps(post.extra, sort_keys=True, default=str) if post.extra else None,
    )
