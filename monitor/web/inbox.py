"""The flagged inbox: an incrementally synced index and keyset-paginated queries over it.

``sync_inbox`` copies what the inbox sorts and filters on into the ``inbox`` table: new posts
(by rowid watermark), the latest risk score and severity of posts with new ``risk_scores`` rows,
and the latest sentiment of posts with new ``assessments`` rows. Each call does only the work
that arrived since the last one, so pages can call it on every request.

``query_inbox`` pages with a keyset cursor (the last row's sort key), never ``OFFSET``: page 500
costs the same index range scan as page 1.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from monitor.query import Document, Query, QuerySyntaxError, parse
from monitor.records import isoformat, utcnow
from monitor.store import Store
from monitor.urls import site_of
from monitor.web.schema import columns, has_table

__all__ = [
    "SENTIMENTS",
    "SEVERITIES",
    "STATUSES",
    "InboxFilters",
    "InboxPage",
    "query_inbox",
    "sync_inbox",
]

STATUSES = (
    "open",
    "new",
    "assigned",
    "acknowledged",
    "snoozed",
    "resolved",
    "false_positive",
    "all",
)
SEVERITIES = ("flagged", "critical", "warning", "info", "none")
SENTIMENTS = ("negative", "neutral", "positive")
SORTS = ("risk", "time")
# How the search box finds a page (see ``query_inbox``). A query whose full-text prefilter
# matches at most ``_FTS_CAP`` posts is driven from the index: its matches are joined to the
# inbox and sorted. A more common one walks the inbox order and keeps the entries whose post
# rowid is among the matches (a set SQLite builds once per query): with the rowid in the sort
# index, that check needs no read of the inbox row. Past ``_WALK_SET_CAP`` matches building
# the set costs more than checking the text of the few rows a page needs.
_FTS_CAP = 2_000
_WALK_SET_CAP = 300_000
# A walk looks at no more than this many index entries per page; if the page is not full by
# then (the filters and the query rarely meet), a query with at most ``_FALLBACK_CAP`` matches
# finishes the page from the index, and a more common one stops with a cursor to go on from.
_WALK_BUDGET = 120_000
_FALLBACK_CAP = 60_000
_MAX_SCAN = 5000  # posts whose text is re-checked for one page


@dataclass(frozen=True, slots=True)
class InboxFilters:
    """What the inbox shows; every field round-trips through the page URL."""

    brand: str = ""
    competitor: str = ""  # "" all, "only" competitors, "exclude" own brands only
    source: str = ""
    lang: str = ""
    sentiment: str = ""
    severity: str = ""
    status: str = "open"
    assignee: str = ""
    since: str = ""  # YYYY-MM-DD
    until: str = ""
    q: str = ""
    sort: str = "risk"
    cursor: str = ""

    _FIELDS = (
        "brand",
        "competitor",
        "source",
        "lang",
        "sentiment",
        "severity",
        "status",
        "assignee",
        "since",
        "until",
        "q",
        "sort",
        "cursor",
    )

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> InboxFilters:
        """Read filters from query parameters, dropping values that are not allowed."""
        values = {name: str(params.get(name, "") or "").strip()[:500] for name in cls._FIELDS}
        if values["status"] not in STATUSES:
            values["status"] = "open"
        if values["severity"] not in ("", *SEVERITIES):
            values["severity"] = ""
        if values["sentiment"] not in ("", *SENTIMENTS):
            values["sentiment"] = ""
        if values["sort"] not in SORTS:
            values["sort"] = "risk"
        if values["competitor"] not in ("", "only", "exclude"):
            values["competitor"] = ""
        for key in ("since", "until"):
            if values[key] and not _is_date(values[key]):
                values[key] = ""
        return cls(**values)

    def query_string(self, **changes: str) -> str:
        """The URL query for these filters with ``changes`` applied (empty values left out)."""
        current = replace(self, **changes)
        pairs = [(name, getattr(current, name)) for name in self._FIELDS]
        defaults = InboxFilters()
        return urlencode(
            [(k, v) for k, v in pairs if v and (v != getattr(defaults, k) or k == "status")]
        )


def _is_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class InboxPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    error: str | None = None
    scanned: int = 0
    notes: list[str] = field(default_factory=list)


# -- sync -------------------------------------------------------------------------------------


def _mark(conn: sqlite3.Connection, name: str) -> tuple[int, str]:
    row = conn.execute("SELECT watermark, mark FROM inbox_sync WHERE name = ?", (name,)).fetchone()
    return (int(row[0]), str(row[1] or "")) if row else (0, "")


def _set_mark(conn: sqlite3.Connection, name: str, value: int, mark: str = "") -> None:
    conn.execute(
        "INSERT INTO inbox_sync (name, watermark, mark) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET watermark = excluded.watermark, mark = excluded.mark",
        (name, value, mark),
    )


def _max_rowid(conn: sqlite3.Connection, table: str) -> int | None:
    try:
        row = conn.execute(f"SELECT max(rowid) FROM [{table}]").fetchone()
    except sqlite3.OperationalError:  # WITHOUT ROWID table
        return None
    return int(row[0] or 0)


@dataclass(frozen=True, slots=True)
class _Delta:
    """Rows of a feature table added since the last sync: ``WHERE {where}`` with ``args``."""

    table: str
    where: str
    args: tuple[Any, ...]
    value: int
    mark: str


def _delta(conn: sqlite3.Connection, table: str, time_column: str) -> _Delta | None:
    """New rows by rowid, or for WITHOUT ROWID tables by an indexed time column (``>=`` so
    rows sharing the last timestamp are looked at again: re-applying them changes nothing)."""
    if not has_table(conn, table):
        return None
    value, mark = _mark(conn, table)
    top = _max_rowid(conn, table)
    if top is not None:
        if top <= value:
            return None
        return _Delta(table, "rowid > ? AND rowid <= ?", (value, top), top, "")
    if time_column not in columns(conn, table):
        return None
    latest = conn.execute(f"SELECT max([{time_column}]) FROM [{table}]").fetchone()[0]
    if latest is None or (mark and str(latest) <= mark and value):
        return None
    return _Delta(table, f"[{time_column}] >= ?", (mark,), 1, str(latest))


def sync_inbox(
    store: Store, warning_risk: float = 0.5, critical_risk: float = 0.8
) -> dict[str, int]:
    """Bring the inbox index up to date with posts, risk scores and assessments; returns counts."""
    conn = store.conn
    if store.readonly or not has_table(conn, "inbox"):
        return {}
    done: dict[str, int] = {}
    posts = _delta(conn, "posts", "first_seen_at")
    risk = _delta(conn, "risk_scores", "at")
    assessed = _delta(conn, "assessments", "assessed_at")
    if posts is None and risk is None and assessed is None:
        return done
    with store.transaction():
        if posts is not None:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO inbox (post_id, post_rowid, at, brand, source, source_name, "
                "lang) SELECT p.id, p.rowid, coalesce(p.published_at, p.first_seen_at), "
                "(SELECT min(b.brand) FROM post_brands b WHERE b.post_id = p.id), p.source, "
                "p.source_name, p.lang "
                f"FROM posts p WHERE {posts.where.replace('rowid', 'p.rowid')}",
                posts.args,
            )
            done["posts"] = cursor.rowcount
            conn.execute(
                "UPDATE inbox SET (status, assignee, snoozed_until) = "
                "(SELECT r.status, r.assignee, r.snoozed_until FROM reviews r "
                "WHERE r.post_id = inbox.post_id) "
                "WHERE post_id IN (SELECT r.post_id FROM reviews r JOIN posts p ON p.id = r.post_id "
                f"WHERE {posts.where.replace('rowid', 'p.rowid')})",
                posts.args,
            )
            _set_mark(conn, "posts", posts.value, posts.mark)
        if risk is not None:
            cursor = conn.execute(
                "UPDATE inbox SET (risk, severity) = (SELECT coalesce(r.risk, 0), r.severity "
                "FROM risk_scores r WHERE r.post_id = inbox.post_id ORDER BY r.at DESC LIMIT 1) "
                f"WHERE post_id IN (SELECT post_id FROM risk_scores WHERE {risk.where})",
                risk.args,
            )
            done["risk_scores"] = cursor.rowcount
            _set_mark(conn, "risk_scores", risk.value, risk.mark)
        if assessed is not None:
            cols = set(columns(conn, "assessments"))
            when = "assessed_at" if "assessed_at" in cols else "rowid"
            cues = "a.cues" if "cues" in cols else "NULL"
            complaint = "a.complaint" if "complaint" in cols else "NULL"
            latest = (
                f"FROM assessments a WHERE a.post_id = inbox.post_id ORDER BY a.{when} DESC LIMIT 1"
            )
            sets = (
                f"(sentiment, complaint, cues) = (SELECT a.sentiment, {complaint}, {cues} {latest})"
            )
            if not has_table(conn, "risk_scores") and "risk" in cols:
                # Without a risk scorer, the model's own risk estimate orders the inbox.
                sets += (
                    f", risk = coalesce((SELECT a.risk {latest}), 0), severity = CASE "
                    f"WHEN (SELECT a.risk {latest}) >= {float(critical_risk)} THEN 'critical' "
                    f"WHEN (SELECT a.risk {latest}) >= {float(warning_risk)} THEN 'warning' "
                    f"ELSE 'info' END"
                )
            cursor = conn.execute(
                f"UPDATE inbox SET {sets} WHERE post_id IN "
                f"(SELECT post_id FROM assessments WHERE {assessed.where})",
                assessed.args,
            )
            done["assessments"] = cursor.rowcount
            _set_mark(conn, "assessments", assessed.value, assessed.mark)
    return done


# -- query ------------------------------------------------------------------------------------

_SELECT = (
    "SELECT i.post_id, i.at, i.brand, i.source, i.lang, i.risk, i.severity, i.sentiment, "
    "i.complaint, i.cues, i.status, i.assignee, i.snoozed_until, p.title, p.text, p.author, "
    "p.author_followers, p.url, p.site, p.source_name, p.story_id "
    "FROM inbox i CROSS JOIN posts p ON p.id = i.post_id"
)


def _encode_cursor(row: Mapping[str, Any], sort: str) -> str:
    key = (
        [row["risk"], row["at"], row["post_id"]] if sort == "risk" else [row["at"], row["post_id"]]
    )
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_cursor(text: str, sort: str) -> list[Any] | None:
    if not text:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    size = 3 if sort == "risk" else 2
    if not isinstance(key, list) or len(key) != size:
        return None
    if sort == "risk" and not isinstance(key[0], int | float):
        return None
    if not all(isinstance(v, str) for v in key[-2:]):
        return None
    return key


def _where(
    filters: InboxFilters, user: str, competitors: Sequence[str], now: str
) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    status = filters.status
    if status == "open":
        clauses.append(
            "i.status IN ('new', 'assigned', 'acknowledged') "
            "AND (i.snoozed_until IS NULL OR i.snoozed_until <= ?)"
        )
        args.append(now)
    elif status == "snoozed":
        clauses.append("i.snoozed_until > ?")
        args.append(now)
    elif status != "all":
        clauses.append("i.status = ?")
        args.append(status)
    if filters.severity == "flagged":
        clauses.append("i.severity IN ('warning', 'critical')")
    elif filters.severity == "none":
        clauses.append("i.severity IS NULL")
    elif filters.severity:
        clauses.append("i.severity = ?")
        args.append(filters.severity)
    if filters.sentiment:
        clauses.append("i.sentiment = ?")
        args.append(filters.sentiment)
    if filters.lang:
        clauses.append("i.lang = ?")
        args.append(filters.lang.lower())
    if filters.source:
        clauses.append("(i.source = ? OR i.source_name = ?)")
        args += [filters.source, filters.source]
    if filters.assignee == "none":
        clauses.append("i.assignee IS NULL")
    elif filters.assignee:
        clauses.append("i.assignee = ? COLLATE NOCASE")
        args.append(user if filters.assignee == "me" else filters.assignee)
    if filters.brand:
        clauses.append(
            "EXISTS (SELECT 1 FROM post_brands b WHERE b.post_id = i.post_id "
            "AND b.brand = ? COLLATE NOCASE)"
        )
        args.append(filters.brand)
    if filters.competitor == "only" and not competitors:
        clauses.append("0")  # no brand is configured as a competitor
    elif filters.competitor and competitors:
        marks = ", ".join("?" * len(competitors))
        exists = (
            f"EXISTS (SELECT 1 FROM post_brands b WHERE b.post_id = i.post_id "
            f"AND b.brand IN ({marks}))"
        )
        clauses.append(exists if filters.competitor == "only" else f"NOT {exists}")
        args += list(competitors)
    dates, dates_args = _dates(filters)
    return clauses + dates, args + dates_args


def _dates(filters: InboxFilters) -> tuple[list[str], list[Any]]:
    """The date filters alone: the sort indexes can check them without reading rows."""
    clauses: list[str] = []
    args: list[Any] = []
    if filters.since:
        clauses.append("i.at >= ?")
        args.append(filters.since)
    if filters.until:
        clauses.append("i.at < ?")
        args.append(filters.until + "T99")  # the whole 'until' day
    return clauses, args


def _order(sort: str) -> str:
    if sort == "risk":
        return "ORDER BY i.risk DESC, i.at DESC, i.post_id DESC"
    return "ORDER BY i.at DESC, i.post_id DESC"


def _keyset(sort: str, op: str = "<") -> str:
    if sort == "risk":
        return f"(i.risk, i.at, i.post_id) {op} (?, ?, ?)"
    return f"(i.at, i.post_id) {op} (?, ?)"


def _key_columns(sort: str) -> str:
    return "i.risk, i.at, i.post_id" if sort == "risk" else "i.at, i.post_id"


def _encode_key(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def query_inbox(
    store: Store,
    filters: InboxFilters,
    *,
    user: str = "",
    competitors: Sequence[str] = (),
    page_size: int = 50,
    now: datetime | None = None,
) -> InboxPage:
    """One page of the inbox for ``filters``, with the cursor of the next page (or None).

    Without a search this is one range scan of a sort index. With one, candidates come in the
    page's order from the full-text index (see ``_FTS_CAP``) and every candidate is re-checked
    with the query's own evaluator, so NEAR, NOT and folding mean what they mean elsewhere.
    """
    clauses, args = _where(filters, user, competitors, isoformat(now or utcnow()))
    sort = filters.sort
    cursor_key = _decode_cursor(filters.cursor, sort)
    if not filters.q:
        where = list(clauses)
        params = list(args)
        if cursor_key is not None:
            where.append(_keyset(sort))
            params += cursor_key
        cur = store.conn.execute(
            f"{_SELECT} WHERE {' AND '.join(where) or '1'} {_order(sort)} LIMIT ?",
            [*params, page_size + 1],
        )
        rows = list(_dicts(cur))
        next_cursor = _encode_cursor(rows[page_size - 1], sort) if len(rows) > page_size else None
        rows = rows[:page_size]
        _enrich(store, rows)
        return InboxPage(rows, next_cursor)
    try:
        parsed = parse(filters.q)
    except QuerySyntaxError as exc:
        return InboxPage([], None, error=f"search: {exc}")
    search = _Search(
        conn=store.conn,
        fts=parsed.fts(),
        sort=sort,
        clauses=clauses,
        args=args,
        dates=_dates(filters),
    )
    try:
        search.count()
        rows, scanned, more = _fill(store.conn, search.candidates(cursor_key), parsed, page_size)
    except sqlite3.OperationalError as exc:
        return InboxPage([], None, error=f"search failed: {exc}")
    notes: list[str] = []
    next_cursor = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        next_cursor = _encode_cursor(rows[-1], sort)
    elif (resume := more if more is not None else search.stopped_at) is not None:
        # Stopped by a budget before the page was full: go on from the last key looked at.
        next_cursor = _encode_key(resume)
        looked = max(scanned, search.walked)
        notes.append(f"searched {looked} items so far; continue to the next page for more")
    _enrich(store, rows)
    return InboxPage(rows, next_cursor, scanned=scanned, notes=notes)


class _Search:
    """Candidates for one search page, in the page's order, from the cheapest source."""

    def __init__(
        self,
        *,
        conn: sqlite3.Connection,
        fts: str | None,
        sort: str,
        clauses: list[str],
        args: list[Any],
        dates: tuple[list[str], list[Any]],
    ) -> None:
        self.conn = conn
        self.fts = fts
        self.sort = sort
        self.clauses = clauses
        self.args = args
        self.dates = dates
        self.found = 0
        self.walked = 0
        self.stopped_at: list[Any] | None = None

    def count(self) -> int:
        """Full-text matches, counted up to one past the largest that changes the plan."""
        if self.fts:
            self.found = int(
                self.conn.execute(
                    "SELECT count(*) FROM (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ? "
                    "LIMIT ?)",
                    (self.fts, _WALK_SET_CAP + 1),
                ).fetchone()[0]
            )
        return self.found

    def candidates(self, cursor_key: list[Any] | None) -> Iterator[list[Any]]:
        """Sort keys of inbox rows that pass the filters and (where the plan checks it in
        SQL) the full-text prefilter, in page order; the caller re-checks each exactly."""
        if self.fts and self.found <= _FTS_CAP:
            yield from self._driven(cursor_key)
            return
        member = self.fts if self.fts and self.found <= _WALK_SET_CAP else None
        yield from self._walk(cursor_key, member)
        if self.stopped_at is not None and self.fts and self.found <= _FALLBACK_CAP:
            start, self.stopped_at = self.stopped_at, None
            yield from self._driven(start)

    def _driven(self, cursor_key: list[Any] | None) -> Iterator[list[Any]]:
        """Matches joined to the inbox by post rowid, filtered, then sorted."""
        where = ["posts_fts MATCH ?", *self.clauses]
        params: list[Any] = [self.fts, *self.args]
        if cursor_key is not None:
            where.append(_keyset(self.sort))
            params += cursor_key
        sql = (
            f"SELECT {_key_columns(self.sort)} FROM posts_fts f "
            "CROSS JOIN inbox i ON i.post_rowid = f.rowid "
            f"WHERE {' AND '.join(where)} {_order(self.sort)}"
        )
        for row in self.conn.execute(sql, params):
            yield list(row)

    def _walk(self, cursor_key: list[Any] | None, member: str | None) -> Iterator[list[Any]]:
        """The sort index from the cursor on, at most ``_WALK_BUDGET`` entries of it.

        ``member`` (an FTS5 query) keeps entries whose post is among its matches; the unary
        ``+`` stops SQLite from turning that set into a lookup of ``idx_inbox_post_rowid``
        followed by a sort, so the walk stays in index order and can stop at the page's end.
        """
        keyset: list[str] = []
        key_args: list[Any] = []
        if cursor_key is not None:
            keyset.append(_keyset(self.sort))
            key_args += cursor_key
        dates, dates_args = self.dates
        bound = self.conn.execute(
            f"SELECT {_key_columns(self.sort)} FROM inbox i "
            f"WHERE {' AND '.join([*keyset, *dates]) or '1'} {_order(self.sort)} LIMIT 1 OFFSET ?",
            [*key_args, *dates_args, _WALK_BUDGET - 1],
        ).fetchone()
        where = [*keyset, *self.clauses]
        params = [*key_args, *self.args]
        if bound is not None:
            where.append(_keyset(self.sort, ">="))
            params += list(bound)
        if member is not None:
            where.insert(
                0, "+i.post_rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)"
            )
            params.insert(0, member)
        sql = (
            f"SELECT {_key_columns(self.sort)} FROM inbox i "
            f"WHERE {' AND '.join(where) or '1'} {_order(self.sort)}"
        )
        for row in self.conn.execute(sql, params):
            yield list(row)
        self.walked += _WALK_BUDGET if bound is not None else 0
        self.stopped_at = list(bound) if bound is not None else None


