"""Archive search semantics: phrases, NEAR, filters, multilingual folding, ordering, snippets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.records import Post
from monitor.search import (
    SearchError,
    SearchFilters,
    _Schema,
    _where,
    highlight,
    iter_search,
    search,
)
from monitor.store import Store

T0 = datetime(2026, 11, 1, tzinfo=UTC)

POSTS = [
    # (native_id, lang, title, text, author, hours after T0, brand)
    (
        "en1",
        "en",
        "Lost luggage",
        "Skyline lost my luggage and will never refund it.",
        "ann",
        1,
        "Skyline",
    ),
    (
        "en2",
        "en",
        "Refund",
        "The refund came after many weeks. Never again, but it came.",
        "bob",
        2,
        "Skyline",
    ),
    ("en3", "en", "Praise", "Luggage lost? No: crew found it. Great service!", "cat", 3, "Skyline"),
    (
        "pl1",
        "pl",
        "Łódź lotnisko",
        "Zwrot pieniędzy za bilet? Nigdy. Skandal w Łodzi.",
        "dorota",
        4,
        "Skyline",
    ),
    ("pl2", "pl", "Reklamacja", "Złożyłam reklamację, zwrotu brak.", "ewa", 5, "Brightcart"),
    (
        "ru1",
        "ru",
        "Возврат",
        "Возврат денег за билет так и не пришёл. Ёлки!",
        "фёдор",
        6,
        "Skyline",
    ),
    ("ru2", "ru", "Поддержка", "Поддержка ответила быстро, всё решили.", "ира", 7, "Brightcart"),
    (
        "de1",
        "de",
        "Straße gesperrt",
        "Der Koffer blieb in der Strasse liegen, Erstattung nie.",
        "jörg",
        8,
        "Brightcart",
    ),
]


def _add(store: Store, posts=POSTS) -> None:
    store.upsert_posts(
        [
            (
                Post(
                    source="rss",
                    native_id=nid,
                    title=title,
                    text=text,
                    author=author,
                    lang=lang,
                    url=f"https://news.example/{nid}",
                    published_at=T0 + timedelta(hours=hours),
                ),
                [brand],
            )
            for nid, lang, title, text, author, hours, brand in posts
        ],
        seen_at=T0 + timedelta(days=1),
    )


def _insert(store: Store, table: str, **values: object) -> None:
    """Insert a row, filling NOT NULL columns the test does not care about."""
    for _, name, kind, notnull, default, pk in store.conn.execute(f"PRAGMA table_info({table})"):
        rowid_alias = pk and kind.upper() == "INTEGER"
        if (notnull or pk) and default is None and not rowid_alias and name not in values:
            values[name] = 0 if kind.upper() in ("INTEGER", "REAL") else "x"
    names = ", ".join(values)
    marks = ", ".join("?" * len(values))
    store.conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values()))


def side_tables(store: Store) -> None:
    """Assessments, alerts and review assignments, in the owners' tables or contract-shaped ones."""
    with store.transaction() as conn:
        if not store.db["assessments"].exists():
            conn.execute(
                "CREATE TABLE assessments (post_id TEXT, model_id TEXT, model_version TEXT, "
                "assessed_at TEXT, lang TEXT, sentiment TEXT, p_negative REAL, p_neutral REAL, "
                "p_positive REAL, complaint REAL, risk REAL, cues TEXT)"
            )
        if not store.db["alerts"].exists():
            conn.execute(
                "CREATE TABLE alerts (id INTEGER PRIMARY KEY, status TEXT, first_post_id TEXT, "
                "story_id TEXT, severity TEXT)"
            )
        if not store.db["reviews"].exists():
            conn.execute("CREATE TABLE reviews (post_id TEXT PRIMARY KEY, assignee TEXT)")
        for nid, sentiment, risk in [
            ("en1", "negative", 0.9),
            ("en2", "negative", 0.4),
            ("en3", "positive", 0.05),
            ("pl1", "negative", 0.8),
            ("ru1", "negative", 0.7),
        ]:
            _insert(store, "assessments", post_id=f"rss:{nid}", sentiment=sentiment, risk=risk)
        _insert(store, "alerts", status="firing", first_post_id="rss:en1", severity="critical")
        _insert(store, "alerts", status="resolved", first_post_id="rss:pl1", severity="warning")
        _insert(store, "reviews", post_id="rss:ru1", assignee="Maria")


