"""Re-polling young posts on a decaying schedule, within per-host budgets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Config, parse_config
from monitor.loopback import LoopbackServer, Reply
from monitor.pipeline import poll
from monitor.records import Post, Snapshot
from monitor.repoll import due_posts, repoll_due
from monitor.store import Store
from sources.http import HttpClient, RetryPolicy
from sources.settings import RepollSettings

FIX = Path(__file__).parent / "fixtures" / "youtube"
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)  # the fixture's first video is 15 min old


def _post(native: str, published: datetime, likes: int | None = 1) -> Post:
    return Post(
        source="youtube",
        native_id=native,
        title="Aurora Air video",
        published_at=published,
        engagement=Snapshot(published, likes=likes) if likes is not None else None,
    )


@pytest.mark.parametrize(
    ("age", "since_seen", "due"),
    [
        (timedelta(minutes=30), timedelta(minutes=11), True),  # 10-minute step
        (timedelta(minutes=30), timedelta(minutes=5), False),
        (timedelta(hours=3), timedelta(minutes=30), False),  # hourly step
        (timedelta(hours=3), timedelta(minutes=61), True),
        (timedelta(hours=30), timedelta(hours=5), False),  # 6-hourly step
        (timedelta(hours=30), timedelta(hours=6), True),
        (timedelta(hours=80), timedelta(hours=20), False),  # too old: never again
    ],
)
def test_decaying_schedule(store: Store, age: timedelta, since_seen: timedelta, due: bool) -> None:
    now = T0 + timedelta(days=1)
    post = _post("v1", now - age)
    store.upsert_posts([(post, ["Aurora Air"])], seen_at=now - since_seen)
    found = due_posts(store, RepollSettings(), now)
    assert [d.post_id for d in found] == (["youtube:v1"] if due else [])


def test_posts_without_engagement_are_not_repolled(store: Store) -> None:
    store.upsert_posts([(_post("v2", T0, likes=None), ["A"])], seen_at=T0)
    assert due_posts(store, RepollSettings(), T0 + timedelta(minutes=30)) == []


def _config(loopback: LoopbackServer, channels: list[str], **repoll: object) -> Config:
    sources = [
        {
            "name": f"yt-{channel}",
            "type": "youtube",
            "params": {"channel_id": channel, "base_url": loopback.url("")},
        }
        for channel in channels
    ]
    raw: dict[str, object] = {
        "brands": [{"name": "Aurora Air"}],
        "sources": sources,
        "collect": {"repoll": repoll} if repoll else {},
    }
    return parse_config(raw)


@pytest.fixture
def http() -> Iterator[HttpClient]:
    with HttpClient(timeout=5.0, sleep=lambda s: None, retry=RetryPolicy(attempts=1)) as client:
        yield client


def test_repoll_adds_a_snapshot_when_counts_change(
    store: Store, loopback: LoopbackServer, http: HttpClient
) -> None:
    loopback.routes["/feeds/videos.xml"] = Reply(200, (FIX / "channel_aurora.xml").read_bytes())
    config = _config(loopback, ["UCaur0raAirExampleChan01"])
    poll(config, store, http, clock=lambda: T0)
    assert len(store.snapshots("youtube:AbCdEfGhIjK")) == 1

    # Nothing is due five minutes later.
    assert repoll_due(store, config, http, T0 + timedelta(minutes=5)).due == 0

    loopback.routes["/feeds/videos.xml"] = Reply(
        200, (FIX / "channel_aurora_later.xml").read_bytes()
    )
    later = T0 + timedelta(minutes=61)  # every video is due by then
    report = repoll_due(store, config, http, later)
    assert report.due == 3 and report.refreshed == 3
    assert report.snapshots == 1  # only the guitar video's counts moved
    assert report.requests == 1 and report.deferred == 0
    assert [s.views for s in store.snapshots("youtube:AbCdEfGhIjK")] == [1234, 98765]
    # The re-poll counts as an observation: not due again right away.
    assert repoll_due(store, config, http, later + timedelta(minutes=1)).due == 0


def test_budget_per_host_defers_the_rest(
    store: Store, loopback: LoopbackServer, http: HttpClient
) -> None:
    body = (FIX / "channel_aurora.xml").read_bytes()
    loopback.routes["/feeds/videos.xml"] = Reply(200, body)
    config = _config(loopback, ["UCone", "UCtwo"], max_requests_per_host=1)
    # The same videos under two feeds: store one copy per feed via distinct native ids.
    poll(config, store, http, clock=lambda: T0, only=["yt-UCone"])
    other = body.replace(b"AbCdEfGhIjK", b"OtherVideo1").replace(b"ShOrTs12345", b"OtherShort1")
    other = other.replace(b"NoStats0001", b"OtherStats1")
    loopback.routes["/feeds/videos.xml"] = Reply(200, other)
    poll(config, store, http, clock=lambda: T0, only=["yt-UCtwo"])
    loopback.requests.clear()

    report = repoll_due(store, config, http, T0 + timedelta(minutes=61))
    assert report.due == 6
    assert report.requests == 1 and len(loopback.requests) == 1
    assert report.deferred == 3


def test_open_breaker_is_left_alone(
    store: Store, loopback: LoopbackServer, http: HttpClient
) -> None:
    loopback.routes["/feeds/videos.xml"] = Reply(200, (FIX / "channel_aurora.xml").read_bytes())
    config = _config(loopback, ["UCaur0raAirExampleChan01"])
    poll(config, store, http, clock=lambda: T0)
    state = store.get_state("yt-UCaur0raAirExampleChan01")
    assert state is not None
    store.save_state(
        state.evolve(breaker="open", extra={"breaker_retry_at": "2026-11-03T00:00:00.000000Z"})
    )
    loopback.requests.clear()
    report = repoll_due(store, config, http, T0 + timedelta(minutes=61))
    assert report.deferred == 3 and report.requests == 0 and loopback.requests == []


def test_failing_feed_is_reported_not_raised(
    store: Store, loopback: LoopbackServer, http: HttpClient
) -> None:
    loopback.routes["/feeds/videos.xml"] = Reply(200, (FIX / "channel_aurora.xml").read_bytes())
    config = _config(loopback, ["UCaur0raAirExampleChan01"])
    poll(config, store, http, clock=lambda: T0)
    loopback.routes["/feeds/videos.xml"] = Reply(404, (FIX / "not_found_404.html").read_bytes())
    report = repoll_due(store, config, http, T0 + timedelta(minutes=61))
    assert report.refreshed == 0 and len(report.errors) == 1
    assert "Error 404" in report.errors[0]
    assert len(store.snapshots("youtube:AbCdEfGhIjK")) == 1  # nothing lost


def test_disabled(store: Store, loopback: LoopbackServer, http: HttpClient) -> None:
    config = _config(loopback, ["UCx"], enabled=False)
    store.upsert_posts([(_post("v1", T0), ["Aurora Air"])], seen_at=T0)
    assert repoll_due(store, config, http, T0 + timedelta(hours=1)).due == 0
