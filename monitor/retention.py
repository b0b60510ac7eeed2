"""Retention: forget what no longer needs keeping, never what is under an alert or a legal hold.

Configuration (all optional; without a ``[retention]`` section nothing is ever purged)::

    [retention]
    text_after = "365d"       # blank title, text and author of posts never flagged, after this
    delete_after = "3y"       # delete posts (and their snapshots) after this, flagged or not
    snapshots_after = "90d"   # delete engagement snapshots older than this (latest one kept)
    flagged_risk = 0.6        # a post whose risk reached this counts as flagged (keeps its text)
    anchor_file = "audit-anchors.jsonl"   # where `groundswell audit anchor` writes the chain head
    anchor_webhook_env = "AUDIT_ANCHOR_URL"  # env var holding a URL the head is also POSTed to

Ages count from when the post was published (else first seen). What is never touched:

* posts under an open alert (firing or acknowledged) — their own or their story's;
* posts matching an open legal hold (``groundswell hold add QUERY``);
* for ``delete_after``: posts an alert ever pointed at (they are that alert's evidence);
* for ``text_after``: those too, and posts whose risk reached ``flagged_risk``.

Every post removed or blanked leaves a ``retention_log`` row (id, source, brands, publication
time, content hash), so counts per brand and day and proof of what existed survive; each run
appends one ``retention.purge`` entry to the audit log with the totals.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from monitor.config import Config, Problems, parse_interval
from monitor.records import isoformat, utcnow
from monitor.store import Store

__all__ = [
    "AnchorDeliveryError",
    "Hold",
    "HoldError",
    "RetentionReport",
    "RetentionSettings",
    "add_hold",
    "forget_author",
    "held_post_ids",
    "list_holds",
    "parse_section",
    "protected_post_ids",
    "release_hold",
    "run_retention",
    "settings_of",
    "write_anchor_if_configured",
]

_BATCH = 500
# Tables whose rows about a post outlive it: the alert history and the audit trail.
_KEEP_PREFIXES = ("posts", "alert", "outbox", "audit", "retention", "legal_holds", "bursts")
_KEYS = frozenset(
    {
        "text_after",
        "delete_after",
        "snapshots_after",
        "flagged_risk",
        "anchor_file",
        "anchor_webhook_env",
    }
)
_ANCHOR_TIMEOUT = 10.0


class HoldError(ValueError):
    """A legal hold that cannot be added or released (bad query, unknown or closed hold)."""


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """Parsed ``[retention]``; durations in seconds, ``None`` = keep forever."""

    text_after: float | None = None
    delete_after: float | None = None
    snapshots_after: float | None = None
    flagged_risk: float = 0.6
    anchor_file: str | None = None
    anchor_webhook_env: str | None = None

    @property
    def active(self) -> bool:
        return any(
            v is not None for v in (self.text_after, self.delete_after, self.snapshots_after)
        )


def parse_section(raw: dict[str, Any], problems: Problems, path: str) -> RetentionSettings:
    """Parse the ``[retention]`` table; problems name the key and the fix."""
    problems.unknown_keys(raw, _KEYS, path)
    durations: dict[str, float | None] = {}
    for key in ("text_after", "delete_after", "snapshots_after"):
        value = problems.expect(raw, key, (str, int), path)
        durations[key] = None
        if value is None:
            continue
        try:
            durations[key] = parse_interval(value)
        except ValueError as exc:
            problems.add(f"{path}.{key}", str(exc), 'use a duration like "90d" or "1y"')
    text_after, delete_after = durations["text_after"], durations["delete_after"]
    if text_after is not None and delete_after is not None and delete_after < text_after:
        problems.add(
            f"{path}.delete_after",
            "delete_after is shorter than text_after",
            "posts would be deleted before their text is due; make delete_after the longer one",
        )
    risk = problems.expect(raw, "flagged_risk", float, path, 0.6)
    if not 0.0 <= float(risk) <= 1.0:
        problems.add(f"{path}.flagged_risk", f"expected a number from 0 to 1, got {risk}")
        risk = 0.6
    anchor_file = problems.expect(raw, "anchor_file", str, path)
    webhook_env = problems.expect(raw, "anchor_webhook_env", str, path)
    return RetentionSettings(
        text_after=text_after,
        delete_after=delete_after,
        snapshots_after=durations["snapshots_after"],
        flagged_risk=float(risk),
        anchor_file=anchor_file,
        anchor_webhook_env=webhook_env,
    )


def settings_of(config: Config | None) -> RetentionSettings:
    """The retention settings of ``config`` (defaults when the section is absent)."""
    section = config.section("retention") if config is not None else None
    return section if isinstance(section, RetentionSettings) else RetentionSettings()


# -- legal holds -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    query: str
    reason: str
    created_by: str
    created_at: str
    released_by: str | None = None
    released_at: str | None = None

    @property
    def open(self) -> bool:
        return self.released_at is None


def add_hold(
    store: Store, query: str, *, actor: str, reason: str = "", now: datetime | None = None
) -> Hold:
    """Open a legal hold on every post matching ``query`` (brand query language)."""
    from monitor.audit import record
    from monitor.query import QuerySyntaxError, parse

    try:
        parse(query)
    except QuerySyntaxError as exc:
        raise HoldError(f"hold query does not parse: {exc}") from exc
    moment = isoformat(now or utcnow())
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO legal_holds (query, reason, created_by, created_at) VALUES (?, ?, ?, ?)",
            (query, reason, actor, moment),
        )
        hold_id = int(cursor.lastrowid or 0)
        record(
            store,
            actor=actor,
            action="hold.add",
            subject=f"hold:{hold_id}",
            after={"query": query, "reason": reason},
            at=now,
        )
    return Hold(hold_id, query, reason, actor, moment)


def release_hold(store: Store, hold_id: int, *, actor: str, now: datetime | None = None) -> Hold:
    """Close an open hold; retention may then purge its posts like any others."""
    from monitor.audit import record

    moment = isoformat(now or utcnow())
    with store.transaction() as conn:
        hold = next((h for h in list_holds(store, include_released=True) if h.id == hold_id), None)
        if hold is None:
            raise HoldError(f"no legal hold with id {hold_id}")
        if not hold.open:
            raise HoldError(f"legal hold {hold_id} was already released at {hold.released_at}")
        conn.execute(
            "UPDATE legal_holds SET released_by = ?, released_at = ? WHERE id = ?",
            (actor, moment, hold_id),
        )
        record(
            store,
            actor=actor,
            action="hold.release",
            subject=f"hold:{hold_id}",
            before={"query": hold.query, "reason": hold.reason},
            at=now,
        )
    return Hold(hold.id, hold.query, hold.reason, hold.created_by, hold.created_at, actor, moment)


def list_holds(store: Store, include_released: bool = False) -> list[Hold]:
    sql = (
        "SELECT id, query, reason, created_by, created_at, released_by, released_at "
        "FROM legal_holds"
    )
    if not include_released:
        sql += " WHERE released_at IS NULL"
    return [Hold(*row) for row in store.conn.execute(sql + " ORDER BY id")]


def held_post_ids(store: Store) -> set[str]:
    """Ids of posts matching any open legal hold."""
    from monitor.search import iter_search

    held: set[str] = set()
    for hold in list_holds(store):
        held.update(item["id"] for item in iter_search(store, hold.query))
    return held


def _tables(conn: sqlite3.Connection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, column in conn.execute(
        "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c "
        "WHERE m.type = 'table'"
    ):
        found.setdefault(table, set()).add(column)
    return found


def _alerted_sql(tables: dict[str, set[str]], statuses: tuple[str, ...] | None) -> str | None:
    """SELECT of post ids that an alert points at (optionally only in ``statuses``)."""
    columns = tables.get("alerts", set())
    if "first_post_id" not in columns:
        return None
    status = ""
    if statuses is not None and "status" in columns:
        status = " AND al.status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"
    sql = f"SELECT al.first_post_id FROM alerts al WHERE al.first_post_id IS NOT NULL{status}"
    if "story_id" in columns:
        sql += (
            f" UNION SELECT p.id FROM posts p JOIN alerts al ON al.story_id = p.story_id "
            f"WHERE p.story_id IS NOT NULL{status}"
        )
    if {"post_id", "alert_id"} <= tables.get("alert_events", set()):
        sql += (
            f" UNION SELECT ev.post_id FROM alert_events ev JOIN alerts al ON al.id = ev.alert_id "
            f"WHERE ev.post_id IS NOT NULL{status}"
        )
    return sql


def protected_post_ids(store: Store) -> dict[str, str]:
    """Posts retention must not touch, with the reason: ``open alert`` or ``legal hold``."""
    tables = _tables(store.conn)
    protected = dict.fromkeys(held_post_ids(store), "legal hold")
    sql = _alerted_sql(tables, ("firing", "acknowledged"))
    if sql is not None:
        for (post_id,) in store.conn.execute(sql):
            protected.setdefault(post_id, "open alert")
    return protected


# -- the purge job ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionReport:
    redacted: int = 0
    deleted: int = 0
    snapshots_deleted: int = 0
    kept_for_hold: int = 0
    kept_for_alert: int = 0
    dry_run: bool = False
    rules: dict[str, str] = field(default_factory=dict)

    @property
    def purged(self) -> int:
        """Posts blanked or deleted, plus snapshots deleted."""
        return self.redacted + self.deleted + self.snapshots_deleted

    def as_dict(self) -> dict[str, Any]:
        return {
            "redacted": self.redacted,
            "deleted": self.deleted,
            "snapshots_deleted": self.snapshots_deleted,
            "kept_for_hold": self.kept_for_hold,
            "kept_for_alert": self.kept_for_alert,
            "dry_run": self.dry_run,
            "rules": dict(self.rules),
        }


_WHEN = "coalesce(p.published_at, p.first_seen_at)"
_LOG_COLUMNS = (
    "p.id, p.source, (SELECT group_concat(brand, ',') FROM post_brands b WHERE b.post_id = p.id), "
    "p.published_at, p.content_hash"
)


def _flagged_sql(tables: dict[str, set[str]], threshold: float) -> str:
    parts = []
    alerted = _alerted_sql(tables, None)
    if alerted:
        parts.append(f"p.id IN ({alerted})")
    for table, column in (("risk_scores", "risk"), ("assessments", "risk")):
        if {"post_id", column} <= tables.get(table, set()):
            parts.append(
                f"EXISTS (SELECT 1 FROM {table} r WHERE r.post_id = p.id "
                f"AND r.{column} >= {float(threshold)!r})"
            )
    return " OR ".join(parts) if parts else "0"


def _candidates(
    conn: sqlite3.Connection, where: str, args: list[Any], protected: dict[str, str]
) -> Iterator[tuple[list[tuple[Any, ...]], int, int]]:
    """Batches of log rows for posts matching ``where``, minus protected ones (with counts)."""
    rows = conn.execute(f"SELECT {_LOG_COLUMNS} FROM posts p WHERE {where}", args).fetchall()
    batch: list[tuple[Any, ...]] = []
    held = alerted = 0
    for row in rows:
        reason = protected.get(row[0])
        if reason == "legal hold":
            held += 1
        elif reason:
            alerted += 1
        else:
            batch.append(row)
        if len(batch) >= _BATCH:
            yield batch, held, alerted
            batch, held, alerted = [], 0, 0
    if batch or held or alerted:
        yield batch, held, alerted


def run_retention(
    store: Store,
    config: Config | RetentionSettings | None,
    now: datetime | None = None,
    *,
    actor: str = "system",
    dry_run: bool = False,
) -> RetentionReport:
    """Apply the retention rules once; returns what was (or, with ``dry_run``, would be) done.

    Example:
        >>> from monitor.store import Store
        >>> run_retention(Store.open(":memory:"), RetentionSettings(text_after=86400)).redacted
        0
    """
    settings = config if isinstance(config, RetentionSettings) else settings_of(config)
    moment = now or utcnow()
    rules: dict[str, str] = {}
    if not settings.active:
        return RetentionReport(dry_run=dry_run)
    tables = _tables(store.conn)
    protected = protected_post_ids(store)
    redacted = deleted = snapshots = held = alerted = 0
    stamp = isoformat(moment)

    def log(conn: sqlite3.Connection, rule: str, action: str, rows: list[tuple[Any, ...]]) -> None:
        conn.executemany(
            "INSERT INTO retention_log (at, rule, action, post_id, source, brands, "
            "published_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(stamp, rule, action, *row) for row in rows],
        )

    if settings.delete_after is not None:
        cutoff = isoformat(moment - timedelta(seconds=settings.delete_after))
        rule = f"delete_after={_days(settings.delete_after)}"
        rules["delete_after"] = cutoff
        # Posts an alert ever pointed at are the evidence of that alert: never deleted.
        alerted_sql = _alerted_sql(tables, None)
        where = f"{_WHEN} < ?" + (f" AND p.id NOT IN ({alerted_sql})" if alerted_sql else "")
        for batch, h, a in _candidates(store.conn, where, [cutoff], protected):
            held, alerted = held + h, alerted + a
            deleted += len(batch)
            if dry_run or not batch:
                continue
            with store.transaction() as conn:
                log(conn, rule, "delete", batch)
                _delete_posts(conn, tables, [row[0] for row in batch])
    if settings.text_after is not None:
        cutoff = isoformat(moment - timedelta(seconds=settings.text_after))
        rule = f"text_after={_days(settings.text_after)}"
        rules["text_after"] = cutoff
        where = (
            f"{_WHEN} < ? AND (p.text != '' OR p.title != '' OR p.author IS NOT NULL) "
            f"AND NOT ({_flagged_sql(tables, settings.flagged_risk)})"
        )
        h_total = a_total = 0
        for batch, h, a in _candidates(store.conn, where, [cutoff], protected):
            h_total, a_total = h_total + h, a_total + a
            redacted += len(batch)
            if dry_run or not batch:
                continue
            with store.transaction() as conn:
                log(conn, rule, "redact", batch)
                conn.executemany(
                    "UPDATE posts SET title = '', text = '', author = NULL, extra = NULL "
                    "WHERE id = ?",
                    [(row[0],) for row in batch],
                )
        held, alerted = max(held, h_total), max(alerted, a_total)
    if settings.snapshots_after is not None:
        cutoff = isoformat(moment - timedelta(seconds=settings.snapshots_after))
        rules["snapshots_after"] = cutoff
        where = (
            "s.at < ? AND s.at < (SELECT max(m.at) FROM snapshots m WHERE m.post_id = s.post_id)"
        )
        snapshots = int(
            store.conn.execute(
                f"SELECT count(*) FROM snapshots s WHERE {where}", [cutoff]
            ).fetchone()[0]
        )
        if snapshots and not dry_run:
            with store.transaction() as conn:
                conn.execute(
                    "DELETE FROM snapshots WHERE (post_id, at) IN "
                    f"(SELECT s.post_id, s.at FROM snapshots s WHERE {where})",
                    [cutoff],
                )
    report = RetentionReport(redacted, deleted, snapshots, held, alerted, dry_run, rules)
    if not dry_run:
        from monitor.audit import record

        record(
            store,
            actor=actor,
            action="retention.purge",
            subject="archive",
            after=report.as_dict(),
            at=moment,
        )
    return report


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g}d"


def _delete_posts(conn: sqlite3.Connection, tables: dict[str, set[str]], ids: list[str]) -> None:
    """Delete posts and rows of other tables that name them (assessments, scores, reviews …)."""
    marks = ",".join("?" * len(ids))
    for table, columns in tables.items():
        if "post_id" not in columns or table.startswith(_KEEP_PREFIXES):
            continue
        conn.execute(f"DELETE FROM [{table}] WHERE post_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM posts WHERE id IN ({marks})", ids)


# -- one author's data (GDPR-style access and erasure) ----------------------------------------


def _author_hash(author: str) -> str:
    return "sha256:" + hashlib.sha256(author.strip().casefold().encode("utf-8")).hexdigest()


def forget_author(
    store: Store,
    author: str,
    out: IO[bytes] | None,
    *,
    actor: str,
    delete: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Export every post by ``author`` as JSON Lines to ``out``, then delete them.

    Posts under a legal hold or an open alert are exported but kept, and listed in the result.
    The audit entry names the author only by a hash: the log is permanent, the request is not
    a reason to keep the name. Returns the counts, the kept ids and the export's SHA-256.
    """
    from monitor.audit import record
    from monitor.export import POST_COLUMNS, export_rows

    rows = store.conn.execute(
        "SELECT p.*, (SELECT group_concat(brand, ', ') FROM post_brands b "
        "WHERE b.post_id = p.id) AS brands FROM posts p WHERE p.author = ? COLLATE NOCASE "
        "ORDER BY coalesce(p.published_at, p.first_seen_at)",
        (author.strip(),),
    )
    names = [d[0] for d in rows.description]
    found = [dict(zip(names, row, strict=True)) for row in rows]
    digest = ""
    if out is not None:
        _, digest, _ = export_rows(found, out, "jsonl", POST_COLUMNS)
    protected = protected_post_ids(store)
    kept = {p["id"]: protected[p["id"]] for p in found if p["id"] in protected}
    doomed = [p for p in found if p["id"] not in kept]
    moment = now or utcnow()
    if delete and not store.readonly:
        tables = _tables(store.conn)
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO retention_log (at, rule, action, post_id, source, brands, "
                "published_at, content_hash) VALUES (?, 'forget-author', 'delete', ?, ?, ?, ?, ?)",
                [
                    (
                        isoformat(moment),
                        p["id"],
                        p["source"],
                        (p["brands"] or "").replace(", ", ","),
                        p["published_at"],
                        p["content_hash"],
                    )
                    for p in doomed
                ],
            )
            for start in range(0, len(doomed), _BATCH):
                _delete_posts(conn, tables, [p["id"] for p in doomed[start : start + _BATCH]])
            record(
                store,
                actor=actor,
                action="privacy.forget_author",
                subject=f"author:{_author_hash(author)}",
                after={
                    "exported": len(found),
                    "deleted": len(doomed),
                    "kept": kept,
                    "export_sha256": digest,
                },
                at=moment,
            )
    return {
        "exported": len(found),
        "deleted": len(doomed) if delete else 0,
        "kept": kept,
        "export_sha256": digest,
    }


