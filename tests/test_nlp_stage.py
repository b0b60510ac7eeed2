"""classify_pending / reclassify_since against a real migrated archive."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.nlp.engine import Classifier, ModelSettings, load_model_folder
from monitor.nlp.stage import classify_pending, reclassify_since
from monitor.records import Post
from monitor.store import Store
from tests.nlp_support import make_tiny_model

POSTS = [
    (
        "reddit:1",
        "Refund refused",
        "They refused my refund. My lawyer is on it.",
        "en",
        "2026-03-01T10:00:00Z",
    ),
    (
        "reddit:2",
        None,
        "Der Techniker war super freundlich, vielen Dank!",
        None,
        "2026-03-02T10:00:00Z",
    ),
    (
        "news:3",
        "Velora results",
        "Velora publicará sus resultados el martes.",
        None,
        "2026-03-03T10:00:00Z",
    ),
    ("rss:4", "", "", "en", "2026-02-01T10:00:00Z"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    folder = make_tiny_model(
        tmp_path_factory.mktemp("stage") / "m", ("negative", "neutral", "positive", "complaint")
    )
    return load_model_folder(folder, ModelSettings(quantize="none"))


def _seed(store: Store) -> None:
    items = []
    for pid, title, text, lang, published in POSTS:
        source, native = pid.split(":")
        when = datetime.fromisoformat(published.replace("Z", "+00:00"))
        post = Post(source, native, title or "", text, published_at=when, lang=lang)
        items.append((post, ["Velora"]))
    store.upsert_posts(items, seen_at=datetime(2026, 3, 4, tzinfo=UTC))


def test_tables_exist(store: Store) -> None:
    names = set(store.db.table_names())
    assert {"assessments", "label_feedback"} <= names
    pk = store.db.table("assessments").pks
    assert pk == ["post_id", "model_id", "model_version"]


def test_classify_pending_stores_and_fills_language(store: Store, tiny: Classifier) -> None:
    _seed(store)
    n = classify_pending(store, tiny, batch_size=3, now=lambda: "2026-03-05T00:00:00Z")
    assert n == len(POSTS)
    rows = {r["post_id"]: r for r in store.db["assessments"].rows}
    assert set(rows) == {p[0] for p in POSTS}
    first = rows["reddit:1"]
    assert first["model_id"] == tiny.model_id and first["assessed_at"] == "2026-03-05T00:00:00Z"
    assert first["p_negative"] + first["p_neutral"] + first["p_positive"] == pytest.approx(
        1, abs=1e-3
    )
    cues = json.loads(first["cues"])
    assert [c["name"] for c in cues] == ["refund_refused", "legal_threat"]
    langs = {r["id"]: r["lang"] for r in store.db["posts"].rows}
    assert langs["reddit:2"] == "de" and langs["news:3"] == "es" and langs["reddit:1"] == "en"
    assert classify_pending(store, tiny) == 0  # idempotent for this model version


def test_new_model_version_keeps_history(store: Store, tiny: Classifier) -> None:
    _seed(store)
    classify_pending(store, tiny, limit=2)
    assert store.count("assessments") == 2
    classify_pending(store, tiny)
    newer = Classifier(tiny.model, tiny.tokenizer, tiny.model_id, "v2", tiny.settings)
    assert reclassify_since(store, newer, "2026-03-01") == 3
    versions = [
        r[0]
        for r in store.conn.execute(
            "SELECT model_version FROM assessments WHERE post_id = 'reddit:1' ORDER BY model_version"
        )
    ]
    assert versions == sorted({tiny.model_version, "v2"})
    assert reclassify_since(store, newer, "2026-03-01") == 0


def test_limit(tmp_path: Path, tiny: Classifier) -> None:
    with Store.open(tmp_path / "a.db") as archive:
        _seed(archive)
        assert classify_pending(archive, tiny, batch_size=1, limit=3) == 3
        assert classify_pending(archive, tiny, batch_size=1, limit=3) == 1


def _assessed(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT post_id FROM assessments")}


def _score(store: Store, post_id: str, at: str, risk: float) -> None:
    store.conn.execute(
        "INSERT INTO risk_scores (post_id, brand, at, kind, risk, severity, harm, reach, spread, "
        "forecast, reasons, components) VALUES (?, 'Velora', ?, 'post', ?, 'warning', 0.5, 0, 0, "
        "0, '[]', '{}')",
        (post_id, at, risk),
    )
    store.conn.commit()


@pytest.mark.parametrize("backend", ["store", "pg_store"])
def test_backlog_order_flagged_first_then_newest(
    backend: str, request: pytest.FixtureRequest, tiny: Classifier
) -> None:
    store = request.getfixturevalue(backend)
    for day, (pid, title, text, lang, published) in enumerate(POSTS, start=1):
        source, native = pid.split(":")
        when = datetime.fromisoformat(published.replace("Z", "+00:00"))
        post = Post(source, native, title or "", text, published_at=when, lang=lang)
        store.upsert_posts([(post, ["Velora"])], seen_at=datetime(2026, 3, day, tzinfo=UTC))
    _score(store, "reddit:2", "2026-03-05T00:00:00Z", 0.62)  # flagged, recent
    _score(store, "reddit:1", "2026-03-05T00:00:00Z", 0.81)  # flagged, riskier
    _score(store, "news:3", "2026-03-05T00:00:00Z", 0.30)  # below the bar
    _score(store, "rss:4", "2026-02-20T00:00:00Z", 0.95)  # too old to count

    def take(limit: int | None = None) -> int:
        return classify_pending(
            store, tiny, limit=limit, first_risk=0.45, first_since="2026-03-04T00:00:00Z"
        )

    assert take(1) == 1
    assert _assessed(store) == {"reddit:1"}
    assert take(1) == 1
    assert _assessed(store) == {"reddit:1", "reddit:2"}
    # Nothing flagged is left: the newest post first seen comes next (rss:4, seen on day 4).
    assert take(1) == 1
    assert _assessed(store) == {"reddit:1", "reddit:2", "rss:4"}
    assert take() == 1
    assert take() == 0
