"""SQLite statements rewritten for PostgreSQL (no server needed)."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "sqlglot", reason="sqlglot is not installed: pip install 'groundswell[postgres]'"
)

from monitor.pg.translate import TableInfo, TranslateError, Translator

TABLES = {
    "snapshots": TableInfo(("post_id", "at"), None, ("post_id", "at", "likes", "views")),
    "alerts": TableInfo(("id",), "id", ("id", "status", "rowid")),
    "posts": TableInfo(("id",), "rowid", ("rowid", "id", "title", "fold_body", "fts")),
}


@pytest.fixture
def translator() -> Translator:
    return Translator(TABLES.get)


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        (
            "SELECT id FROM t WHERE a = ? AND b IN (?, ?)",
            "SELECT id FROM t WHERE a = %s AND b IN (%s, %s)",
        ),
        ("SELECT 1 FROM t WHERE 1", "SELECT 1 FROM t WHERE TRUE"),
        ("SELECT a FROM t WHERE flag", "SELECT a FROM t WHERE (flag) <> 0"),
        ("SELECT sum(a > 1) FROM t", "SELECT SUM(CAST(a > 1 AS INT)) FROM t"),
        (
            "SELECT a FROM t WHERE b = ? COLLATE NOCASE",
            "SELECT a FROM t WHERE LOWER(b) = LOWER(%s)",
        ),
        (
            "SELECT a FROM t WHERE b LIKE '%x%' AND c = ?",
            "SELECT a FROM t WHERE b ILIKE '%%x%%' AND c = %s",
        ),
        ("SELECT group_concat(b, ', ') FROM t", "SELECT STRING_AGG(b, ', ') FROM t"),
        ("SELECT max(a, b), ifnull(c, 0) FROM t", "SELECT GREATEST(a, b), COALESCE(c, 0) FROM t"),
        ("SELECT x FROM (SELECT 1 AS x)", "SELECT x FROM (SELECT 1 AS x) AS gs_sub_0"),
        (
            "SELECT a FROM t CROSS JOIN u ON u.id = t.id",
            "SELECT a FROM t JOIN u ON u.id = t.id",
        ),
        (
            "INSERT OR IGNORE INTO post_brands (post_id, brand) VALUES (?, ?)",
            "INSERT INTO post_brands (post_id, brand) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        ),
        (
            "INSERT OR REPLACE INTO snapshots (post_id, at, likes) VALUES (?, ?, ?)",
            'INSERT INTO snapshots (post_id, at, likes) VALUES (%s, %s, %s) ON CONFLICT ("post_id", "at") '
            'DO UPDATE SET "likes" = EXCLUDED."likes"',
        ),
        (
            "INSERT INTO s (a, m) VALUES (?, 1) ON CONFLICT(a) DO UPDATE SET m = m + excluded.m",
            "INSERT INTO s (a, m) VALUES (%s, 1) ON CONFLICT(a) DO UPDATE SET m = s.m + excluded.m",
        ),
        ("SELECT * FROM posts", "SELECT id, title FROM posts"),
        ("SELECT p.* FROM posts p", "SELECT p.id, p.title FROM posts AS p"),
        (
            "CREATE TABLE x (k TEXT PRIMARY KEY, n INTEGER, r REAL, b BLOB) WITHOUT ROWID",
            "CREATE TABLE x (k TEXT PRIMARY KEY, n BIGINT, r DOUBLE PRECISION, b BYTEA)",
        ),
        (
            "CREATE TABLE y (a TEXT)",
            "CREATE TABLE y (rowid BIGINT GENERATED ALWAYS AS IDENTITY, a TEXT)",
        ),
        ("BEGIN IMMEDIATE", "BEGIN"),
        (
            "SELECT g, max(r) AS top, title FROM t GROUP BY g",
            "SELECT g, MAX(r) AS top, (ARRAY_AGG(title ORDER BY r DESC NULLS LAST))[1] AS title "
            "FROM t GROUP BY g",
        ),
        (
            "SELECT a, b, count(*) FROM t GROUP BY 1, 2",
            "SELECT a, b, COUNT(*) FROM t GROUP BY 1, 2",
        ),
        (
            "SELECT json_group_array(x) FROM t",
            "SELECT COALESCE(JSON_AGG(x), CAST('[]' AS JSON)) FROM t",
        ),
    ],
)
def test_statements(translator: Translator, sqlite: str, postgres: str) -> None:
    assert translator.translate(sqlite).sql == postgres


def test_numbered_and_named_placeholders_pick_parameters(translator: Translator) -> None:
    numbered = translator.translate("UPDATE t SET a = ?1, b = CASE WHEN ?3 != ?2 THEN ?1 END")
    assert numbered.sql.count("%s") == 4
    assert numbered.bind(["A", "B", "C"]) == ("A", "C", "B", "A")
    named = translator.translate("INSERT INTO t (a, b) VALUES (:a, :b)")
    assert named.bind({"b": 2, "a": 1}) == (1, 2)
    with pytest.raises(TranslateError):
        numbered.bind(["only one"])


def test_fts5_match_becomes_a_tsquery_on_the_aliased_view(translator: Translator) -> None:
    statement = translator.translate(
        "SELECT p.id FROM posts_fts f JOIN posts p ON p.rowid = f.rowid "
        "WHERE posts_fts MATCH ? AND p.lang = ?"
    )
    assert "(f.fts @@ CAST(%s AS tsquery))" in statement.sql
    assert statement.bind(['{title text} : "lodz" *', "pl"]) == ("'lodz':*", "pl")


def test_single_insert_returns_its_row_id_and_pragmas(translator: Translator) -> None:
    assert translator.translate("INSERT INTO alerts (status) VALUES (?)").returning == '"id"'
    assert translator.translate("PRAGMA wal_checkpoint(PASSIVE)").noop
    assert translator.translate("PRAGMA wal_autocheckpoint = 5000").noop
    assert (
        translator.translate("PRAGMA wal_autocheckpoint").sql == "SELECT 1000 AS wal_autocheckpoint"
    )
    assert "pragma_table_info('alerts')" in translator.translate("PRAGMA table_info(alerts)").sql
    with pytest.raises(TranslateError):
        translator.translate("PRAGMA integrity_check")
    assert translator.translate("SELECT seq, hash FROM audit_head WHERE id = 1").locking_sql == (
        "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
    )


def test_storage_url_in_the_config() -> None:
    from monitor.config import parse_config
    from monitor.pg import is_postgres_url
    from monitor.pg.store import redact_url

    url = "postgresql://gs@db.internal:5432/groundswell"
    assert parse_config({"storage": url}).storage.path == url
    assert parse_config({"storage": {"path": url}}).storage.path == url
    assert parse_config({}).storage.path == "groundswell.db"
    assert is_postgres_url(url) and is_postgres_url("postgres://h/d")
    assert not is_postgres_url("groundswell.db")
    assert redact_url("postgresql://gs:s3cret@db/g") == "postgresql://gs:***@db/g"
