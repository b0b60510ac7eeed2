"""Archive search: the brand query language over the FTS5 index, plus filters and snippets.

FTS5 narrows the candidates with a conservative translation of the query; every candidate is
then checked with the query's own evaluator, so NEAR, NOT and accent-folding mean exactly what
they mean when collectors match brands.

Filters on what other parts of the service add (sentiment, risk, alert status, assignee) join
their tables only when those tables exist, so search works on a bare archive too.

Sorting newest first does not sort every match: the full-text index is walked newest rowid
first, and ``posts_time_blocks`` (the latest post time per block of 1024 rowids) tells when no
older block can hold a later post, so rows are emitted as soon as their place is certain. On an
archive filled roughly in time order this reads a few hundred matches for the first page, not all
of them; on one filled out of order it degrades to reading every match, never to a wrong order.
"""

from __future__ import annotations

import heapq
import re
import sqlite3
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import accumulate
from typing import Any

from monitor.query import And, Document, Meta, Query, parse
from monitor.records import isoformat
from monitor.store import Store
from monitor.textnorm import fold
from monitor.urls import site_of

__all__ = [
    "ALERT_STATUSES",
    "ORDERS",
    "SearchError",
    "SearchFilters",
    "highlight",
    "iter_search",
    "search",
    "tune_for_search",
]

ORDERS = ("time", "risk", "relevance")
# "open" = firing or acknowledged; "none" = no alert ever raised on the post or its story.
ALERT_STATUSES = ("firing", "acknowledged", "resolved", "open", "any", "none")

_COLUMNS = (
    "id",
    "source",
    "source_name",
    "site",
    "url",
    "author",
    "lang",
    "title",
    "text",
    "published_at",
    "first_seen_at",
    "story_id",
)
_WHEN = "coalesce(p.published_at, p.first_seen_at)"
_BLOCK_SHIFT = 10  # posts_time_blocks.block = rowid >> 10 (see migration m0007)
_SNIPPET_CHARS = 180
_WORD_RE = re.compile(r"[^\W_]+")


