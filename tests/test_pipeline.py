"""The collect stage: concurrent sources, brand matching, failures recorded, nothing lost."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.config import parse_config
from monitor.loopback import LoopbackServer, Reply
from monitor.pipeline import poll
from monitor.store import Store
from sources.http import HttpClient, RetryPolicy

FIX = Path(__file__).parent / "fixtures" / "rss"
NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def config_for(server: LoopbackServer, *paths: str) -> dict:
    return {
        "brands": [
            {"name": "Acme Air", "query": '"acme air"'},
            {"name": "Weather", "query": "rain"},
        ],
        "sources": [
            {"name": p.strip("/"), "type": "rss", "params": {"url": server.url(p)}} for p in paths
        ],
    }


def client() -> HttpClient:
    return HttpClient(timeout=2, retry=RetryPolicy(attempts=1), sleep=lambda s: None)


def test_poll_matches_stores_and_records_state(store: Store, loopback: LoopbackServer) -> None:
    loopback.routes["/good"] = Reply(
        200, (FIX / "rss20_en.xml").read_bytes(), {"Content-Type": "application/rss+xml"}
    )
    config = parse_config(config_for(loopback, "/good"))
    with client() as http:
        report = poll(config, store, http, clock=lambda: NOW)
        again = poll(config, store, http, clock=lambda: NOW)
    (item,) = report.sources
    assert item.ok and item.fetched == 3 and item.matched == 3 and item.new == 3
    brands = dict(
        store.conn.execute("SELECT post_id, group_concat(brand) FROM post_brands GROUP BY post_id")
    )
    assert brands == {"rss:ex-1": "Acme Air", "rss:ex-2": "Acme Air", "rss:ex-3": "Weather"}
    canonical = store.post("rss:ex-1")["canonical_url"]  # type: ignore[index]
    assert canonical == "https://news.example/a/1"
    state = store.get_state("good")
    assert state is not None and state.etag and state.last_success_at and state.next_poll_at
    assert again.sources[0].not_modified  # the ETag was sent back and the server said 304
    assert store.count("posts") == 3


def test_one_failing_source_does_not_stop_the_others(
    store: Store, loopback: LoopbackServer
) -> None:
    loopback.routes["/good"] = Reply(200, (FIX / "rss20_en.xml").read_bytes())
    loopback.routes["/broken"] = Reply(500, b"oops")
    loopback.routes["/html"] = Reply(
        200, (FIX / "html_page.html").read_bytes(), {"Content-Type": "text/html"}
    )
    config = parse_config(config_for(loopback, "/broken", "/good", "/html"))
    with client() as http:
        report = poll(config, store, http, clock=lambda: NOW)
    outcome = {r.source: r for r in report.sources}
    assert outcome["good"].ok and outcome["good"].new == 3
    assert not outcome["broken"].ok and "HTTP 500" in (outcome["broken"].error or "")
    assert not outcome["html"].ok and "HTML page" in (outcome["html"].error or "")
    assert not report.all_failed
    broken = store.get_state("broken")
    assert broken is not None and broken.consecutive_failures == 1 and broken.last_error
    assert store.count("posts") == 3


def test_all_failed(store: Store, loopback: LoopbackServer) -> None:
    config = parse_config(config_for(loopback, "/missing"))
    with client() as http:
        report = poll(config, store, http, clock=lambda: NOW)
    assert report.all_failed
    assert "HTTP 404" in (report.sources[0].error or "")


def test_posts_left_without_a_story_are_clustered_next_round(
    store: Store, loopback: LoopbackServer
) -> None:
    loopback.routes["/good"] = Reply(200, (FIX / "rss20_en.xml").read_bytes(), etag=False)
    config = parse_config(config_for(loopback, "/good"))
    with client() as http:
        poll(config, store, http, clock=lambda: NOW)
        with store.transaction() as conn:  # as if the process died between storing and clustering
            conn.execute("UPDATE posts SET story_id = NULL")
        poll(config, store, http, clock=lambda: NOW)
    assert (
        store.conn.execute("SELECT count(*) FROM posts WHERE story_id IS NULL").fetchone()[0] == 0
    )
