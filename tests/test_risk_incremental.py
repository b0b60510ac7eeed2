"""The score stage is incremental: stored calibration, bounded batches, hourly burst counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import parse_config
from monitor.forecast import learn_calibration
from monitor.records import Post, Snapshot, isoformat
from monitor.risk import calibration_cutoff, saturation_gap, score_pending, stored_calibration
from monitor.risk_settings import RiskSettings, risk_settings
from monitor.store import Store

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BRAND = "Skyline Air"


def _config(raw: dict | None = None) -> object:
    return parse_config({"brands": [{"name": BRAND}], **(raw or {})}, validate_sources=False)


def _finished_posts(store: Store, first: int, count: int, published: datetime) -> None:
    """Posts whose engagement stopped growing long ago (they teach the calibration)."""
    for n in range(first, first + count):
        post = Post("reddit", f"old{n}", text=f"{BRAND} flight {n}", published_at=published)
        store.upsert_posts([(post, [BRAND])], seen_at=published)
        for hours, likes in ((1, 5 + n % 7), (10, 40 + n % 13), (200, 60 + n % 17)):
            store.add_snapshot(
                post.id, Snapshot(published + timedelta(hours=hours), likes=likes, shares=n % 3)
            )


def _row(store: Store) -> tuple[str, str, int]:
    row = store.conn.execute("SELECT cutoff, learned_at, posts FROM risk_calibration").fetchone()
    return row[0], row[1], row[2]


def test_calibration_is_stored_and_relearned_only_when_the_cutoff_moves(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    settings = RiskSettings()
    now = T0 + timedelta(minutes=10)
    with Store.open(path) as store:
        _finished_posts(store, 0, 40, T0 - timedelta(days=10))
        learned = stored_calibration(store, settings, now)
        assert "reddit" in learned.sources and learned.sources["reddit"].posts == 40
        cutoff, learned_at, posts = _row(store)
        assert cutoff == isoformat(calibration_cutoff(now, settings.forecast))
        assert (learned_at, posts) == (isoformat(now), 40)
        # More finished posts before the cutoff: the stored calibration holds until it moves.
        _finished_posts(store, 40, 10, T0 - timedelta(days=9))
        later = now + timedelta(minutes=20)
        assert calibration_cutoff(later, settings.forecast) == calibration_cutoff(
            now, settings.forecast
        )
        assert stored_calibration(store, settings, later) == learned
        assert _row(store)[1:] == (isoformat(now), 40)
    # A restarted service reads the same calibration back, byte for byte in its numbers.
    with Store.open(path) as store:
        again = stored_calibration(store, settings, now + timedelta(minutes=30))
        assert dict(again.sources) == dict(learned.sources)
        assert _row(store)[1] == isoformat(now)
        # The cutoff moves on: learned again, now from 50 posts.
        moved = now + timedelta(seconds=settings.forecast.calibration_refresh)
        relearned = stored_calibration(store, settings, moved)
        assert relearned.sources["reddit"].posts == 50
        assert _row(store)[1:] == (isoformat(moved), 50)
        # The same as learning from scratch (newest first, as the stage reads them).
        order = sorted(range(50), key=lambda n: (n >= 40, f"reddit:old{n}"), reverse=True)
        histories = [
            (
                "reddit",
                T0 - timedelta(days=10 if n < 40 else 9),
                store.snapshots(f"reddit:old{n}"),
            )
            for n in order
        ]
        assert dict(relearned.sources) == dict(
            learn_calibration(histories, settings.forecast).sources
        )
        # Other forecast settings: the stored calibration does not apply.
        changed = risk_settings(_config({"risk": {"forecast": {"calibration_prior_posts": 3}}}))
        other = stored_calibration(store, changed, moved)
        assert other.sources["reddit"].ordinary != relearned.sources["reddit"].ordinary


def _post(store: Store, key: str, seen: datetime, text: str = "lounge opens") -> None:
    post = Post("reddit", key, text=f"{BRAND} {text}", published_at=seen, lang="en")
    store.upsert_posts([(post, [BRAND])], seen_at=seen)


def _scored(store: Store) -> list[str]:
    return [
        r[0] for r in store.conn.execute("SELECT post_id FROM risk_scores ORDER BY at, post_id")
    ]


def test_bounded_batch_first_scores_then_youngest_rescorings(store: Store) -> None:
    """Under a backlog every new mention gets its first score; then young posts are rescored
    before old ones."""
    config = _config({"risk": {"score_batch": 2}})
    for key in ("a", "b", "c"):
        _post(store, key, T0)
    score_pending(store, config, T0 + timedelta(minutes=1))
    assert _scored(store) == ["reddit:a", "reddit:b"]  # same age: by id
    _post(store, "d", T0 + timedelta(minutes=2))
    store.add_snapshot("reddit:a", Snapshot(T0 + timedelta(minutes=2), likes=3))
    score_pending(store, config, T0 + timedelta(minutes=3))
    assert _scored(store)[2:] == ["reddit:c", "reddit:d"]  # first scores before a's rescoring
    store.add_snapshot("reddit:d", Snapshot(T0 + timedelta(minutes=4), likes=300))
    score_pending(store, config, T0 + timedelta(minutes=5), limit=1)
    assert _scored(store)[4:] == ["reddit:d"]  # the younger post's rescoring first
    score_pending(store, config, T0 + timedelta(minutes=6))
    assert _scored(store)[5:] == ["reddit:a"]
    score_pending(store, config, T0 + timedelta(minutes=7))
    assert len(_scored(store)) == 6  # nothing left
    for key in ("e", "f", "g"):
        _post(store, key, T0 + timedelta(minutes=8))
    score_pending(store, config, T0 + timedelta(minutes=9), limit=0)  # 0: no limit
    assert len(_scored(store)) == 9


def test_rescoring_takes_the_riskiest_mention_first(store: Store) -> None:
    config = _config({})
    _post(store, "angry", T0, "refused my refund, my lawyer is on it, never again")
    store.add_snapshot("reddit:angry", Snapshot(T0 + timedelta(seconds=30), likes=200))
    _post(store, "calm", T0 + timedelta(minutes=1), "lounge opens at noon")
    score_pending(store, config, T0 + timedelta(minutes=2))
    risks = dict(store.conn.execute("SELECT post_id, risk FROM risk_scores").fetchall())
    assert risks["reddit:angry"] > risks["reddit:calm"]
    for key in ("angry", "calm"):
        store.add_snapshot(f"reddit:{key}", Snapshot(T0 + timedelta(minutes=3), likes=500))
    score_pending(store, config, T0 + timedelta(minutes=4), limit=1)
    assert _scored(store)[2:] == ["reddit:angry"]  # older, but closer to alerting


def test_story_growth_rescores_only_mentions_that_could_reach_a_severity(store: Store) -> None:
    config = _config({})
    _post(store, "calm", T0, "lounge opens at noon")
    _post(store, "angry", T0, "refused my refund, my lawyer is on it, never again")
    store.conn.execute("UPDATE posts SET story_id = 'st-1'")
    store.conn.commit()
    score_pending(store, config, T0 + timedelta(minutes=1))
    harms = dict(store.conn.execute("SELECT post_id, harm FROM risk_scores").fetchall())
    assert harms["reddit:calm"] < 0.25 <= harms["reddit:angry"]
    _post(store, "copy", T0 + timedelta(minutes=2), "lounge opens at noon")
    store.conn.execute("UPDATE posts SET story_id = 'st-1' WHERE id = 'reddit:copy'")
    store.conn.commit()
    score_pending(store, config, T0 + timedelta(minutes=3))
    assert _scored(store)[2:] == ["reddit:angry", "reddit:copy"]  # not the calm one again


def _chatter_hour(store: Store, h: int, per_hour: int) -> None:
    for k in range(per_hour):
        _post(store, f"h{h}k{k}", T0 + timedelta(hours=h, minutes=k * 50 / per_hour))


def _hours_of_chatter(store: Store, hours: int, spike_hour: int, spike: int) -> None:
    for h in range(hours):
        _chatter_hour(store, h, spike if h == spike_hour else 4 + h % 3)


def _bursts(store: Store) -> list[tuple]:
    return store.conn.execute(
        "SELECT brand, series, hour, kind, count, round(expected, 9), p_value FROM bursts "
        "ORDER BY hour, series"
    ).fetchall()


def test_hourly_counts_judge_bursts_like_a_full_rebuild(tmp_path: Path) -> None:
    config = _config()
    hours, spike_hour = 30, 29
    end = T0 + timedelta(hours=hours, minutes=1)
    with Store.open(tmp_path / "once.db") as once:
        _hours_of_chatter(once, hours, spike_hour, 60)
        score_pending(once, config, end)  # first run: every hour counted from the posts
        rebuilt = _bursts(once)
    assert [(b[2], b[4]) for b in rebuilt] == [(isoformat(T0 + timedelta(hours=spike_hour)), 60)]
    with Store.open(tmp_path / "hourly.db") as hourly:
        for h in range(hours):
            _chatter_hour(hourly, h, 60 if h == spike_hour else 4 + h % 3)
            score_pending(hourly, config, T0 + timedelta(hours=h, minutes=55))
            score_pending(hourly, config, T0 + timedelta(hours=h + 1, minutes=1))
        assert hourly.count("burst_hours") == hours
        assert hourly.conn.execute("SELECT DISTINCT counted FROM burst_state").fetchall() == [(1,)]
        assert _bursts(hourly) == rebuilt


def test_burst_history_survives_purged_posts_and_old_archives_are_recounted(
    tmp_path: Path,
) -> None:
    config = _config()
    with Store.open(tmp_path / "a.db") as store:
        _hours_of_chatter(store, 29, -1, 0)
        score_pending(store, config, T0 + timedelta(hours=29, minutes=1))
        assert store.count("bursts") == 0 and store.count("burst_hours") == 29
        # The posts of the first day are purged; their hourly counts stay the burst history.
        with store.transaction() as conn:
            gone = "(SELECT id FROM posts WHERE first_seen_at < ?)"
            cut = (isoformat(T0 + timedelta(hours=24)),)
            for table in ("post_brands", "risk_scores", "snapshots"):
                conn.execute(f"DELETE FROM {table} WHERE post_id IN {gone}", cut)
            conn.execute("DELETE FROM posts WHERE first_seen_at < ?", cut)
        for k in range(60):
            _post(store, f"spike{k}", T0 + timedelta(hours=29, minutes=k * 50 / 60))
        score_pending(store, config, T0 + timedelta(hours=30, minutes=1))
        found = _bursts(store)
        assert [(b[2], b[3], b[4]) for b in found] == [
            (isoformat(T0 + timedelta(hours=29)), "spike", 60)
        ]
        # An archive from before the hourly counts (counted = 0) is recounted from its posts once.
        with store.transaction() as conn:
            conn.execute("DELETE FROM burst_hours")
            conn.execute("UPDATE burst_state SET counted = 0")
        _post(store, "late", T0 + timedelta(hours=30, minutes=5))
        score_pending(store, config, T0 + timedelta(hours=31, minutes=1))
        assert store.count("burst_hours") == 5 + 1 + 1  # hours 24..28, the spike hour, hour 30
        assert store.conn.execute("SELECT counted FROM burst_state").fetchone() == (1,)
        assert _bursts(store) == found


def test_a_saturated_story_no_longer_rescores_its_mentions_on_each_new_copy(store: Store) -> None:
    """Past the saturation gap no copy can move a mention's risk by rescore_min_change, so a
    syndicated story's growth stops rescoring its earlier mentions; its mentions' own new
    engagement still does, with the story's current spread."""
    config = _config({})
    settings = risk_settings(config)
    gap = saturation_gap(settings)
    assert 0.0 < gap <= 0.5
    _post(store, "angry", T0, "refused my refund, my lawyer is on it, never again")
    store.conn.execute("UPDATE posts SET story_id = 'st-1'")
    store.conn.commit()

    def grow(first: int, count: int, at: datetime) -> None:
        for n in range(first, first + count):
            _post(store, f"copy{n}", at, "refused my refund, my lawyer is on it")
        store.conn.execute("UPDATE posts SET story_id = 'st-1'")
        store.conn.commit()

    grow(0, 2, T0 + timedelta(minutes=1))
    score_pending(store, config, T0 + timedelta(minutes=2), limit=0)
    angry = "SELECT at, spread FROM risk_scores WHERE post_id = 'reddit:angry' ORDER BY at"
    assert store.conn.execute(angry).fetchall()[-1][1] < 1.0 - gap
    grow(2, 1, T0 + timedelta(minutes=3))
    score_pending(store, config, T0 + timedelta(minutes=4), limit=0)
    assert len(store.conn.execute(angry).fetchall()) == 2  # a small story: rescored on growth
    grow(3, 400, T0 + timedelta(minutes=5))
    score_pending(store, config, T0 + timedelta(minutes=6), limit=0)
    scores = store.conn.execute(angry).fetchall()
    assert len(scores) == 3 and scores[-1][1] >= 1.0 - gap  # rescored once more: now saturated
    done = store.conn.execute("SELECT count(*) FROM risk_scores").fetchone()[0]
    grow(403, 1, T0 + timedelta(minutes=7))
    score_pending(store, config, T0 + timedelta(minutes=8), limit=0)
    after = store.conn.execute("SELECT count(*) FROM risk_scores").fetchone()[0]
    assert after == done + 1  # only the new copy's first score
    store.add_snapshot("reddit:angry", Snapshot(T0 + timedelta(minutes=9), likes=900))
    score_pending(store, config, T0 + timedelta(minutes=10), limit=0)
    assert len(store.conn.execute(angry).fetchall()) == 4  # its own engagement still counts
