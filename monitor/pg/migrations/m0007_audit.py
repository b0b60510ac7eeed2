"""Audit: the hash-chained, append-only audit log, its head, anchors, legal holds, retention log.

The same chain rules as SQLite migration 0007, as plpgsql triggers: UPDATE, DELETE and TRUNCATE
of ``audit_log`` are refused; an INSERT must extend the head (``seq`` = head + 1, ``prev_hash`` =
head hash) and the head follows the log. The insert trigger locks the head row, so two writers
appending at once cannot fork the chain: the second one is refused (the connection also reads
the head ``FOR UPDATE`` inside a transaction, so the second one waits instead).

Also ``posts_time_blocks`` (latest post time per block of 1024 rowids) kept by a trigger, and the
lookup indexes search, export and retention use.
"""

from __future__ import annotations

from typing import Any

from monitor.pg.migrations import integer_key_table

GENESIS = "0" * 64


def _refuse(conn: Any, name: str, message: str) -> None:
    conn.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = 'restrict_violation'; END $$"
    )


def upgrade(conn: Any) -> None:
    conn.execute(
        """
        CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,
            rowid BIGINT GENERATED ALWAYS AS (seq) STORED,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            before TEXT,
            after TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX idx_audit_log_at ON audit_log(at)")
    conn.execute("CREATE INDEX idx_audit_log_action ON audit_log(action, at)")
    conn.execute("CREATE INDEX idx_audit_log_subject ON audit_log(subject, at)")
    conn.execute("CREATE INDEX idx_audit_log_actor ON audit_log(actor, at)")
    conn.execute(
        """
        CREATE TABLE audit_head (
            id BIGINT PRIMARY KEY CHECK (id = 1),
            rowid BIGINT GENERATED ALWAYS AS (id) STORED,
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )
    conn.execute(f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')")
    _refuse(conn, "gs_audit_no_update", "audit_log is append-only: UPDATE refused")
    _refuse(conn, "gs_audit_no_delete", "audit_log is append-only: DELETE refused")
    _refuse(conn, "gs_audit_head_no_delete", "audit_head cannot be deleted")
    conn.execute(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION gs_audit_no_update()"
    )
    conn.execute(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION gs_audit_no_delete()"
    )
    conn.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION gs_audit_no_delete()"
    )
    conn.execute(
        """
        CREATE FUNCTION gs_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            head_seq bigint;
            head_hash text;
        BEGIN
            SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE id = 1 FOR UPDATE;
            IF NEW.prev_hash IS DISTINCT FROM head_hash OR NEW.seq IS DISTINCT FROM head_seq + 1 THEN
                RAISE EXCEPTION 'audit_log insert does not extend the chain head'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    conn.execute(
        "CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION gs_audit_chain()"
    )
    conn.execute(
        """
        CREATE FUNCTION gs_audit_advance() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    conn.execute(
        "CREATE TRIGGER audit_log_advance AFTER INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION gs_audit_advance()"
    )
    conn.execute(
        """
        CREATE FUNCTION gs_audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.seq IS DISTINCT FROM (SELECT max(seq) FROM audit_log)
               OR NEW.hash IS DISTINCT FROM
                  (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1) THEN
                RAISE EXCEPTION 'audit_head follows audit_log only'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    conn.execute(
        "CREATE TRIGGER audit_head_guard BEFORE UPDATE ON audit_head "
        "FOR EACH ROW EXECUTE FUNCTION gs_audit_head_guard()"
    )
    conn.execute(
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
        "FOR EACH ROW EXECUTE FUNCTION gs_audit_head_no_delete()"
    )
    conn.execute(
        """
        CREATE TABLE audit_anchors (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at TEXT NOT NULL,
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL,
            destination TEXT NOT NULL
        )
        """
    )
    integer_key_table(conn, "audit_anchors")
    conn.execute(
        """
        CREATE TABLE legal_holds (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            query TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            released_by TEXT,
            released_at TEXT
        )
        """
    )
    integer_key_table(conn, "legal_holds")
    conn.execute("CREATE INDEX idx_legal_holds_open ON legal_holds(released_at)")
    conn.execute(
        """
        CREATE TABLE retention_log (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at TEXT NOT NULL,
            rule TEXT NOT NULL,
            action TEXT NOT NULL,
            post_id TEXT NOT NULL,
            source TEXT,
            brands TEXT,
            published_at TEXT,
            content_hash TEXT
        )
        """
    )
    integer_key_table(conn, "retention_log")
    conn.execute("CREATE INDEX idx_retention_log_post ON retention_log(post_id)")
    conn.execute("CREATE INDEX idx_retention_log_at ON retention_log(at, rule)")
    _search_support(conn)


def _search_support(conn: Any) -> None:
    conn.execute("CREATE INDEX idx_posts_when ON posts((coalesce(published_at, first_seen_at)))")
    conn.execute(
        """
        CREATE TABLE posts_time_blocks (
            block BIGINT PRIMARY KEY,
            rowid BIGINT GENERATED ALWAYS AS (block) STORED,
            max_when TEXT NOT NULL
        )
        """
    )
    upsert = (
        "INSERT INTO posts_time_blocks (block, max_when) "
        "SELECT rowid >> 10, max(coalesce(published_at, first_seen_at)) FROM {rows} GROUP BY 1 "
        "ON CONFLICT (block) DO UPDATE SET max_when = excluded.max_when "
        "WHERE posts_time_blocks.max_when < excluded.max_when"
    )
    # Inserts: once per statement over the inserted rows; updates of the times: once per row.
    conn.execute(
        "CREATE FUNCTION gs_posts_time_blocks_ins() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {upsert.format(rows='new_posts')}; RETURN NULL; END $$"
    )
    conn.execute(
        "CREATE FUNCTION gs_posts_time_blocks_upd() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN "
        + upsert.format(
            rows="(SELECT NEW.rowid AS rowid, NEW.published_at AS "
            "published_at, NEW.first_seen_at AS first_seen_at) AS changed"
        )
        + "; RETURN NULL; END $$"
    )
    conn.execute(
        "CREATE TRIGGER posts_time_blocks_ai AFTER INSERT ON posts REFERENCING NEW TABLE AS "
        "new_posts FOR EACH STATEMENT EXECUTE FUNCTION gs_posts_time_blocks_ins()"
    )
    conn.execute(
        "CREATE TRIGGER posts_time_blocks_au AFTER UPDATE OF published_at, first_seen_at ON posts "
        "FOR EACH ROW EXECUTE FUNCTION gs_posts_time_blocks_upd()"
    )
    conn.execute(
        "INSERT INTO posts_time_blocks (block, max_when) "
        "SELECT rowid >> 10, max(coalesce(published_at, first_seen_at)) FROM posts GROUP BY 1"
    )
    conn.execute("CREATE INDEX idx_alerts_first_post ON alerts(first_post_id)")
    conn.execute("CREATE INDEX idx_alerts_story ON alerts(story_id)")
    conn.execute("CREATE INDEX idx_alert_events_post ON alert_events(post_id)")
