"""The collect stage: concurrent sources, brand matching, failures recorded, nothing lost."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.config import Config, parse_config
from monitor.loopback import LoopbackServer, Reply
from monitor.pipeline import _store_group, poll
from monitor.records import Post
from monitor.store import SourceState, Store, UpsertResult
from sources.base import Collected
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


def numbered_feed(prefix: str, count: int = 3) -> bytes:
    items = "".join(
        f"<item><guid>{prefix}-{n}</guid><title>Acme Air story {prefix} {n}</title>"
        f"<link>https://news.example/{prefix}/{n}</link>"
        f"<description>Acme Air lost bag number {n} on flight {prefix}</description></item>"
        for n in range(count)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{prefix}</title>{items}'
        "</channel></rss>"
    ).encode()


class FailingStore(Store):
    """An archive that refuses the posts of one source (as a full disk would)."""

    refuse: str = ""

    def upsert_posts(
        self,
        items: Iterable[tuple[Post, Sequence[str]]],
        seen_at: datetime | None = None,
        canonicalize: Any = None,
    ) -> UpsertResult:
        batch = list(items)
        if any(post.source_name == self.refuse for post, _ in batch):
            raise sqlite3.OperationalError("database or disk is full")
        return super().upsert_posts(batch, seen_at, canonicalize)


def finished_jobs(config: Config, store: Store) -> list:
    from sources.rss import RssCollector, parse_feed

    items = []
    for index, spec in enumerate(config.sources):
        state = SourceState(key=spec.name, source=spec.name, type=spec.type)
        posts = parse_feed(numbered_feed(spec.name), source_name=spec.name).posts
        future: Future = Future()
        collected = Collected(posts, state.evolve(etag=f'"{spec.name}"'))
        future.set_result((collected, [(p, ["Acme Air"]) for p in posts]))
        items.append((index, (spec, None, state, RssCollector(spec, None)), future, 0.0))  # type: ignore[arg-type]
    return items


def test_results_ready_together_commit_once_each_with_its_cursor(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    config = parse_config(config_for(loopback, "/a", "/b", "/c"))
    with Store.open(tmp_path / "g.db") as store:
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        reports = _store_group(config, store, finished_jobs(config, store), lambda: NOW)
        store.conn.set_trace_callback(None)
        assert [r.ok for _, r in reports] == [True, True, True]
        assert statements.count("COMMIT") == 1
        assert store.count("posts") == 9
        assert all((s := store.get_state(n)) and s.etag == f'"{n}"' for n in ("a", "b", "c"))


def test_a_database_error_in_a_group_falls_back_to_one_transaction_per_result(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    config = parse_config(config_for(loopback, "/a", "/b", "/c"))
    with FailingStore.open(tmp_path / "g.db") as store:
        assert isinstance(store, FailingStore)
        store.refuse = "b"
        reports = dict(_store_group(config, store, finished_jobs(config, store), lambda: NOW))
        assert reports[0].ok and reports[2].ok and not reports[1].ok
        assert "could not write to the archive" in (reports[1].error or "")
        sources = {row[0] for row in store.conn.execute("SELECT DISTINCT source_name FROM posts")}
        assert sources == {"a", "c"}
        failed = store.get_state("b")
        assert failed is not None and failed.etag is None and failed.last_error
        assert (s := store.get_state("a")) is not None and s.etag == '"a"'


def test_many_sources_polled_concurrently_are_all_stored_with_stories(
    store: Store, loopback: LoopbackServer
) -> None:
    paths = [f"/feed{n}" for n in range(12)]
    for path in paths:
        loopback.routes[path] = Reply(200, numbered_feed(path.strip("/")), etag=False)
    config = parse_config(config_for(loopback, *paths))
    with client() as http:
        report = poll(config, store, http, clock=lambda: NOW, workers=6)
    assert [r.source for r in report.sources] == [p.strip("/") for p in paths]  # config order
    assert all(r.ok and r.new == 3 for r in report.sources)
    assert store.count("posts") == 36
    assert (
        store.conn.execute("SELECT count(*) FROM posts WHERE story_id IS NULL").fetchone()[0] == 0
    )
    assert all((s := store.get_state(p.strip("/"))) and s.last_success_at for p in paths)
