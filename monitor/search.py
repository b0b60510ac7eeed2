"""Archive search: the brand query language over the FTS5 index, plus filters.

FTS5 narrows the candidates with a conservative translation of the query; every candidate is
then checked with the query's own evaluator, so NEAR, NOT and accent-folding mean exactly what
they mean when collectors match brands.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.query import Document, Query, parse
from monitor.records import isoformat
from monitor.store import Store
from monitor.urls import site_of

__all__ = ["SearchFilters", "iter_search", "search"]

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


@dataclass(frozen=True, slots=True)
class SearchFilters:
    brand: str | None = None
    source: str | None = None
    lang: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(filters: SearchFilters) -> tuple[list[str], list[Any]]:
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
    when = "coalesce(p.published_at, p.first_seen_at)"
    if filters.since:
        clauses.append(f"{when} >= ?")
        args.append(isoformat(filters.since))
    if filters.until:
        clauses.append(f"{when} < ?")
        args.append(isoformat(filters.until))
    return clauses, args


def iter_search(
    store: Store,
    query: str | Query | None,
    filters: SearchFilters = SearchFilters(),
    order: str = "time",
) -> Iterator[dict[str, Any]]:
    """Yield matching posts (newest first, or by FTS rank with ``order='relevance'``)."""
    parsed = parse(query) if isinstance(query, str) else query
    clauses, args = _where(filters)
    select = ", ".join(f"p.{c}" for c in _COLUMNS)
    brands = (
        "(SELECT group_concat(brand, ', ') FROM post_brands b WHERE b.post_id = p.id) AS brands"
    )
    fts = parsed.fts() if parsed is not None else None
    if fts:
        sql = (
            f"SELECT {select}, {brands}, snippet(posts_fts, 1, '[', ']', '…', 24) AS snippet "
            f"FROM posts_fts JOIN posts p ON p.rowid = posts_fts.rowid WHERE posts_fts MATCH ?"
        )
        args = [fts, *args]
    else:
        sql = f"SELECT {select}, {brands}, NULL AS snippet FROM posts p WHERE 1"
    for clause in clauses:
        sql += f" AND {clause}"
    if order == "relevance" and fts:
        sql += " ORDER BY posts_fts.rank"
    else:
        sql += " ORDER BY coalesce(p.published_at, p.first_seen_at) DESC, p.id"
    cursor = store.conn.execute(sql, args)
    names = [d[0] for d in cursor.description]
    for row in cursor:
        item = dict(zip(names, row, strict=True))
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
        if not item["snippet"]:
            body = (item["text"] or "").replace("\n", " ")
            item["snippet"] = body[:160] + ("…" if len(body) > 160 else "")
        yield item


def search(
    store: Store,
    query: str | Query | None,
    filters: SearchFilters = SearchFilters(),
    limit: int = 50,
    order: str = "time",
) -> list[dict[str, Any]]:
    results = []
    try:
        for item in iter_search(store, query, filters, order):
            results.append(item)
            if len(results) >= limit:
                break
    except sqlite3.OperationalError as exc:
        raise RuntimeError(f"search failed in the archive {store.path}: {exc}") from exc
    return results
