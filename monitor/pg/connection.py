"""A psycopg 3 connection that answers like the ``sqlite3`` connection the application uses.

``PgConnection.execute(sql, params)`` takes the application's SQLite statements (translated once
each by :mod:`monitor.pg.translate`) and returns a cursor with ``fetchone``/``fetchall``/iteration
(rows are tuples, as with ``sqlite3`` without a row factory), ``rowcount``, ``lastrowid`` and
``description``. Errors are raised as the ``sqlite3`` exception classes (``IntegrityError``,
``OperationalError``) so existing ``except sqlite3.Error`` paths keep working; the original
psycopg error is the ``__cause__``.

Parameters are sent untyped (PostgreSQL infers each from where it is used, as SQLite's dynamic
typing would accept it); ``numeric`` results come back as ``int`` or ``float`` and ``json`` as text,
as SQLite would return them.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Dumper, Loader
from psycopg.pq import TransactionStatus

from monitor.pg.translate import TableInfo, Translated, Translator, shared_translator

__all__ = ["PgConnection", "PgCursor", "PgDatabase", "PgTable"]

Params = Sequence[Any] | Mapping[str, Any] | None
_FIRST_CHUNK = 64  # rows fetched with a streaming query's first round trip
_STREAM_CHUNK = 512  # rows per later round trip
_STREAMS = itertools.count(1)


class _UnknownDumper(Dumper):
    """Numbers as untyped literals: the server casts them to whatever the context needs."""

    oid = 0

    def dump(self, obj: Any) -> bytes:
        return str(obj).encode()


class _TextDumper(Dumper):
    """Text as untyped literals; NUL, which PostgreSQL text cannot hold (SQLite can), becomes
    U+FFFD instead of failing the whole batch."""

    oid = 0

    def dump(self, obj: Any) -> bytes:
        return str(obj).replace("\x00", "\ufffd").encode()


class _BoolDumper(Dumper):
    oid = 0

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericLoader(Loader):
    """``numeric`` (sum/avg of integers) as int when whole, else float, like SQLite."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if "." in text or "e" in text or "E" in text or text.isalpha() or text[1:].isalpha():
            value = float(text)
            return int(value) if value.is_integer() and "." not in text else value
        return int(text)


class _TextLoader(Loader):
    def load(self, data: Any) -> str:
        return bytes(data).decode()


def _configure(conn: psycopg.Connection[Any]) -> None:
    adapters = conn.adapters
    adapters.register_dumper(int, _UnknownDumper)
    adapters.register_dumper(float, _UnknownDumper)
    adapters.register_dumper(bool, _BoolDumper)
    adapters.register_dumper(str, _TextDumper)
    adapters.register_loader("numeric", _NumericLoader)
    adapters.register_loader("json", _TextLoader)
    adapters.register_loader("jsonb", _TextLoader)


def _sqlite_error(exc: psycopg.Error) -> sqlite3.Error:
    message = str(exc).strip()
    if isinstance(exc, pg_errors.IntegrityError):
        return sqlite3.IntegrityError(message)
    if isinstance(exc, pg_errors.DataError):
        return sqlite3.DataError(message)
    if isinstance(exc, psycopg.InterfaceError):
        return sqlite3.InterfaceError(message)
    return sqlite3.OperationalError(message)