@pytest.fixture
def archive(store: Store) -> Store:
    _add(store)
    return store


def _ids(rows: list[dict]) -> list[str]:
    return [r["id"].split(":", 1)[1] for r in rows]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"lost luggage"', ["en1"]),  # phrase: en3 has "Luggage lost", not the phrase
        ("luggage lost", ["en3", "en1"]),
        ("refund NEAR/3 never", ["en1"]),  # en2: "refund" ... 4 words ... "never"
        ("refund NEAR/5 never", ["en2", "en1"]),
        ("refund -never", []),
        ("lodz", ["pl1"]),  # Łódź without diacritics
        ("ŁÓDŹ", ["pl1"]),
        ("pieniedzy", ["pl1"]),
        ("zwrot*", ["pl2", "pl1"]),
        ("возврат", ["ru1"]),
        ("ВОЗВРАТ", ["ru1"]),
        ("елки", ["ru1"]),  # ё folds to е
        ("strasse", ["de1"]),  # ß in the title, ss in the text
        ("title:strasse", ["de1"]),
        ("author:jorg", ["de1"]),
        ("зwrot", []),  # a Cyrillic з is not a Latin z
        ("zwrot* OR возврат*", ["ru1", "pl2", "pl1"]),
        ("lang:pl", ["pl2", "pl1"]),
        ("refund* lang:en", ["en2", "en1"]),
    ],
)
def test_query_semantics(archive: Store, query: str, expected: list[str]) -> None:
    assert _ids(search(archive, query)) == expected


def test_filters_on_core_columns(archive: Store) -> None:
    assert _ids(search(archive, None, SearchFilters(brand="brightcart"))) == ["de1", "ru2", "pl2"]
    assert _ids(search(archive, "zwrot*", SearchFilters(lang="PL"))) == ["pl2", "pl1"]
    window = SearchFilters(since=T0 + timedelta(hours=3), until=T0 + timedelta(hours=5))
    assert _ids(search(archive, None, window)) == ["pl1", "en3"]
    assert _ids(search(archive, None, SearchFilters(source="rss"), limit=2)) == ["de1", "ru2"]


def test_filters_needing_absent_tables_say_so(archive: Store) -> None:
    bare = _Schema(
        assessments=False, risk_scores=False, alerts=False, assignments=None, time_blocks=True
    )
    for filters, message in [
        (SearchFilters(sentiment="negative"), "assessments"),
        (SearchFilters(risk_min=0.5), "risk"),
        (SearchFilters(alert_status="open"), "alerts"),
        (SearchFilters(assignee="maria"), "assignments"),
    ]:
        with pytest.raises(SearchError, match=message):
            _where(filters, bare)
    assert _where(SearchFilters(alert_status="none"), bare) == ([], [])
    assert _ids(search(archive, "lodz", SearchFilters(alert_status="none"))) == ["pl1"]


def test_filters_joining_assessments_alerts_assignments(archive: Store) -> None:
    side_tables(archive)
    negative = search(archive, None, SearchFilters(sentiment="negative"))
    assert _ids(negative) == ["ru1", "pl1", "en2", "en1"]
    assert negative[0]["sentiment"] == "negative"
    assert _ids(search(archive, None, SearchFilters(risk_min=0.7))) == ["ru1", "pl1", "en1"]
    assert _ids(search(archive, None, SearchFilters(risk_min=0.3, risk_max=0.75))) == ["ru1", "en2"]
    assert _ids(search(archive, None, SearchFilters(alert_status="firing"))) == ["en1"]
    assert _ids(search(archive, None, SearchFilters(alert_status="open"))) == ["en1"]
    assert _ids(search(archive, None, SearchFilters(alert_status="any"))) == ["pl1", "en1"]
    assert len(search(archive, None, SearchFilters(alert_status="none"))) == len(POSTS) - 2
    assigned = search(archive, None, SearchFilters(assignee="maria"))
    assert _ids(assigned) == ["ru1"] and assigned[0]["assignee"] == "Maria"
    with pytest.raises(SearchError, match="unknown alert status"):
        search(archive, None, SearchFilters(alert_status="open-ish"))


