"""Fault injection against the running service's stages: bad sources, a locked or full archive,
clock jumps. In every case the service keeps going, the failure is visible in status, and nothing
already accepted is lost."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.loopback import LoopbackServer, Reply, Request
from monitor.service import Service
from monitor.stages import StageContext, collect_stage, run_stage
from monitor.status import collect_status
from monitor.store import Store
from sources.http import HttpClient, RetryPolicy

FIX = Path(__file__).parent / "fixtures" / "rss"
LIMITED = LoopbackServer({"/429": Reply(429, b"slow down", {"Retry-After": "3600"})})
NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
DISABLED = ["process", "repoll", "retention", "digest", "anchor", "optimize"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hn_forever(request: Request) -> Reply:
    """A search API that claims endless pages and returns the same page every time."""
    hit = {
        "objectID": "1",
        "title": "Acme Air lost my bag",
        "url": None,
        "author": "a",
        "points": 3,
        "num_comments": 1,
        "created_at": "2026-11-03T11:00:00Z",
        "created_at_i": 1793703600,
        "story_text": "Acme Air lost my bag",
        "_tags": ["story"],
    }
    body = {"hits": [hit] * 20, "nbHits": 100000, "page": 0, "nbPages": 1000, "hitsPerPage": 20}
    return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, etag=False)


def faulty_config(server: LoopbackServer) -> dict:
    def rss(name: str, path: str) -> dict:
        return {"name": name, "type": "rss", "params": {"url": server.url(path)}}

    return {
        "brands": [{"name": "Acme Air", "query": '"acme air"'}],
        "sources": [
            rss("good", "/good"),
            rss("err500", "/500"),
            rss("slow", "/slow"),
            rss("malformed", "/garbage"),
            # on a host of its own: a 429 rightly holds back every request to the same host
            {"name": "limited", "type": "rss", "params": {"url": LIMITED.url("/429")}},
            rss("blockpage", "/html"),
            {
                "name": "refused",
                "type": "rss",
                "params": {"url": f"http://127.0.0.1:{closed_port()}/feed"},
            },
            {
                "name": "forever",
                "type": "hackernews",
                "params": {"api_url": server.url("/hn"), "max_pages": 5},
            },
        ],
        "scheduler": {"disabled": DISABLED},
    }


@pytest.fixture(scope="module", autouse=True)
def limited_host() -> Iterator[LoopbackServer]:
    with LIMITED:
        yield LIMITED


@pytest.fixture
def faulty(loopback: LoopbackServer) -> LoopbackServer:
    loopback.routes.update(
        {
            "/good": Reply(200, (FIX / "rss20_en.xml").read_bytes()),
            "/500": Reply(500, b"Internal Server Error"),
            "/slow": Reply(200, b"<rss/>", delay=3.0),
            "/garbage": Reply(200, (FIX / "garbage.txt").read_bytes()),
            "/html": Reply(
                200, (FIX / "html_page.html").read_bytes(), {"Content-Type": "text/html"}
            ),
            "/hn/search_by_date": hn_forever,
        }
    )
    return loopback


def test_every_source_fault_is_contained_and_visible(
    tmp_path: Path, faulty: LoopbackServer
) -> None:
    config = parse_config(faulty_config(faulty))
    client = HttpClient(timeout=0.5, retry=RetryPolicy(attempts=1), sleep=lambda s: None)
    service = Service(config, str(tmp_path / "f.db"), client=client, clock=lambda: NOW)
    for job in service.timetable.desired_jobs(config):
        source, brand = service.timetable.desired_jobs(config)[job][2]
        service.run_job(job, source, brand)
    service.stop(flush=False)
    client.close()
    with Store.open(tmp_path / "f.db") as store:
        status = {s["source"]: s for s in collect_status(config, store)["sources"]}
        ids = {row[0] for row in store.conn.execute("SELECT id FROM posts")}
        assert {"rss:ex-1", "rss:ex-2"} <= ids  # the good feed's posts, whatever the others did
        failures = dict(store.conn.execute("SELECT stage, failures FROM stage_runs").fetchall())
    assert status["good"]["last_error"] is None and status["good"]["last_success_at"]
    expected = {
        "err500": "HTTP 500",
        "slow": "timed out",
        "malformed": "not a readable",
        "limited": "rate limited",
        "blockpage": "HTML page",
        "refused": "ConnectError",
    }
    for name, text in expected.items():
        assert text in (status[name]["last_error"] or ""), (name, status[name]["last_error"])
        assert failures[f"collect:{name}"] == 1
    assert status["forever"]["last_error"] is None  # bounded by max_pages, and not an error
    assert len([r for r in faulty.requests if r.path.startswith("/hn")]) <= 5


def test_locked_archive_fails_the_stage_then_recovers(
    tmp_path: Path, faulty: LoopbackServer
) -> None:
    db = tmp_path / "locked.db"
    config = parse_config(
        {**faulty_config(faulty), "sources": [faulty_config(faulty)["sources"][0]]}
    )
    with Store.open(db):
        pass
    with HttpClient(timeout=2, retry=RetryPolicy(attempts=1)) as client:
        ctx = StageContext(config, str(db), client, lambda: NOW, busy_timeout=0.2)
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        blocked = run_stage(ctx, "collect")
        locker.execute("ROLLBACK")
        locker.close()
        assert not blocked.ok and "locked" in blocked.detail
        recovered = run_stage(ctx, "collect")
    assert recovered.ok and recovered.count == 2
    with Store.open(db) as store:
        assert store.count("posts") == 2


def big_feed(items: int) -> bytes:
    body = "".join(
        f"<item><title>Acme Air story {n}</title><guid>big-{n}</guid><link>https://big.example/{n}</link>"
        f"<description>{'Acme Air lost my luggage again. ' * 60}</description></item>"
        for n in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{body}</channel></rss>'.encode()


def test_full_disk_keeps_nothing_half_written_and_recovers(
    tmp_path: Path, faulty: LoopbackServer
) -> None:
    db = tmp_path / "full.db"
    faulty.routes["/good"] = Reply(200, big_feed(200), etag=False)
    config = parse_config(
        {**faulty_config(faulty), "sources": [faulty_config(faulty)["sources"][0]]}
    )
    with Store.open(db) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]

    def no_room(store: Store) -> None:
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: "disk full"

    with HttpClient(timeout=2, retry=RetryPolicy(attempts=1)) as client:
        full = run_stage(
            StageContext(config, str(db), client, lambda: NOW, on_open=no_room), "collect"
        )
        with Store.open(db) as store:
            assert store.count("posts") == 0
            state = store.get_state("good")
        assert full.ok is False or (
            state is not None and state.last_error and "full" in state.last_error
        )
        assert state is None or state.etag is None  # the cursor did not advance past unstored posts
        again = run_stage(StageContext(config, str(db), client, lambda: NOW), "collect")
    assert again.ok and again.count == 200


def test_clock_jumps_back_and_forth(tmp_path: Path, faulty: LoopbackServer) -> None:
    db = str(tmp_path / "clock.db")
    config = parse_config(
        {**faulty_config(faulty), "sources": [faulty_config(faulty)["sources"][0]]}
    )
    moments = [NOW, NOW - timedelta(days=2), NOW + timedelta(days=30), NOW]
    with HttpClient(timeout=2, retry=RetryPolicy(attempts=1)) as client:
        for moment in moments:
            faulty.routes["/good"] = Reply(200, (FIX / "rss20_en.xml").read_bytes(), etag=False)
            result = run_stage(
                StageContext(config, db, client, lambda m=moment: m),
                "collect",
                lambda ctx: collect_stage(ctx),
            )
            assert result.ok
    with Store.open(db) as store:
        assert store.count("posts") == 2
        state = store.get_state("good")
    assert state is not None and state.last_success_at is not None
