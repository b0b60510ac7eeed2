"""The archive on PostgreSQL: the same public methods as :class:`monitor.store.Store`.

``store.conn`` is a :class:`monitor.pg.connection.PgConnection`: the stages' SQLite statements run
on it unchanged (translated once each). ``store.transaction()`` is ``BEGIN … COMMIT`` (READ
COMMITTED) and nests as a SAVEPOINT, like the SQLite store. ``store.db`` answers the sqlite-utils
questions the application asks (``store.db["alerts"].exists()``).

Posts are written with their folded tokens (``fold_body``/``fold_author``, by
:func:`monitor.pg.fts.fold_columns`) so the generated ``fts`` column holds exactly the words the
brand query language sees.

Example:
    >>> store = PgStore.open("postgresql://groundswell@db.example/groundswell")  # doctest: +SKIP
    >>> store.count("posts")  # doctest: +SKIP
    0
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import count
from typing import Any

from monitor.pg import is_postgres_url
from monitor.pg.connection import PgConnection, PgDatabase
from monitor.pg.fts import fold_columns
from monitor.pg.migrations import discover
from monitor.records import Post, Snapshot, isoformat, parse_iso, utcnow
from monitor.store import POST_COLUMNS, ReadOnlyError, SourceState, UpsertResult, post_row

__all__ = ["PgStore", "is_postgres_url", "redact_url"]

# POST_COLUMNS (shared with the SQLite store) are what upsert_posts writes; these are the
# table's columns in order, for post().
_ROW_COLUMNS = (*POST_COLUMNS[:17], "story_id", "extra")  # the table's order, for post()


_STATE_FIELDS = tuple(f for f in SourceState.__dataclass_fields__)
_CHUNK = 1000
_MIGRATION_LOCK = 0x6773_6D69  # advisory lock key: one migrating process at a time
_SAVEPOINTS = count(1)


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in creds else url


class PgStore:
    """A PostgreSQL archive. Use :meth:`open` with a ``postgresql://`` URL."""

    def __init__(self, conn: PgConnection, path: str, readonly: bool) -> None:
        self.conn = conn
        self.path = redact_url(path)
        self.url = path
        self.readonly = readonly
        self.db = PgDatabase(conn)

    @classmethod
    def open(
        cls,
        path: str,
        *,
        readonly: bool = False,
        migrate: bool = True,
        timeout: float = 10.0,
    ) -> PgStore:
        """Connect; migrate unless ``readonly`` (then the session refuses every write)."""
        conn = PgConnection.connect(path, connect_timeout=timeout)
        conn.raw.execute(f"SET lock_timeout = '{int(timeout * 1000)}ms'")
        if readonly:
            conn.raw.execute("SET default_transaction_read_only = on")
        store = cls(conn, path, readonly)
        if migrate and not readonly:
            store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions and schema -------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """BEGIN … COMMIT (or ROLLBACK on error); nests as a SAVEPOINT."""
        if self.readonly:
            raise ReadOnlyError(f"archive {self.path} is open read-only")
        raw = self.conn.raw
        if self.conn.in_transaction:
            name = f"gs_sp_{next(_SAVEPOINTS)}"
            raw.execute(f"SAVEPOINT {name}")
            try:
                yield self.conn
            except BaseException:
                raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
                raw.execute(f"RELEASE SAVEPOINT {name}")
                raise
            raw.execute(f"RELEASE SAVEPOINT {name}")
            return
        raw.execute("BEGIN")
        try:
            yield self.conn
        except BaseException:
            if not raw.closed:
                raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")

    @contextmanager
    def exclusive(self, name: str) -> Iterator[PgConnection]:
        """A transaction holding the advisory lock ``name``: writers that ask for the same name
        run one after another, and each sees what the previous one committed."""
        with self.transaction() as conn:
            conn.raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"groundswell:{name}",))
            yield conn

    @contextmanager
    def deferred_checkpoints(self, pages: int = 0) -> Iterator[None]:
        """Nothing to do: the PostgreSQL server schedules its own checkpoints (``Store`` spaces
        out SQLite's WAL checkpoints during bulk writes)."""
        yield

    def schema_version(self) -> int:
        if not self.db["schema_migrations"].exists():
            return 0
        row = self.conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0) if row else 0

    def migrate(self) -> list[str]:
        """Apply pending PostgreSQL migrations in order; returns the names applied."""
        raw = self.conn.raw
        applied: list[str] = []
        with self.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            raw.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in raw.execute("SELECT version FROM schema_migrations")}
            for migration in discover():
                if migration.version in done:
                    continue
                migration.upgrade(raw)
                raw.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, isoformat(utcnow())),
                )
                applied.append(f"{migration.version:04d}_{migration.name}")
        if applied:
            self.conn.forget_tables()
        return applied

    # -- posts and snapshots ----------------------------------------------------------------

    def upsert_posts(
        self,
        items: Iterable[tuple[Post, Sequence[str]]],
        seen_at: datetime | None = None,
        canonicalize: Any = None,
    ) -> UpsertResult:
        """Store posts with the brands they matched, in one transaction (as ``Store.upsert_posts``)."""
        seen = isoformat(seen_at or utcnow())
        batch: dict[str, tuple[Post, Sequence[str]]] = {}
        for post, brands in items:
            previous = batch.get(post.id)
            merged = tuple(dict.fromkeys([*(previous[1] if previous else ()), *brands]))
            batch[post.id] = (post, merged)
        if not batch:
            return UpsertResult()
        ids = list(batch)
        raw = self.conn.raw
        with self.transaction():
            existing = self._existing(ids)
            new_rows: list[tuple[Any, ...]] = []
            updates: list[tuple[Any, ...]] = []
            brand_rows: list[tuple[str, str, str]] = []
            snapshot_rows: list[tuple[Any, ...]] = []
            for post_id, (post, brands) in batch.items():
                content_hash = post.content_hash()
                if post_id not in existing:
                    canonical = canonicalize(post.url) if (canonicalize and post.url) else post.url
                    row = post_row(post, content_hash, seen, canonical)
                    new_rows.append((*row, *fold_columns(post.title, post.text, post.author)))
                else:
                    old_hash, _ = existing[post_id]
                    changed = content_hash != old_hash
                    fold_body = (
                        fold_columns(post.title, post.text, post.author)[0] if changed else None
                    )
                    updates.append(
                        (
                            seen,
                            changed,
                            post.title,
                            changed,
                            post.text,
                            changed,
                            fold_body,
                            content_hash,
                            post.author_followers,
                            post_id,
                        )
                    )
                brand_rows.extend((post_id, brand, seen) for brand in brands)
                snap = post.engagement
                if snap is not None and snap.has_counts():
                    last = existing.get(post_id, (None, None))[1]
                    if last != snap.counts():
                        snapshot_rows.append((post_id, seen, *snap.counts()))
            with raw.cursor() as cur:
                inserted: set[str] = set()
                if new_rows:
                    # Another worker may store the same post between our look-up and this
                    # insert (SQLite's BEGIN IMMEDIATE rules that out): its row stands.
                    columns = (*POST_COLUMNS, "fold_body", "fold_author")
                    marks = ", ".join(["%s"] * len(columns))
                    cur.executemany(
                        f"INSERT INTO posts ({', '.join(columns)}) VALUES ({marks}) "
                        "ON CONFLICT (id) DO NOTHING RETURNING id",
                        new_rows,
                        returning=True,
                    )
                    while True:
                        inserted.update(row[0] for row in cur.fetchall())
                        if not cur.nextset():
                            break
                if updates:
                    cur.executemany(
                        "UPDATE posts SET last_seen_at = %s, "
                        "title = CASE WHEN %s THEN %s ELSE title END, "
                        "text = CASE WHEN %s THEN %s ELSE text END, "
                        "fold_body = CASE WHEN %s THEN %s ELSE fold_body END, "
                        "content_hash = %s, author_followers = coalesce(%s, author_followers) "
                        "WHERE id = %s",
                        updates,
                    )
                if brand_rows:
                    cur.executemany(
                        "INSERT INTO post_brands (post_id, brand, matched_at) VALUES (%s, %s, %s) "
                        "ON CONFLICT DO NOTHING",
                        brand_rows,
                    )
                if snapshot_rows:
                    cur.executemany(
                        "INSERT INTO snapshots (post_id, at, likes, shares, comments, views) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (post_id, at) DO UPDATE SET "
                        "likes = excluded.likes, shares = excluded.shares, "
                        "comments = excluded.comments, views = excluded.views",
                        snapshot_rows,
                    )
        new_ids = tuple(row[0] for row in new_rows if row[0] in inserted)
        return UpsertResult(len(new_ids), len(updates), len(snapshot_rows), new_ids)

    def _existing(self, ids: list[str]) -> dict[str, tuple[str, tuple | None]]:
        found: dict[str, tuple[str, tuple | None]] = {}
        raw = self.conn.raw
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for post_id, content_hash in raw.execute(
                "SELECT id, content_hash FROM posts WHERE id = ANY(%s)", (chunk,)
            ):
                found[post_id] = (content_hash, None)
            if not found:
                continue
            for post_id, *counts in raw.execute(
                "SELECT DISTINCT ON (post_id) post_id, likes, shares, comments, views "
                "FROM snapshots WHERE post_id = ANY(%s) ORDER BY post_id, at DESC",
                (chunk,),
            ):
                found[post_id] = (found[post_id][0], tuple(counts))
        return found

    def add_snapshot(self, post_id: str, snapshot: Snapshot) -> bool:
        """Record engagement for a known post if it changed; returns whether a row was added."""
        with self.transaction() as conn:
            last = conn.raw.execute(
                "SELECT likes, shares, comments, views FROM snapshots WHERE post_id = %s "
                "ORDER BY at DESC LIMIT 1",
                (post_id,),
            ).fetchone()
            if last is not None and tuple(last) == snapshot.counts():
                return False
            conn.raw.execute(
                "INSERT INTO snapshots (post_id, at, likes, shares, comments, views) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (post_id, at) DO UPDATE SET "
                "likes = excluded.likes, shares = excluded.shares, "
                "comments = excluded.comments, views = excluded.views",
                (post_id, isoformat(snapshot.at), *snapshot.counts()),
            )
        return True

    def snapshots(self, post_id: str) -> list[Snapshot]:
        return [
            Snapshot(parse_iso(at), likes, shares, comments, views)
            for at, likes, shares, comments, views in self.conn.raw.execute(
                "SELECT at, likes, shares, comments, views FROM snapshots WHERE post_id = %s "
                "ORDER BY at",
                (post_id,),
            )
        ]

    def post(self, post_id: str) -> dict[str, Any] | None:
        """The post's row (the columns of the SQLite ``posts`` table) or None."""
        row = self.conn.raw.execute(
            f"SELECT {', '.join(_ROW_COLUMNS)} FROM posts WHERE id = %s", (post_id,)
        ).fetchone()
        if row is None:
            return None
        return dict(zip(_ROW_COLUMNS, row, strict=True))

    def count(self, table: str) -> int:
        if not table.replace("_", "").isalnum():
            raise ValueError(f"not a table name: {table!r}")
        row = self.conn.raw.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else 0

    # -- source state -------------------------------------------------------------------------

    def get_state(self, key: str) -> SourceState | None:
        row = self.conn.raw.execute(
            f"SELECT {', '.join(_STATE_FIELDS)} FROM source_state WHERE key = %s", (key,)
        ).fetchone()
        if row is None:
            return None
        values = dict(zip(_STATE_FIELDS, row, strict=True))
        values["extra"] = json.loads(values["extra"]) if values["extra"] else {}
        return SourceState(**values)

    def save_state(self, state: SourceState) -> None:
        values = [getattr(state, name) for name in _STATE_FIELDS]
        values[_STATE_FIELDS.index("extra")] = json.dumps(state.extra, sort_keys=True)
        marks = ", ".join(["%s"] * len(_STATE_FIELDS))
        updates = ", ".join(f"{name} = excluded.{name}" for name in _STATE_FIELDS if name != "key")
        with self.transaction() as conn:
            conn.raw.execute(
                f"INSERT INTO source_state ({', '.join(_STATE_FIELDS)}) VALUES ({marks}) "
                f"ON CONFLICT (key) DO UPDATE SET {updates}",
                values,
            )

    def states(self) -> list[SourceState]:
        keys = [
            row[0] for row in self.conn.raw.execute("SELECT key FROM source_state ORDER BY key")
        ]
        return [state for key in keys if (state := self.get_state(key)) is not None]
