"""Brand-query search on PostgreSQL gives exactly what SQLite gives, and what the language says.

The query-language tables of ``tests/test_query.py`` (``MATCH_CASES``, ``PROPERTY_QUERIES`` and
its random multilingual archive) run through ``monitor.search`` against both backends: for every
query the set of matching posts from a real PostgreSQL search equals the SQLite search and the
expected result. The ``tsquery`` prefilter alone must never drop a match.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install 'groundswell[postgres]'"
)
pytest.importorskip(
    "sqlglot", reason="sqlglot is not installed: pip install 'groundswell[postgres]'"
)

from monitor.pg.fts import fts5_to_tsquery, tsquery_of
from monitor.pg.store import PgStore
from monitor.query import Document, parse
from monitor.records import Post
from monitor.search import SearchFilters, iter_search
from monitor.store import Store
from tests.pg_support import temporary_database
from tests.test_query import MATCH_CASES, PROPERTY_QUERIES, _random_documents

QUERIES = list(dict.fromkeys([q for q, _, _ in MATCH_CASES] + PROPERTY_QUERIES))


def _corpus() -> list[tuple[str, Document]]:
    docs = [(f"case{i}", doc) for i, (_, doc, _) in enumerate(MATCH_CASES)]
    docs += [(f"rand{i}", doc) for i, doc in enumerate(_random_documents(random.Random(7), 300))]
    # Stored posts need a source; the documents' own empty source becomes "web" on both sides.
    return [(nid, replace(doc, source=doc.source or "web")) for nid, doc in docs]


def _posts(corpus: list[tuple[str, Document]]) -> list[tuple[Post, list[str]]]:
    return [
        (
            Post(
                source=doc.source,
                native_id=nid,
                title=doc.title,
                text=doc.text,
                author=doc.author or None,
                site=doc.site or None,
                lang=doc.lang or None,
            ),
            ["Acme"],
        )
        for nid, doc in corpus
    ]


@pytest.fixture(scope="module")
def archives(
    pg_dsn: str, pg_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Store, dict[str, Document]]]:
    corpus = _corpus()
    posts = _posts(corpus)
    lite_path = tmp_path_factory.mktemp("lite") / "a.db"
    with (
        temporary_database(pg_dsn, template=pg_template) as url,
        PgStore.open(url) as pg,
        Store.open(lite_path) as lite,
    ):
        pg.upsert_posts(posts)
        lite.upsert_posts(posts)
        yield pg, lite, {f"{doc.source}:{nid}": doc for nid, doc in corpus}


def _found(store: Any, query: str, **kw: Any) -> set[str]:
    return {row["id"] for row in iter_search(store, query, **kw)}


@pytest.mark.parametrize("query", QUERIES)
def test_both_backends_find_exactly_the_matches(
    query: str, archives: tuple[Any, Store, dict[str, Document]]
) -> None:
    pg, lite, docs = archives
    parsed = parse(query)
    expected = {post_id for post_id, doc in docs.items() if parsed.matches(doc)}
    assert _found(pg, query) == expected
    assert _found(lite, query) == expected


def test_the_match_table_cases_on_postgresql(
    archives: tuple[Any, Store, dict[str, Document]],
) -> None:
    pg, _, docs = archives
    results = {query: _found(pg, query) for query in {q for q, _, _ in MATCH_CASES}}
    for i, (query, doc, expected) in enumerate(MATCH_CASES):
        post_id = f"{doc.source or 'web'}:case{i}"
        assert (post_id in results[query]) is expected, (query, doc)
    assert len(docs) > len(MATCH_CASES)


@pytest.mark.parametrize("query", PROPERTY_QUERIES)
def test_tsquery_prefilter_never_drops_a_match(
    query: str, archives: tuple[Any, Store, dict[str, Document]]
) -> None:
    pg, _, docs = archives
    parsed = parse(query)
    matching = {post_id for post_id, doc in docs.items() if parsed.matches(doc)}
    assert matching
    for tsquery in (tsquery_of(parsed), parsed.fts() and fts5_to_tsquery(parsed.fts() or "")):
        if not tsquery:
            continue
        candidates = {
            row[0]
            for row in pg.conn.raw.execute(
                "SELECT id FROM posts WHERE fts @@ CAST(%s AS tsquery)", (tsquery,)
            )
        }
        assert matching <= candidates, sorted(matching - candidates)[:5]
        assert len(candidates) < len(docs)  # and it does filter


def test_orders_and_filters_agree(archives: tuple[Any, Store, dict[str, Document]]) -> None:
    pg, lite, _ = archives
    for order in ("time", "relevance", "risk"):
        for query in ("refund OR zwrot", '"customer service"', "возврат*"):
            assert _found(pg, query, order=order) == _found(lite, query, order=order)
    only_pl = SearchFilters(lang="pl", brand="acme")
    assert _found(pg, "zwrot* OR nigdy", filters=only_pl) == _found(
        lite, "zwrot* OR nigdy", filters=only_pl
    )
    newest = [r["id"] for r in iter_search(pg, "refund*")]
    assert newest == [r["id"] for r in iter_search(lite, "refund*")]


def test_language_aware_lexemes_are_indexed_too(
    archives: tuple[Any, Store, dict[str, Document]],
) -> None:
    pg, _, _ = archives
    (stemmed,) = pg.conn.raw.execute(
        "SELECT count(*) FROM posts WHERE fts @@ to_tsquery('english', 'refunding') AND lang = 'en'"
    ).fetchone()
    (configs,) = pg.conn.raw.execute(
        "SELECT array_agg(DISTINCT gs_text_config(l)::text ORDER BY gs_text_config(l)::text) "
        "FROM unnest(ARRAY['en', 'de-DE', 'ru', 'pl', NULL]) AS l"
    ).fetchone()
    assert stemmed > 0  # "refund", "refunds", "Refunding" all stem to refund in English posts
    assert configs == ["english", "german", "russian", "simple"]