def test_sort_orders(archive: Store) -> None:
    side_tables(archive)
    assert _ids(search(archive, None, order="risk", limit=3)) == ["en1", "pl1", "ru1"]
    by_risk = search(archive, None, order="risk")
    assert [r["risk"] for r in by_risk][-3:] == [None, None, None]
    relevant = search(archive, "refund OR never", order="relevance")
    assert set(_ids(relevant)) == {"en1", "en2"}
    with pytest.raises(SearchError, match="unknown order"):
        search(archive, None, order="alphabetical")


def test_snippets_highlight_folded_terms(archive: Store) -> None:
    (row,) = search(archive, "lodz zwrot*", marks=("<b>", "</b>"))
    assert row["snippet"] == "<b>Zwrot</b> pieniędzy za bilet? Nigdy. Skandal w <b>Łodzi</b>."[
        :0
    ] + ("<b>Zwrot</b> pieniędzy za bilet? Nigdy. Skandal w Łodzi.")
    (row,) = search(archive, "strasse")
    assert "[Strasse]" in row["snippet"]
    long_text = " ".join(["filler"] * 60 + ["Refunds"] + ["tail"] * 60)
    snippet = highlight(long_text, {"refund*"})
    assert snippet.startswith("…") and snippet.endswith("…") and "[Refunds]" in snippet
    assert len(snippet) <= 190 and " filler [Refunds] tail " in snippet
    assert all(w in ("…filler", "filler", "[Refunds]", "tail", "tail…") for w in snippet.split())
    assert highlight("Straße", {"strasse"}) == "[Straße]"  # folding changes length: word path
    assert highlight("Die Straße ist zu", {"strasse", "zu"}) == "Die [Straße] ist [zu]"
    assert highlight("lodzianie w Łodzi i Łódź", {"lodz"}) == "lodzianie w Łodzi i [Łódź]"
    assert highlight("", {"x"}) == "" and highlight("no hits here", set()) == "no hits here"


def test_time_order_is_exact_when_rows_arrive_out_of_order(store: Store) -> None:
    """Insertion order unrelated to publication time: the early-exit walk must still sort."""
    rng = random.Random(3)
    hours = list(range(3000))
    rng.shuffle(hours)
    posts = [
        (f"n{h}", "en", "t", f"refund story {h} never" if h % 3 else "other", "a", h, "Skyline")
        for h in hours
    ]
    for start in range(0, len(posts), 500):
        _add(store, posts[start : start + 500])
    got = [r["published_at"] for r in iter_search(store, "refund")]
    assert len(got) == 2000
    assert got == sorted(got, reverse=True)
    first = search(store, "refund", limit=5)
    assert _ids(first) == [f"n{h}" for h in (2999, 2998, 2996, 2995, 2993)]
    recent = search(store, "refund", SearchFilters(since=T0 + timedelta(hours=2990)))
    assert _ids(recent) == [f"n{h}" for h in range(2999, 2989, -1) if h % 3]


def test_time_order_in_time_ordered_archive_reads_few_rows(store: Store) -> None:
    posts = [(f"m{h}", "en", "t", f"refund {h}", "a", h, "Skyline") for h in range(5000)]
    for start in range(0, len(posts), 1000):
        _add(store, posts[start : start + 1000])
    traced: list[str] = []
    store.conn.set_trace_callback(traced.append)
    rows = iter_search(store, "refund")
    first = [next(rows)["id"] for _ in range(3)]
    assert first == ["rss:m4999", "rss:m4998", "rss:m4997"]
    assert any("ORDER BY f.rowid DESC" in sql for sql in traced)


def test_block_bounds_are_prefix_maxima_even_with_gaps(store: Store) -> None:
    from monitor.search import _bounds

    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO posts_time_blocks (block, max_when) VALUES (?, ?)",
            [(0, "2026-01-05"), (1, "2026-01-03"), (3, "2026-01-09"), (4, "2026-01-07")],
        )
    assert _bounds(store.conn) == [
        "2026-01-05",
        "2026-01-05",
        "2026-01-05",
        "2026-01-09",
        "2026-01-09",
    ]
    with store.transaction() as conn:
        conn.execute("INSERT INTO posts_time_blocks (block, max_when) VALUES (2, '2026-01-06')")
    assert _bounds(store.conn)[2] == "2026-01-06"