def _dicts(cur: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    for row in cur:
        yield dict(zip(names, row, strict=True))


def _fill(
    conn: sqlite3.Connection,
    candidates: Iterator[list[Any]],
    parsed: Query,
    page_size: int,
) -> tuple[list[dict[str, Any]], int, list[Any] | None]:
    """Rows of the candidates whose post matches ``parsed`` exactly, up to one past a page.

    Returns the rows, how many candidates were checked, and the last candidate's key when
    ``_MAX_SCAN`` stopped the search before the candidates ran out (else None).
    """
    rows: list[dict[str, Any]] = []
    scanned = 0
    chunk_size = page_size + 1
    while len(rows) <= page_size:
        chunk = list(islice(candidates, chunk_size))
        if not chunk:
            return rows, scanned, None
        ids = [key[-1] for key in chunk]
        marks = ", ".join("?" * len(ids))
        details = {
            item["post_id"]: item
            for item in _dicts(conn.execute(f"{_SELECT} WHERE i.post_id IN ({marks})", ids))
        }
        for key in chunk:
            scanned += 1
            item = details.get(key[-1])
            if item is not None and parsed.matches(_document(item)):
                rows.append(item)
                if len(rows) > page_size:
                    return rows, scanned, None
            if scanned >= _MAX_SCAN:
                return rows, scanned, key
        # Some candidates failed the exact check: read further ahead next time.
        chunk_size = min(max(2 * chunk_size, 64), 1000)
    return rows, scanned, None


def _document(item: Mapping[str, Any]) -> Document:
    return Document(
        title=item["title"] or "",
        text=item["text"] or "",
        author=item["author"] or "",
        site=" ".join(filter(None, [item["site"], site_of(item["url"])])),
        lang=item["lang"] or "",
        source=item["source"] or "",
    )


def cue_names(raw: Any) -> list[str]:
    """Cue names from an assessment's ``cues`` JSON (objects with a name, or plain strings)."""
    if not raw:
        return []
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    names: list[str] = []
    for cue in data if isinstance(data, list) else []:
        name = cue.get("name") if isinstance(cue, dict) else cue
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def _enrich(store: Store, rows: list[dict[str, Any]]) -> None:
    """Add engagement velocity, story size and cue names to one page of rows."""
    if not rows:
        return
    ids = [row["post_id"] for row in rows]
    marks = ", ".join("?" * len(ids))
    velocity = engagement_velocity(store, ids)
    stories = [row["story_id"] for row in rows if row["story_id"]]
    sizes: dict[str, int] = {}
    if stories:
        smarks = ", ".join("?" * len(stories))
        sizes = dict(
            store.conn.execute(
                f"SELECT story_id, count(*) FROM posts WHERE story_id IN ({smarks}) GROUP BY story_id",
                stories,
            ).fetchall()
        )
    brands: dict[str, list[str]] = {}
    for post_id, brand in store.conn.execute(
        f"SELECT post_id, brand FROM post_brands WHERE post_id IN ({marks}) ORDER BY brand", ids
    ):
        brands.setdefault(post_id, []).append(brand)
    for row in rows:
        row["velocity"] = velocity.get(row["post_id"])
        row["story_size"] = sizes.get(row["story_id"], 1) if row["story_id"] else 1
        row["cue_names"] = cue_names(row["cues"])
        row["brands"] = brands.get(row["post_id"], [row["brand"]] if row["brand"] else [])


def engagement_velocity(store: Store, ids: Iterable[str]) -> dict[str, float]:
    """Interactions per hour between the first and the latest snapshot of each post."""
    ids = list(ids)
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    total = "coalesce(likes, 0) + coalesce(shares, 0) + coalesce(comments, 0)"
    result: dict[str, float] = {}
    query = (
        f"SELECT post_id, min(at), max(at), "
        f"(SELECT {total} FROM snapshots s2 WHERE s2.post_id = s.post_id ORDER BY at LIMIT 1), "
        f"(SELECT {total} FROM snapshots s2 WHERE s2.post_id = s.post_id ORDER BY at DESC LIMIT 1) "
        f"FROM snapshots s WHERE post_id IN ({marks}) GROUP BY post_id"
    )
    from monitor.records import parse_iso

    for post_id, first_at, last_at, first, last in store.conn.execute(query, ids):
        if first_at == last_at:
            continue
        hours = (parse_iso(last_at) - parse_iso(first_at)).total_seconds() / 3600
        if hours > 0:
            result[post_id] = round((last - first) / hours, 1)
    return result
