"""Posts, brand mentions, snapshots, source state; full-text search; SQLite compatibility objects.

Full-text search: ``fold_body``/``fold_author`` hold the post's tokens as
``monitor.textnorm.tokens`` sees them (folded in Python by the store), and ``fts`` is a generated
``tsvector`` of those exact tokens (author tokens prefixed with ``@``) plus the words of title and
text stemmed with the text search configuration of the post's language (``gs_text_config(lang)``:
english, german, spanish, russian, french … where PostgreSQL has one, ``simple`` otherwise). A
GIN index serves ``fts @@ tsquery``. Brand queries only ask for the exact tokens, so the prefilter
never misses a post that ``monitor.query`` would match; the stemmed words serve ranking and
hand-written language-aware queries.

Compatibility objects let the application's SQLite statements run unchanged: ``sqlite_master``
(view), ``pragma_table_info(name)``, ``posts_fts`` (view over posts: ``rowid``, ``fts``, ``rank``),
``round(double precision, int)``, ``julianday(text)``, ``json_extract_path_text(text, ...)``.
"""

from __future__ import annotations

from typing import Any

# ISO 639-1 code → PostgreSQL text search configuration (only those the server has are used).
LANGUAGE_CONFIGS: dict[str, str] = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nb": "norwegian",
    "nn": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}


def _compat(conn: Any) -> None:
    conn.execute(
        """
        CREATE FUNCTION gs_sync_key() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            key_value bigint := (to_jsonb(NEW) ->> TG_ARGV[0])::bigint;
            seq text := pg_get_serial_sequence(quote_ident(TG_TABLE_NAME), TG_ARGV[0]);
        BEGIN
            IF key_value IS NOT NULL AND seq IS NOT NULL
               AND key_value > coalesce(pg_sequence_last_value(seq::regclass), 0) THEN
                PERFORM setval(seq, key_value);
            END IF;
            RETURN NEW;
        END $$
        """
    )
    conn.execute(
        """
        CREATE VIEW sqlite_master AS
        SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'i' THEN 'index' ELSE 'table' END AS type,
               c.relname::text AS name,
               coalesce(t.relname, c.relname)::text AS tbl_name,
               0 AS rootpage,
               NULL::text AS sql
        FROM pg_class c
        LEFT JOIN pg_index i ON i.indexrelid = c.oid
        LEFT JOIN pg_class t ON t.oid = i.indrelid
        WHERE c.relnamespace = current_schema()::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'i')
        """
    )
    conn.execute(
        """
        CREATE FUNCTION pragma_table_info(tbl text)
        RETURNS TABLE (cid integer, name text, type text, "notnull" integer, dflt_value text,
                       pk integer)
        LANGUAGE sql STABLE AS $$
            SELECT (a.attnum - 1)::integer, a.attname::text,
                   CASE format_type(a.atttypid, a.atttypmod)
                       WHEN 'bigint' THEN 'INTEGER' WHEN 'integer' THEN 'INTEGER'
                       WHEN 'double precision' THEN 'REAL' WHEN 'bytea' THEN 'BLOB'
                       WHEN 'text' THEN 'TEXT' WHEN 'citext' THEN 'TEXT'
                       ELSE upper(format_type(a.atttypid, a.atttypmod)) END,
                   a.attnotnull::integer, pg_get_expr(d.adbin, d.adrelid),
                   coalesce((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(att, n)
                             WHERE k.att = a.attnum), 0)::integer
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
            WHERE c.relname = lower(tbl) AND c.relnamespace = current_schema()::regnamespace
              AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'rowid'
            ORDER BY a.attnum
        $$
        """
    )
    conn.execute(
        "CREATE FUNCTION round(value double precision, digits integer) RETURNS double precision "
        "LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT round(value::numeric, digits)::double precision $$"
    )
    conn.execute(
        "CREATE FUNCTION julianday(value text) RETURNS double precision LANGUAGE sql STABLE STRICT "
        "AS $$ SELECT extract(epoch FROM value::timestamptz)::double precision / 86400.0 "
        "+ 2440587.5 $$"
    )
    conn.execute(
        "CREATE FUNCTION json_extract_path_text(doc text, VARIADIC path text[]) RETURNS text "
        "LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT json_extract_path_text(doc::json, VARIADIC path) $$"
    )


