"""The throwaway PostgreSQL server the PG tests run against."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install 'groundswell[postgres]'"
)


def test_server_answers_and_databases_are_isolated(pg_dsn: str, pg_db: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        row = conn.execute("SELECT current_database(), count(*) FROM t").fetchone()
    assert row is not None
    assert row[0].startswith("gs_test_")
    assert row[1] == 1
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        host = admin.execute("SELECT inet_server_addr()::text, current_setting('fsync')").fetchone()
        tables = admin.execute("SELECT count(*) FROM pg_tables WHERE tablename = 't'").fetchone()
    assert host == ("127.0.0.1/32", "off")
    assert tables == (0,)