class AnchorDeliveryError(RuntimeError):
    """The chain head could not be posted to the configured anchor webhook."""


def write_anchor_if_configured(store: Store, config: Config | None) -> str | None:
    """Anchor the audit chain head where ``[retention]`` says (for the scheduler's job).

    Appends to ``anchor_file`` and/or POSTs ``{"at", "seq", "hash", "archive"}`` to the URL in
    the environment variable named by ``anchor_webhook_env`` (a URL often carries a token, so
    the config names the variable, never the URL). Returns the head as JSON, or ``None`` when
    nothing is configured; raises :class:`AnchorDeliveryError` when the webhook fails (the file
    anchor, if any, is written first).
    """
    settings = settings_of(config)
    url = None
    if settings.anchor_webhook_env:
        from monitor.secrets import get_secret

        url = get_secret(settings.anchor_webhook_env)
        if not url:
            raise AnchorDeliveryError(
                f"[retention] anchor_webhook_env names {settings.anchor_webhook_env}, "
                "which is not set"
            )
    if not settings.anchor_file and not url:
        return None
    from monitor.audit import anchor

    result = anchor(store, Path(settings.anchor_file) if settings.anchor_file else None)
    head = json.dumps({"at": result.at, "seq": result.seq, "hash": result.hash})
    if url:
        import httpx

        try:
            response = httpx.post(
                str(url),
                json={**json.loads(head), "archive": store.path},
                timeout=_ANCHOR_TIMEOUT,
                headers={"User-Agent": "groundswell-audit-anchor"},
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise AnchorDeliveryError(f"anchor not delivered: {type(exc).__name__}") from exc
    return head