def _text_config(conn: Any) -> None:
    have = {row[0] for row in conn.execute("SELECT cfgname FROM pg_ts_config").fetchall()}
    branches = " ".join(
        f"WHEN '{code}' THEN '{cfg}'::regconfig"
        for code, cfg in sorted(LANGUAGE_CONFIGS.items())
        if cfg in have
    )
    conn.execute(
        "CREATE FUNCTION gs_text_config(lang text) RETURNS regconfig LANGUAGE sql IMMUTABLE AS "
        f"$$ SELECT CASE lower(split_part(coalesce(lang, ''), '-', 1)) {branches} "
        "ELSE 'simple'::regconfig END $$"
    )


def upgrade(conn: Any) -> None:
    _compat(conn)
    _text_config(conn)
    conn.execute(
        """
        CREATE TABLE posts (
            rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            native_id TEXT NOT NULL,
            source_name TEXT,
            url TEXT,
            canonical_url TEXT,
            site TEXT,
            author TEXT,
            author_followers BIGINT,
            lang TEXT,
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            published_at TEXT,
            raw_date TEXT,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            story_id TEXT,
            extra TEXT,
            fold_body TEXT NOT NULL DEFAULT '',
            fold_author TEXT NOT NULL DEFAULT '',
            fts tsvector GENERATED ALWAYS AS (
                array_to_tsvector(array_remove(string_to_array(
                    fold_body || regexp_replace(' ' || fold_author, ' (?=\\S)', ' @', 'g'), ' '),
                    ''))
                || to_tsvector(gs_text_config(lang), title || ' ' || text)
            ) STORED
        )
        """
    )
    for column in (
        "published_at",
        "first_seen_at",
        "source",
        "story_id",
        "canonical_url",
        "author",
        "lang",
    ):
        conn.execute(f"CREATE INDEX idx_posts_{column} ON posts({column})")
    conn.execute("CREATE INDEX idx_posts_fts ON posts USING gin (fts)")
    # Text changed by plain SQL (retention's redaction) rather than by the store: refold what
    # SQL can (lower case, letters and digits); the store itself always writes the exact fold.
    conn.execute(
        """
        CREATE FUNCTION gs_posts_refold() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.fold_body IS NOT DISTINCT FROM OLD.fold_body
               AND (NEW.title IS DISTINCT FROM OLD.title OR NEW.text IS DISTINCT FROM OLD.text) THEN
                NEW.fold_body := array_to_string(regexp_split_to_array(
                    lower(coalesce(NEW.title, '') || ' ' || coalesce(NEW.text, '')),
                    '[^[:alnum:]]+'), ' ');
            END IF;
            IF NEW.fold_author IS NOT DISTINCT FROM OLD.fold_author
               AND NEW.author IS DISTINCT FROM OLD.author THEN
                NEW.fold_author := array_to_string(regexp_split_to_array(
                    lower(coalesce(NEW.author, '')), '[^[:alnum:]]+'), ' ');
            END IF;
            RETURN NEW;
        END $$
        """
    )
    conn.execute(
        "CREATE TRIGGER posts_refold BEFORE UPDATE OF title, text, author ON posts "
        "FOR EACH ROW EXECUTE FUNCTION gs_posts_refold()"
    )
    conn.execute(
        "CREATE VIEW posts_fts AS SELECT rowid, fts, 0::double precision AS rank, "
        "fold_body AS text, fold_author AS author FROM posts"
    )
    conn.execute(
        """
        CREATE TABLE post_brands (
            post_id TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
            brand TEXT NOT NULL,
            matched_at TEXT NOT NULL,
            PRIMARY KEY (post_id, brand)
        )
        """
    )
    conn.execute("CREATE INDEX idx_post_brands_brand ON post_brands(brand, post_id)")
    conn.execute(
        """
        CREATE TABLE snapshots (
            post_id TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            likes BIGINT,
            shares BIGINT,
            comments BIGINT,
            views BIGINT,
            PRIMARY KEY (post_id, at)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE source_state (
            rowid BIGINT GENERATED ALWAYS AS IDENTITY,
            key TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            brand TEXT,
            type TEXT NOT NULL,
            cursor TEXT,
            etag TEXT,
            last_modified TEXT,
            mode TEXT,
            last_attempt_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            consecutive_failures BIGINT NOT NULL DEFAULT 0,
            items_total BIGINT NOT NULL DEFAULT 0,
            last_items BIGINT NOT NULL DEFAULT 0,
            next_poll_at TEXT,
            breaker TEXT NOT NULL DEFAULT 'closed',
            extra TEXT
        )
        """
    )
