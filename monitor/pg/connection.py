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

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Dumper, Loader
from psycopg.pq import TransactionStatus

from monitor.pg.translate import TableInfo, Translated, Translator

__all__ = ["PgConnection", "PgCursor", "PgDatabase", "PgTable"]

Params = Sequence[Any] | Mapping[str, Any] | None


class _UnknownDumper(Dumper):
    """Numbers as untyped literals: the server casts them to whatever the context needs."""

    oid = 0

    def dump(self, obj: Any) -> bytes:
        return str(obj).encode()


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
    """The result of one statement, read like a ``sqlite3.Cursor``."""

    def __init__(
        self,
        rows: list[tuple[Any, ...]],
        description: tuple[tuple[Any, ...], ...] | None,
        rowcount: int,
        lastrowid: int | None,
    ) -> None:
        self._rows = rows
        self._next = 0
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        row = self._rows[self._next]
        self._next += 1
        return row

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        count = self.arraysize if size is None else size
        rows = self._rows[self._next : self._next + count]
        self._next += len(rows)
        return rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while self._next < len(self._rows):
            row = self._rows[self._next]
            self._next += 1
            yield row

    def close(self) -> None:
        self._rows = []


_EMPTY = PgCursor([], None, -1, None)


class PgConnection:
    """SQLite-style access to one PostgreSQL database (autocommit; ``BEGIN`` opens a transaction)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn
        _configure(conn)
        self._tables: dict[str, TableInfo | None] = {}
        self.translator = Translator(self._table_info)
        self.total_changes = 0
        self.row_factory: Any = None

    @classmethod
    def connect(cls, dsn: str, *, connect_timeout: float = 10.0) -> PgConnection:
        try:
            raw = psycopg.connect(dsn, autocommit=True, connect_timeout=int(connect_timeout))
        except psycopg.Error as exc:
            raise _sqlite_error(exc) from exc
        return cls(raw)

    # -- sqlite3.Connection surface ---------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Params = None) -> PgCursor:
        statement = self._translate(sql)
        if statement.noop:
            return _EMPTY
        args = statement.bind(params)
        text = statement.sql
        if statement.locking_sql is not None and self.in_transaction:
            text = statement.locking_sql
        if statement.returning:
            text = f"{text} RETURNING {statement.returning}"
        try:
            with self.raw.cursor() as cur:
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

    def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> PgCursor:
        statement = self._translate(sql)
        if statement.noop:
            return _EMPTY
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

    def close(self) -> None:
        self.raw.close()

    # -- translation --------------------------------------------------------------------------

    def _translate(self, sql: str) -> Translated:
        return self.translator.translate(sql)

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
        self.translator = Translator(self._table_info)


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