class SearchError(RuntimeError):
    """A search could not run (bad filter, or the archive refused the query)."""


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Restrictions applied on top of the query; ``None`` means no restriction.

    ``since``/``until`` bound the post time (published, else first seen), ``until`` exclusive.
    ``risk_min``/``risk_max`` bound the latest risk (0..1, inclusive); ``alert_status`` is one
    of ``ALERT_STATUSES``; ``assignee`` is the user a review item is assigned to.
    """

    brand: str | None = None
    source: str | None = None
    lang: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sentiment: str | None = None
    risk_min: float | None = None
    risk_max: float | None = None
    alert_status: str | None = None
    assignee: str | None = None


@dataclass(frozen=True, slots=True)
class _Schema:
    """What the archive holds beyond the core tables, looked up once per search."""

    assessments: bool
    risk_scores: bool
    alerts: bool
    assignments: tuple[str, str] | None  # (table, assignee column)
    time_blocks: bool

    @classmethod
    def of(cls, conn: sqlite3.Connection) -> _Schema:
        tables: dict[str, set[str]] = {}
        for table, column in conn.execute(
            "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c "
            "WHERE m.type = 'table' AND m.name IN ("
            "'assessments', 'risk_scores', 'alerts', 'assignments', 'review_assignments', "
            "'reviews', 'posts_time_blocks')"
        ):
            tables.setdefault(table, set()).add(column)
        assignments = None
        for table in ("assignments", "review_assignments", "reviews"):
            columns = tables.get(table, set())
            if "post_id" not in columns:
                continue
            for column in ("assignee", "assigned_to", "username", "user"):
                if column in columns:
                    assignments = (table, column)
                    break
            if assignments:
                break
        return cls(
            assessments={"post_id", "risk", "sentiment"} <= tables.get("assessments", set()),
            risk_scores={"post_id", "risk", "at"} <= tables.get("risk_scores", set()),
            alerts={"first_post_id", "status"} <= tables.get("alerts", set()),
            assignments=assignments,
            time_blocks="posts_time_blocks" in tables,
        )

    def risk_sql(self) -> str | None:
        parts = []
        if self.risk_scores:
            parts.append(
                "(SELECT rs.risk FROM risk_scores rs WHERE rs.post_id = p.id "
                "ORDER BY rs.at DESC LIMIT 1)"
            )
        if self.assessments:
            parts.append(
                "(SELECT a.risk FROM assessments a WHERE a.post_id = p.id "
                "ORDER BY a.rowid DESC LIMIT 1)"
            )
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

    def sentiment_sql(self) -> str | None:
        if not self.assessments:
            return None
        return (
            "(SELECT a.sentiment FROM assessments a WHERE a.post_id = p.id "
            "ORDER BY a.rowid DESC LIMIT 1)"
        )

    def alert_sql(self) -> str | None:
        if not self.alerts:
            return None
        return (
            "coalesce((SELECT al.status FROM alerts al WHERE al.first_post_id = p.id "
            "ORDER BY al.rowid DESC LIMIT 1), (SELECT al.status FROM alerts al "
            "WHERE p.story_id IS NOT NULL AND al.story_id = p.story_id "
            "ORDER BY al.rowid DESC LIMIT 1))"
        )

    def assignee_sql(self) -> str | None:
        if self.assignments is None:
            return None
        table, column = self.assignments
        return (
            f"(SELECT r.[{column}] FROM [{table}] r WHERE r.post_id = p.id "
            f"ORDER BY r.rowid DESC LIMIT 1)"
        )


def _where(filters: SearchFilters, schema: _Schema) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if filters.brand:
        clauses.append(
            "EXISTS (SELECT 1 FROM post_brands b WHERE b.post_id = p.id AND b.brand = ? COLLATE NOCASE)"
        )
        args.append(filters.brand)
    if filters.source:
        clauses.append("(p.source = ? OR p.source_name = ?)")
        args += [filters.source, filters.source]
    if filters.lang:
        clauses.append("p.lang = ?")
        args.append(filters.lang.lower())
    if filters.since:
        clauses.append(f"{_WHEN} >= ?")
        args.append(isoformat(filters.since))
    if filters.until:
        clauses.append(f"{_WHEN} < ?")
        args.append(isoformat(filters.until))
    if filters.sentiment:
        sentiment = schema.sentiment_sql()
        if sentiment is None:
            raise SearchError("--sentiment needs model assessments; this archive has none")
        clauses.append(f"{sentiment} = ?")
        args.append(filters.sentiment.lower())
    if filters.risk_min is not None or filters.risk_max is not None:
        risk = schema.risk_sql()
        if risk is None:
            raise SearchError("a risk filter needs risk scores; this archive has none")
        if filters.risk_min is not None:
            clauses.append(f"{risk} >= ?")
            args.append(float(filters.risk_min))
        if filters.risk_max is not None:
            clauses.append(f"{risk} <= ?")
            args.append(float(filters.risk_max))
    if filters.alert_status:
        status = filters.alert_status.lower()
        if status not in ALERT_STATUSES:
            raise SearchError(
                f"unknown alert status {filters.alert_status!r}; use one of {', '.join(ALERT_STATUSES)}"
            )
        alert = schema.alert_sql()
        if alert is None:
            if status != "none":
                raise SearchError("an alert filter needs the alerts table; this archive has none")
        elif status == "none":
            clauses.append(f"{alert} IS NULL")
        elif status == "any":
            clauses.append(f"{alert} IS NOT NULL")
        elif status == "open":
            clauses.append(f"{alert} IN ('firing', 'acknowledged')")
        else:
            clauses.append(f"{alert} = ?")
            args.append(status)
    if filters.assignee:
        assignee = schema.assignee_sql()
        if assignee is None:
            raise SearchError("an assignee filter needs review assignments; this archive has none")
        clauses.append(f"{assignee} = ? COLLATE NOCASE")
        args.append(filters.assignee)
    return clauses, args


def _meta_where(parsed: Query | None) -> tuple[list[str], list[Any]]:
    """SQL for ``lang:``/``source:`` terms that every match must satisfy (a top-level AND).

    The query's own evaluator still checks each row; this only keeps SQLite from handing over
    rows it would reject, which matters when the words are common and the language is not.
    """
    if parsed is None:
        return [], []
    root = parsed.root
    conjuncts = root.children if isinstance(root, And) else (root,)
    clauses: list[str] = []
    args: list[Any] = []
    for node in conjuncts:
        if isinstance(node, Meta) and node.name in ("lang", "source"):
            clauses.append(f"p.{node.name} = ? COLLATE NOCASE")
            args.append(node.value)
    return clauses, args


def _select(schema: _Schema) -> str:
    extra = {
        "risk": schema.risk_sql(),
        "sentiment": schema.sentiment_sql(),
        "alert_status": schema.alert_sql(),
        "assignee": schema.assignee_sql(),
    }
    parts = [f"p.{c}" for c in _COLUMNS]
    parts.append(
        "(SELECT group_concat(brand, ', ') FROM post_brands b WHERE b.post_id = p.id) AS brands"
    )
    parts += [f"{sql or 'NULL'} AS {name}" for name, sql in extra.items()]
    parts += [f"{_WHEN} AS _when", "p.rowid AS _rowid"]
    return ", ".join(parts)


def highlight(
    text: str,
    terms: Sequence[str] | frozenset[str],
    marks: tuple[str, str] = ("[", "]"),
    width: int = _SNIPPET_CHARS,
) -> str:
    """A window of ``text`` (about ``width`` characters) around the first query term, with
    every term wrapped in ``marks``.

    Terms are folded words (``refund``) or prefixes (``refund*``) as given by
    ``Query.highlight_terms``; matching folds the text the same way (``Łódź`` hits ``lodz``).

    Example:
        >>> highlight("Nobody answers. Zwrot pieniędzy? Nie ma.", {"pieniedzy", "zwrot*"})
        'Nobody answers. [Zwrot] [pieniędzy]? Nie ma.'
    """
    body = " ".join(text.split())
    folded = fold(body)
    if len(folded) != len(body):
        # Folding moved characters (ß → ss, dropped combining accents): go word by word.
        return _highlight_words(body, terms, marks, width)
    pattern = _terms_pattern(frozenset(terms))
    hits = [m.span() for m in pattern.finditer(folded)] if pattern is not None else []
    first_start, first_end = hits[0] if hits else (0, 0)
    start = max(0, first_start - width // 3)
    end = min(len(body), start + width)
    start = max(0, end - width)
    if start > 0:  # begin on a word boundary, without cutting the first hit
        space = body.find(" ", start, first_start)
        start = space + 1 if space >= 0 else start
    if end < len(body):
        space = body.rfind(" ", max(start, first_end), end)
        end = space if space >= 0 else end
    out: list[str] = []
    cursor = start
    for a, b in hits:
        if a < start or b > end:
            continue
        out += [body[cursor:a], marks[0], body[a:b], marks[1]]
        cursor = b
    out.append(body[cursor:end])
    return ("…" if start else "") + "".join(out) + ("…" if end < len(body) else "")


@lru_cache(maxsize=256)
def _terms_pattern(terms: frozenset[str]) -> re.Pattern[str] | None:
    """One regex for the folded words and prefixes, matching whole words only."""
    parts = sorted(
        (re.escape(t[:-1]) + r"[^\W_]*" if t.endswith("*") else re.escape(t))
        for t in terms
        if t.rstrip("*")
    )
    if not parts:
        return None
    return re.compile(r"(?<![^\W_])(?:" + "|".join(parts) + r")(?![^\W_])")


def _highlight_words(
    body: str, terms: Sequence[str] | frozenset[str], marks: tuple[str, str], width: int
) -> str:
    words = max(4, width // 7)
    exact = {t for t in terms if not t.endswith("*")}
    prefixes = tuple(t[:-1] for t in terms if t.endswith("*") and len(t) > 1)
    spans = list(_WORD_RE.finditer(body))
    words_folded = [fold(m.group()) for m in spans]
    hits = [
        i
        for i, word in enumerate(words_folded)
        if word in exact or (prefixes and word.startswith(prefixes))
    ]
    if not spans:
        return body[:160]
    first = hits[0] if hits else 0
    start = max(0, first - words // 3)
    end = min(len(spans), start + words)
    start = max(0, end - words)
    hit_set = set(hits)
    out: list[str] = []
    cursor = spans[start].start() if start else 0
    for i in range(start, end):
        match = spans[i]
        out.append(body[cursor : match.start()])
        word = body[match.start() : match.end()]
        out.append(f"{marks[0]}{word}{marks[1]}" if i in hit_set else word)
        cursor = match.end()
    tail_end = spans[end].start() if end < len(spans) else len(body)
    out.append(body[cursor:tail_end].rstrip())
    return ("…" if start else "") + "".join(out) + ("…" if end < len(spans) else "")


class _Pending:
    """A found row waiting for its place in newest-first order (later time, then higher rowid)."""

    __slots__ = ("key", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.key = (row["_when"], row["_rowid"])

    def __lt__(self, other: _Pending) -> bool:
        return self.key > other.key  # heapq is a min-heap: invert for newest first


def _bounds(conn: sqlite3.Connection) -> list[str]:
    """``bounds[b]`` = the latest post time in blocks 0..b (prefix maximum)."""
    rows = conn.execute("SELECT block, max_when FROM posts_time_blocks ORDER BY block").fetchall()
    if not rows:
        return []
    if rows[-1][0] == len(rows) - 1:  # no gaps (the usual case)
        return list(accumulate((when for _, when in rows), max))
    found = dict(rows)
    return list(accumulate((found.get(b, "") for b in range(rows[-1][0] + 1)), max))


def tune_for_search(store: Store, mmap_bytes: int = 1 << 31) -> None:
    """Map the archive into memory for this connection: many random row reads get cheaper.

    Search and export read posts by rowid in index order; through ``mmap`` SQLite reads pages
    without a system call each. Harmless on a small archive (the map is only as large as the file).
    """
    store.conn.execute(f"PRAGMA mmap_size = {int(mmap_bytes)}")


def _rows(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


def _time_ordered(
    conn: sqlite3.Connection, sql: str, args: list[Any], since: str | None
) -> Iterator[dict[str, Any]]:
    """Rows of ``sql`` (walking rowids downwards) re-emitted newest first, as early as certain."""
    bounds = _bounds(conn)
    pending: list[_Pending] = []
    for row in _rows(conn.execute(sql, args)):
        block = row["_rowid"] >> _BLOCK_SHIFT
        if block < len(bounds):
            # Every row still to come has rowid <= this one, so time <= bounds[block].
            limit = (bounds[block], row["_rowid"])
            while pending and pending[0].key >= limit:
                yield heapq.heappop(pending).row
            if since is not None and bounds[block] < since and not pending:
                return
        else:
            bounds = []  # a block the table does not know: no early emission from here on
        heapq.heappush(pending, _Pending(row))
    while pending:
        yield heapq.heappop(pending).row


def iter_search(
    store: Store,
    query: str | Query | None,
    filters: SearchFilters = SearchFilters(),
    order: str = "time",
    marks: tuple[str, str] = ("[", "]"),
) -> Iterator[dict[str, Any]]:
    """Yield matching posts: newest first (``time``), riskiest first, or by FTS rank.

    Each row holds the post's columns plus ``brands``, ``risk``, ``sentiment``,
    ``alert_status``, ``assignee`` (``None`` where the archive has no such data) and
    ``snippet``: a window of the text with the query's words wrapped in ``marks``.
    """
    if order not in ORDERS:
        raise SearchError(f"unknown order {order!r}; use one of {', '.join(ORDERS)}")
    parsed = parse(query) if isinstance(query, str) else query
    conn = store.conn
    schema = _Schema.of(conn)
    clauses, args = _where(filters, schema)
    meta_clauses, meta_args = _meta_where(parsed)
    clauses += meta_clauses
    args += meta_args
    select = _select(schema)
    fts = parsed.fts() if parsed is not None else None
    where = "".join(f" AND {clause}" for clause in clauses)
    rows: Iterator[dict[str, Any]]
    if fts and order == "relevance":
        sql = (
            f"SELECT {select} FROM (SELECT rowid, rank FROM posts_fts WHERE posts_fts MATCH ? "
            f"ORDER BY rank) f JOIN posts p ON p.rowid = f.rowid WHERE 1{where} ORDER BY f.rank"
        )
        rows = _rows(conn.execute(sql, [fts, *args]))
    elif fts and order == "time" and schema.time_blocks:
        since = isoformat(filters.since) if filters.since else None
        lowest = 0
        if since is not None:
            # Blocks whose latest post is older than ``since`` cannot match: let FTS5 skip them
            # (it seeks on rowid), rather than hand over rows the filters then reject one by one.
            lowest = bisect_left(_bounds(conn), since) << _BLOCK_SHIFT
        sql = (
            f"SELECT {select} FROM posts_fts f JOIN posts p ON p.rowid = f.rowid "
            f"WHERE posts_fts MATCH ? AND f.rowid >= ?{where} ORDER BY f.rowid DESC"
        )
        rows = _time_ordered(conn, sql, [fts, lowest, *args], since)
    else:
        source = (
            "posts_fts f JOIN posts p ON p.rowid = f.rowid WHERE posts_fts MATCH ?"
            if fts
            else "posts p WHERE 1"
        )
        if order == "risk":
            risk = schema.risk_sql() or "NULL"
            ordering = f"{risk} IS NULL, {risk} DESC, {_WHEN} DESC, p.rowid DESC"
        else:
            ordering = f"{_WHEN} DESC, p.rowid DESC"
        sql = f"SELECT {select} FROM {source}{where} ORDER BY {ordering}"
        rows = _rows(conn.execute(sql, [fts, *args] if fts else args))
    terms = parsed.highlight_terms() if parsed is not None else frozenset()
    for item in rows:
        if parsed is not None and not parsed.matches(
            Document(
                title=item["title"] or "",
                text=item["text"] or "",
                author=item["author"] or "",
                site=" ".join(filter(None, [item["site"], site_of(item["url"])])),
                lang=item["lang"] or "",
                source=item["source"] or "",
            )
        ):
            continue
        del item["_when"], item["_rowid"]
        item["snippet"] = highlight(item["text"] or item["title"] or "", terms, marks)
        yield item


def search(
    store: Store,
    query: str | Query | None,
    filters: SearchFilters = SearchFilters(),
    limit: int = 50,
    order: str = "time",
    marks: tuple[str, str] = ("[", "]"),
) -> list[dict[str, Any]]:
    """The first ``limit`` results of :func:`iter_search`.

    Example:
        >>> from monitor.store import Store
        >>> search(Store.open(":memory:"), "refund NEAR/5 never", SearchFilters(lang="en"))
        []
    """
    results = []
    try:
        for item in iter_search(store, query, filters, order, marks):
            results.append(item)
            if len(results) >= limit:
                break
    except sqlite3.OperationalError as exc:
        raise SearchError(f"search failed in the archive {store.path}: {exc}") from exc
    return results