class PgCursor:
    """The result of one statement, read like a ``sqlite3.Cursor``.

    A query run outside a transaction streams through a server-side cursor: rows arrive in
    chunks, so a caller that stops early (a search wanting 50 results) does not make the
    server compute every match. Any other use of the connection first reads the rest of the stream
    into memory, so interleaved statements see complete results, as with SQLite.
    """

    def __init__(
        self,
        rows: list[tuple[Any, ...]],
        description: tuple[tuple[Any, ...], ...] | None,
        rowcount: int,
        lastrowid: int | None,
        stream: Iterator[tuple[Any, ...]] | None = None,
        owner: PgConnection | None = None,
    ) -> None:
        self._rows = rows
        self._next = 0
        self._stream = stream
        self._owner = owner
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    def _finish(self) -> None:
        self._stream = None
        if self._owner is not None and self._owner._active is self:
            self._owner._active = None

    def _pull(self) -> tuple[Any, ...] | None:
        if self._next < len(self._rows):
            row = self._rows[self._next]
            self._next += 1
            return row
        if self._stream is None:
            return None
        try:
            row = next(self._stream)
        except StopIteration:
            self._finish()
            return None
        except psycopg.Error as exc:
            self._finish()
            raise _sqlite_error(exc) from exc
        self._rows.append(row)
        self._next += 1
        return row

    def materialize(self) -> None:
        """Read the rest of the stream now (the connection is wanted for something else)."""
        if self._stream is None:
            return
        try:
            self._rows.extend(self._stream)
        except psycopg.Error as exc:
            raise _sqlite_error(exc) from exc
        finally:
            self._finish()

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._pull()

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        out = []
        for _ in range(self.arraysize if size is None else size):
            row = self._pull()
            if row is None:
                break
            out.append(row)
        return out

    def fetchall(self) -> list[tuple[Any, ...]]:
        self.materialize()
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self._pull()) is not None:
            yield row

    def close(self) -> None:
        """Stop reading (a running query is cancelled) and drop the rows."""
        stream = self._stream
        if stream is not None and hasattr(stream, "close"):
            stream.close()
        self._finish()
        self._rows = []

    def __del__(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self.close()


class PgConnection:
    """SQLite-style access to one PostgreSQL database (autocommit; ``BEGIN`` opens a transaction)."""

    def __init__(self, conn: psycopg.Connection[Any], translator: Translator | None = None) -> None:
        self._raw = conn
        self._active: PgCursor | None = None
        _configure(conn)
        self._tables: dict[str, TableInfo | None] = {}
        self.translator = translator or Translator()
        self.total_changes = 0
        self.row_factory: Any = None

    @classmethod
    def connect(cls, dsn: str, *, connect_timeout: float = 10.0) -> PgConnection:
        try:
            raw = psycopg.connect(dsn, autocommit=True, connect_timeout=int(connect_timeout))
        except psycopg.Error as exc:
            raise _sqlite_error(exc) from exc
        info = raw.info
        database = f"{info.user}@{info.host}:{info.port}/{info.dbname}"
        return cls(raw, shared_translator(database))

    @property
    def raw(self) -> psycopg.Connection[Any]:
        """The psycopg connection, free for use (a result still streaming is read first)."""
        if self._active is not None:
            self._active.materialize()
        return self._raw

    # -- sqlite3.Connection surface ---------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Params = None) -> PgCursor:
        statement = self._translate(sql)
        if statement.noop:
            return PgCursor([], None, -1, None)
        args = statement.bind(params)
        raw = self.raw
        text = statement.sql
        if statement.streams and not self.in_transaction:
            return self._stream(text, args)
        if statement.locking_sql is not None and self.in_transaction:
            text = statement.locking_sql
        if statement.returning:
            text = f"{text} RETURNING {statement.returning}"
        try:
            with raw.cursor() as cur:
                cur.execute(text, args)
                description = (
                    tuple((c.name, None, None, None, None, None, None) for c in cur.description)
                    if cur.description is not None
                    else None
                )
                rows = cur.fetchall() if cur.description is not None else []
                rowcount = cur.rowcount
        except psycopg.Error as exc:
            raise _sqlite_error(exc) from exc
        if (statement.is_insert and rowcount > 0) or (description is None and rowcount > 0):
            self.total_changes += rowcount
        if statement.returning:
            lastrowid = int(rows[-1][0]) if rows and rows[-1][0] is not None else None
            return PgCursor([], None, rowcount, lastrowid)
        return PgCursor(rows, description, rowcount, None)

    def _stream(self, text: str, args: tuple[Any, ...] | None) -> PgCursor:
        """Run a query through a server-side cursor in a transaction of its own, fetching in
        chunks: the planner picks a fast-start plan (``cursor_tuple_fraction``) and a caller
        that stops early leaves the rest uncomputed."""
        raw = self._raw
        name = f"gs_stream_{next(_STREAMS)}"
        try:
            with raw.cursor() as cur, raw.cursor() as fetch:
                with raw.pipeline():  # one round trip for the three
                    cur.execute("BEGIN")
                    cur.execute(f"DECLARE {name} NO SCROLL CURSOR FOR {text}", args)
                    fetch.execute(f"FETCH FORWARD {_FIRST_CHUNK} FROM {name}")
                first = fetch.fetchall()
                described = fetch.description
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                raw.execute("ROLLBACK")
            raise _sqlite_error(exc) from exc
        description = (
            tuple((c.name, None, None, None, None, None, None) for c in described)
            if described is not None
            else None
        )
        if len(first) < _FIRST_CHUNK:
            self._end_stream(name)
            return PgCursor(first, description, -1, None)
        cursor = PgCursor(first, description, -1, None, stream=self._fetch(name), owner=self)
        self._active = cursor
        return cursor

    def _fetch(self, name: str) -> Iterator[tuple[Any, ...]]:
        try:
            while True:
                with self._raw.cursor() as cur:
                    cur.execute(f"FETCH FORWARD {_STREAM_CHUNK} FROM {name}")
                    rows = cur.fetchall()
                yield from rows
                if len(rows) < _STREAM_CHUNK:
                    break
        finally:
            self._end_stream(name)

    def _end_stream(self, name: str) -> None:
        raw = self._raw
        if raw.closed:
            return
        try:
            with raw.pipeline(), raw.cursor() as cur:
                cur.execute(f"CLOSE {name}")
                cur.execute("COMMIT")
        except psycopg.Error:
            with contextlib.suppress(psycopg.Error):
                raw.execute("ROLLBACK")

    def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> PgCursor:
        statement = self._translate(sql)
        if statement.noop:
            return PgCursor([], None, -1, None)
        rows = [statement.bind(params) for params in seq_of_params]
        if not rows:
            return PgCursor([], None, 0, None)
        try:
            with self.raw.cursor() as cur:
                cur.executemany(statement.sql, rows)  # type: ignore[arg-type]
                rowcount = cur.rowcount
        except psycopg.Error as exc:
            raise _sqlite_error(exc) from exc
        self.total_changes += max(rowcount, 0)
        return PgCursor([], None, rowcount, None)

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def backup(self, target: Any, **kwargs: Any) -> None:
        """SQLite's file backup has no PostgreSQL counterpart here: back the server up instead."""
        raise sqlite3.NotSupportedError(
            "the archive is on PostgreSQL: back it up with pg_dump or the server's own backups "
            "(groundswell archive export-sqlite writes an SQLite copy)"
        )

    def close(self) -> None:
        if self._active is not None:
            self._active.close()
        self._raw.close()

    # -- translation --------------------------------------------------------------------------

    def _translate(self, sql: str) -> Translated:
        return self.translator.translate(sql, self._table_info)

    def _table_info(self, table: str) -> TableInfo | None:
        if table in self._tables:
            return self._tables[table]
        name = table.lower()
        with self.raw.cursor() as cur:
            cur.execute(
                "SELECT a.attname, coalesce(i.indisprimary, false), a.attnum FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid "
                "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
                "AND a.attnum = ANY(i.indkey) "
                "WHERE c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
                "AND pg_table_is_visible(c.oid) ORDER BY a.attnum",
                (name,),
            )
            found = cur.fetchall()
        if not found:
            return None  # not cached: the table may be created later
        columns = tuple(r[0] for r in found)
        key = tuple(r[0] for r in found if r[1])
        rowid = None
        if len(key) == 1 and key[0] != "rowid":
            with self.raw.cursor() as cur:
                cur.execute(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = %s AND column_name = %s AND table_schema = current_schema()",
                    (name, key[0]),
                )
                kind = cur.fetchone()
            if kind and kind[0] in ("bigint", "integer"):
                rowid = key[0]
        if rowid is None and "rowid" in columns:
            rowid = "rowid"
        info = TableInfo(primary_key=key, rowid=rowid, columns=columns)
        self._tables[table] = info
        return info

    def forget_tables(self) -> None:
        """Drop cached table facts (after a migration changed them) and translations."""
        self._tables.clear()
        self.translator.clear()


class PgTable:
    """``store.db[name]`` for the few sqlite-utils table questions the application asks."""

    def __init__(self, conn: PgConnection, name: str) -> None:
        self.conn = conn
        self.name = name

    def exists(self) -> bool:
        row = self.conn.raw.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_name = %s",
            (self.name.lower(),),
        ).fetchone()
        return row is not None

    @property
    def columns_dict(self) -> dict[str, type]:
        kinds = {"bigint": int, "integer": int, "double precision": float, "bytea": bytes}
        rows = self.conn.raw.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            (self.name.lower(),),
        ).fetchall()
        return {name: kinds.get(kind, str) for name, kind in rows if name != "rowid"}

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row as a dict (the SQLite columns only)."""
        cursor = self.conn.execute(f'SELECT * FROM "{self.name}"')
        names = [d[0] for d in cursor.description or ()]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    @property
    def count(self) -> int:
        return int(self.conn.execute(f'SELECT count(*) FROM "{self.name}"').fetchone()[0])  # type: ignore[index]


class PgDatabase:
    """The ``store.db`` stand-in: table lookups and ``execute`` (through the translator)."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def __getitem__(self, name: str) -> PgTable:
        return PgTable(self.conn, name)

    def execute(self, sql: str, params: Params = None) -> PgCursor:
        return self.conn.execute(sql, params)

    def table_names(self) -> list[str]:
        rows = self.conn.raw.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]
