"""Story clustering: syndicated copies and cross-posts in several languages become one story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor import stories
from monitor.records import Post
from monitor.store import Store
from monitor.stories import (
    assign_stories,
    cluster_texts,
    normalize,
    signatures,
    similarity,
    story_id_for,
)
from monitor.urls import canonical_url

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

DE = (
    "Lufthansa streicht 300 Flüge wegen Streik am Frankfurter Flughafen",
    "Die Fluggesellschaft Lufthansa hat wegen eines Warnstreiks des Bodenpersonals am Montag "
    "rund 300 Flüge gestrichen. Betroffen sind vor allem Verbindungen ab Frankfurt und München, "
    "teilte das Unternehmen mit.",
)
DE_COPY = (
    "Lufthansa streicht 300 Flüge wegen Streik am Frankfurter Flughafen",
    "Die Fluggesellschaft Lufthansa hat wegen eines Warnstreiks des Bodenpersonals am Montag "
    "rund 300 Flüge gestrichen. Betroffen sind vor allem Verbindungen ab Frankfurt und München, "
    "teilte das Unternehmen am Sonntag mit. (dpa) Mehr unter https://example.de/x?utm_source=a",
)
ES = (
    "Lufthansa cancela 300 vuelos por una huelga en Fráncfort",
    "La aerolínea Lufthansa canceló unos 300 vuelos el lunes por una huelga de advertencia del "
    "personal de tierra. Afectados están sobre todo los vuelos desde Fráncfort y Múnich.",
)
ES_COPY = (
    "LUFTHANSA CANCELA 300 VUELOS POR UNA HUELGA EN FRANCFORT",
    "La aerolinea Lufthansa cancelo unos 300 vuelos el lunes por una huelga de advertencia del "
    "personal de tierra. Afectados estan sobre todo los vuelos desde Francfort y Munich. (EFE)",
)
JA = (
    "ルフトハンザ、ストで300便欠航",
    "ルフトハンザ航空は月曜日、地上職員の警告ストライキのため約300便を欠航すると発表した。"
    "主にフランクフルトとミュンヘン発の便が影響を受ける。",
)
JA_COPY = (
    "ルフトハンザ、ストで300便欠航",
    "ルフトハンザ航空は月曜日、地上職員の警告ストライキのため約300便を欠航すると発表した。"
    "主にフランクフルトとミュンヘン発の便が影響を受ける見通し。",
)
RU = (
    "Авиакомпания отменила рейсы из-за забастовки",
    "Немецкая авиакомпания Lufthansa отменила около 300 рейсов в понедельник из-за "
    "предупредительной забастовки наземного персонала во Франкфурте и Мюнхене.",
)
RU_COPY = (
    "Авиакомпания отменила рейсы из-за забастовки — Интерфакс",
    "Немецкая авиакомпания Lufthansa отменила около 300 рейсов в понедельник из-за "
    "предупредительной забастовки наземного персонала во Франкфурте и Мюнхене.",
)
OTHER = (
    "Bank app outage enters third day",
    "Customers of a large bank could not log in for the third day in a row; the bank has not "
    "apologised and the help line is overloaded.",
)


def test_normalize_folds_and_drops_urls() -> None:
    assert normalize("Łódź  NEWS!", "see https://x.example/a?b=1 now") == "lodz news see now"


def test_multilingual_syndicated_copies_cluster_per_language() -> None:
    items = [DE, ES, JA, RU, OTHER, DE_COPY, ES_COPY, JA_COPY, RU_COPY]
    labels = cluster_texts(items).tolist()
    assert labels == [0, 1, 2, 3, 4, 0, 1, 2, 3]


def test_short_texts_are_never_clustered_by_content() -> None:
    labels = cluster_texts([("👎", ""), ("👎", ""), ("Crashes", ""), ("Crashes", "")]).tolist()
    assert labels == [0, 1, 2, 3]


def test_signatures_are_deterministic_and_estimate_similarity() -> None:
    sigs, usable = signatures([normalize(*DE), normalize(*DE_COPY), normalize(*OTHER)])
    again, _ = signatures([normalize(*DE)])
    assert usable.all()
    assert np.array_equal(sigs[0], again[0])
    assert float(similarity(sigs[0], sigs[1])) > 0.7
    assert float(similarity(sigs[0], sigs[2])) < 0.2


def test_clustering_scales_linearly_enough() -> None:
    # 5,000 distinct items plus a near copy of each: 5,000 clusters of two.
    rng = np.random.default_rng(7)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz      "))
    base = ["".join(rng.choice(alphabet, 160)) for _ in range(5000)]
    copies = [text[:150] + "zz" for text in base]
    labels = cluster_texts([(t, "") for t in base + copies])
    assert len(np.unique(labels)) == 5000
    assert (labels[5000:] == np.arange(5000)).mean() > 0.99


def _post(source: str, native: str, title: str, text: str, url: str | None = None) -> Post:
    return Post(source=source, native_id=native, title=title, text=text, url=url)


def test_assign_stories_incrementally_records_first_seen_per_source(store: Store) -> None:
    first = [_post("rss", "de-1", *DE), _post("rss", "other", *OTHER)]
    store.upsert_posts([(p, ["Lufthansa"]) for p in first], seen_at=T0)
    report = assign_stories(store, [p.id for p in first], T0)
    assert (report.posts, report.new_stories, report.joined) == (2, 2, 0)

    later = T0 + timedelta(hours=1)
    second = [_post("google_news", "g-1", *DE_COPY), _post("reddit", "r-1", *DE_COPY)]
    store.upsert_posts([(p, ["Lufthansa"]) for p in second], seen_at=later)
    report = assign_stories(store, [p.id for p in second], later)
    assert report.joined == 2 and report.new_stories == 0

    story = story_id_for("rss:de-1")
    assert store.post("google_news:g-1")["story_id"] == story  # type: ignore[index]
    assert store.post("reddit:r-1")["story_id"] == story  # type: ignore[index]
    row = store.conn.execute(
        "SELECT mentions, sources, first_seen_at, first_post_id FROM stories WHERE id = ?",
        (story,),
    ).fetchone()
    assert row == (3, 3, "2026-11-02T09:00:00.000000Z", "rss:de-1")
    spread = dict(
        store.conn.execute(
            "SELECT source, first_seen_at FROM story_sources WHERE story_id = ?", (story,)
        ).fetchall()
    )
    assert spread == {
        "rss": "2026-11-02T09:00:00.000000Z",
        "google_news": "2026-11-02T10:00:00.000000Z",
        "reddit": "2026-11-02T10:00:00.000000Z",
    }
    # Re-running is idempotent: posts that have a story keep it.
    assert assign_stories(store, ["reddit:r-1"], later).posts == 0


def test_same_canonical_url_is_one_story_even_with_different_text(store: Store) -> None:
    posts = [
        _post("rss", "a", "Short", "", "https://www.news.example/a/amp?utm_source=x"),
        _post("reddit", "b", "Look at this", "", "https://m.news.example/a"),
    ]
    store.upsert_posts([(posts[0], ["B"])], seen_at=T0, canonicalize=canonical_url)
    assign_stories(store, [posts[0].id], T0)
    store.upsert_posts(
        [(posts[1], ["B"])], seen_at=T0 + timedelta(minutes=5), canonicalize=canonical_url
    )
    assign_stories(store, [posts[1].id], T0 + timedelta(minutes=5))
    assert store.post("reddit:b")["story_id"] == story_id_for("rss:a")  # type: ignore[index]


def test_old_signatures_leave_the_window(store: Store) -> None:
    store.upsert_posts([(_post("rss", "old", *ES), ["L"])], seen_at=T0)
    assign_stories(store, ["rss:old"], T0)
    much_later = T0 + timedelta(days=30)
    store.upsert_posts([(_post("rss", "new", *ES_COPY), ["L"])], seen_at=much_later)
    report = assign_stories(store, ["rss:new"], much_later)
    assert report.new_stories == 1
    remaining = store.conn.execute("SELECT DISTINCT post_id FROM story_signatures").fetchall()
    assert remaining == [("rss:new",)]


@pytest.mark.parametrize("size", [0, 1])
def test_tiny_batches(store: Store, size: int) -> None:
    posts = [_post("rss", f"p{i}", *OTHER) for i in range(size)]
    store.upsert_posts([(p, ["B"]) for p in posts], seen_at=T0)
    assert assign_stories(store, [p.id for p in posts], T0).posts == size


def test_headline_only_item_joins_the_full_article(store: Store) -> None:
    article = _post(
        "rss",
        "desk-1",
        "Aurora Air strands 300 passengers after IT outage",
        "Hundreds of travellers spent the night at the airport after a check-in system failure. "
        "The airline said flights would resume in the morning and promised vouchers.",
    )
    store.upsert_posts([(article, ["Aurora Air"])], seen_at=T0)
    assign_stories(store, [article.id], T0)
    later = T0 + timedelta(minutes=30)
    headline = _post("google_news", "g-7", "Aurora Air strands 300 passengers after IT outage", "")
    generic = _post("google_news", "g-8", "Aurora Air news", "")
    store.upsert_posts([(headline, ["Aurora Air"]), (generic, ["Aurora Air"])], seen_at=later)
    report = assign_stories(store, [headline.id, generic.id], later)
    assert report.joined == 1
    assert store.post("google_news:g-7")["story_id"] == story_id_for("rss:desk-1")  # type: ignore[index]
    assert store.post("google_news:g-8")["story_id"] == story_id_for("google_news:g-8")  # type: ignore[index]


def test_similar_but_different_headlines_stay_apart(store: Store) -> None:
    posts = [
        _post("google_news", "a", "Aurora Air flight from Berlin delayed by five hours", ""),
        _post("google_news", "b", "Aurora Air flight from Munich delayed by nine hours", ""),
    ]
    store.upsert_posts([(p, ["Aurora Air"]) for p in posts], seen_at=T0)
    assert assign_stories(store, [p.id for p in posts], T0).new_stories == 2


def _story_tables(store: Store) -> list[list[tuple[object, ...]]]:
    queries = [
        "SELECT id, story_id FROM posts ORDER BY id",
        "SELECT * FROM stories ORDER BY id",
        "SELECT * FROM story_sources ORDER BY story_id, source",
        "SELECT * FROM story_bands ORDER BY band, key, story_id",
        "SELECT * FROM story_signatures ORDER BY post_id, kind",
    ]
    return [store.conn.execute(sql).fetchall() for sql in queries]


def _two_rounds(store: Store) -> None:
    first = [_post("rss", f"{n}", *pair) for n, pair in enumerate([DE, ES, JA, RU, OTHER])]
    store.upsert_posts([(p, ["L"]) for p in first], seen_at=T0)
    assign_stories(store, [p.id for p in first], T0)
    later = T0 + timedelta(hours=2)
    copies = [DE_COPY, ES_COPY, JA_COPY, RU_COPY, OTHER]
    # Ids with quotes, backslashes, emoji and a NUL (that batch's rows take the per-row path).
    names = ['c"1', "c\\2", "c😀3", "c\x004", "c5"]
    second = [_post("reddit", name, *pair) for name, pair in zip(names, copies, strict=True)]
    store.upsert_posts([(p, ["L"]) for p in second], seen_at=later)
    assign_stories(store, [p.id for p in second], later)


def test_bulk_rows_and_per_row_writes_leave_the_same_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(tmp_path / "bulk.db") as store:
        _two_rounds(store)
        bulk = _story_tables(store)
    monkeypatch.setattr(stories, "_is_sqlite", lambda conn: False)
    with Store.open(tmp_path / "rows.db") as store:
        _two_rounds(store)
        rows = _story_tables(store)
    assert bulk == rows
    assigned = {str(post): story for post, story in bulk[0]}
    assert None not in assigned.values()
    assert assigned["reddit:c\x004"] == assigned["rss:3"]  # the Russian copy joined its original
    assert assigned["reddit:c😀3"] == assigned["rss:2"]
    assert len(bulk[3]) > 0 and len(bulk[4]) >= 10  # band rows; a text signature per post
