"""`groundswell poll` against one loopback server replaying every source type's fixtures.

Each registered source type that has a scenario below is configured at once; the server answers
with the recorded-shape fixtures, with pagination (App Store pages), rate-limit headers, one 429
with ``Retry-After``, ETags (304 on the second round) and one dead feed. The test checks rows,
snapshots, stories and ``source_state`` through the archive and ``groundswell status``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.loopback import LoopbackServer, Reply, Request
from monitor.store import Store
from sources.registry import known_types

FIX = Path(__file__).parent / "fixtures"
RATE = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "97", "X-RateLimit-Reset": "60"}
XML = {"Content-Type": "application/xml; charset=utf-8", **RATE}
JSON = {"Content-Type": "application/json; charset=utf-8", **RATE}


@dataclass
class Scenario:
    """TOML [[sources]] tables for one type, and the routes that serve them."""

    sources: Callable[[str], list[str]]
    routes: Callable[[Path], dict[str, Reply | Callable[[Request], Reply]]]
    min_posts: int
    snapshots: bool = False
    later: Callable[[], dict[str, Reply]] = field(default=lambda: {})


def _appstore_page(page: int) -> str:
    return f"/us/rss/customerreviews/page={page}/id=1234567890/sortby=mostrecent/json"


def _once_429(reply: Reply) -> Callable[[Request], Reply]:
    calls: list[int] = []

    def handler(request: Request) -> Reply:
        calls.append(1)
        if len(calls) == 1:
            return Reply(429, b"slow down", {"Retry-After": "0"})
        return reply

    return handler


BLOG = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Travel Desk</title><link>https://desk.example/</link>
<language>en</language>
<item><title>Aurora Air strands 300 passengers after IT outage</title>
<link>https://www.desk.example/2026/11/aurora-outage/amp?utm_source=rss</link>
<guid>https://desk.example/2026/11/aurora-outage</guid>
<pubDate>Mon, 02 Nov 2026 09:40:00 GMT</pubDate><description></description></item>
<item><title>Nimbus Airlines adds routes</title><link>https://desk.example/nimbus</link>
<pubDate>Mon, 02 Nov 2026 08:00:00 GMT</pubDate><description>Not about the brand.</description></item>
</channel></rss>
"""

SCENARIOS: dict[str, Scenario] = {
    "rss": Scenario(
        sources=lambda base: [
            f'[[sources]]\nname = "blog"\ntype = "rss"\nparams = {{ url = "{base}/blog.xml" }}'
        ],
        routes=lambda fix: {"/blog.xml": Reply(200, BLOG, XML)},
        min_posts=1,
    ),
    "google_news": Scenario(
        sources=lambda base: [
            f'[[sources]]\nname = "gn-us"\ntype = "google_news"\n'
            f'params = {{ base_url = "{base}", hl = "en-US", gl = "US" }}\nbrands = ["Aurora Air"]'
        ],
        routes=lambda fix: {
            "/rss/search": _once_429(
                Reply(200, (fix / "google_news/search_aurora_air_en-US.xml").read_bytes(), XML)
            )
        },
        min_posts=3,
    ),
    "youtube": Scenario(
        sources=lambda base: [
            f'[[sources]]\nname = "yt-aurora"\ntype = "youtube"\n'
            f'params = {{ channel_id = "UCaur0raAirExampleChan01", base_url = "{base}" }}',
            f'[[sources]]\nname = "yt-gone"\ntype = "youtube"\n'
            f'params = {{ playlist_id = "PLgone", base_url = "{base}" }}',
        ],
        routes=lambda fix: {
            "/feeds/videos.xml?channel_id=UCaur0raAirExampleChan01": Reply(
                200, (fix / "youtube/channel_aurora.xml").read_bytes(), XML
            ),
            "/feeds/videos.xml?playlist_id=PLgone": Reply(
                404,
                (fix / "youtube/not_found_404.html").read_bytes(),
                {"Content-Type": "text/html"},
            ),
        },
        min_posts=3,
        snapshots=True,
        later=lambda: {
            "/feeds/videos.xml?channel_id=UCaur0raAirExampleChan01": Reply(
                200, (FIX / "youtube/channel_aurora_later.xml").read_bytes(), XML
            )
        },
    ),
    "appstore": Scenario(
        sources=lambda base: [
            f'[[sources]]\nname = "aurora-app"\ntype = "appstore"\n'
            f'params = {{ app_id = "1234567890", countries = ["us"], first_sync_pages = 4, '
            f'brand = "Aurora Air", base_url = "{base}" }}'
        ],
        routes=lambda fix: {
            _appstore_page(1): Reply(
                200, (fix / "appstore/reviews_us_page1.json").read_bytes(), JSON
            ),
            _appstore_page(2): Reply(
                200, (fix / "appstore/reviews_us_single.json").read_bytes(), JSON
            ),
            _appstore_page(3): Reply(
                200, (fix / "appstore/reviews_us_empty.json").read_bytes(), JSON
            ),
            _appstore_page(4): Reply(
                200, (fix / "appstore/reviews_us_empty.json").read_bytes(), JSON
            ),
        },
        min_posts=4,
        snapshots=True,
        later=lambda: {
            _appstore_page(1): Reply(
                200, (FIX / "appstore/reviews_us_page1_later.json").read_bytes(), JSON
            )
        },
    ),
}
REQUIRED = {"rss", "google_news", "youtube", "appstore"}
COVERED = sorted(set(SCENARIOS) & set(known_types()))


def _write_config(path: Path, base: str) -> None:
    tables = [table for kind in COVERED for table in SCENARIOS[kind].sources(base)]
    path.write_text(
        '[[brands]]\nname = "Aurora Air"\naliases = ["AuroraAir"]\n\n'
        "[collect]\nworkers = 4\n\n" + "\n\n".join(tables) + "\n",
        encoding="utf-8",
    )


def test_required_types_are_registered() -> None:
    assert set(known_types()) >= REQUIRED
    assert set(COVERED) >= REQUIRED


def test_registered_types_without_a_scenario_are_listed() -> None:
    missing = sorted(set(known_types()) - set(SCENARIOS))
    if missing:
        pytest.skip(f"no loopback scenario yet for: {', '.join(missing)}")


def test_poll_collects_every_source_type(tmp_path: Path, loopback: LoopbackServer) -> None:
    for kind in COVERED:
        loopback.routes.update(SCENARIOS[kind].routes(FIX))
    config = tmp_path / "groundswell.toml"
    db = tmp_path / "archive.db"
    _write_config(config, loopback.url("").rstrip("/"))
    runner = CliRunner()

    first = runner.invoke(cli, ["poll", "--config", str(config), "--db", str(db)])
    assert first.exit_code == 0, first.output
    assert "FAIL  yt-gone" in first.output and "Error 404 (Not Found)!!1" in first.output

    with Store.open(db) as store:
        by_type = dict(store.conn.execute("SELECT source, count(*) FROM posts GROUP BY source"))
        for kind in COVERED:
            assert by_type.get(kind, 0) >= SCENARIOS[kind].min_posts, (kind, by_type)
            if SCENARIOS[kind].snapshots:
                snaps = store.conn.execute(
                    "SELECT count(*) FROM snapshots s JOIN posts p ON p.id = s.post_id "
                    "WHERE p.source = ?",
                    (kind,),
                ).fetchone()[0]
                assert snaps >= 1, kind
        # Every stored post belongs to a story; stories know where they were first seen.
        assert store.conn.execute(
            "SELECT count(*) FROM posts WHERE story_id IS NULL"
        ).fetchone() == (0,)
        assert store.count("stories") >= 1
        # The blog copy of the outage headline joins the Google News story.
        gn_story, blog_story = (
            store.conn.execute(
                "SELECT story_id FROM posts WHERE title = ? AND source = ?",
                ("Aurora Air strands 300 passengers after IT outage", kind),
            ).fetchone()[0]
            for kind in ("google_news", "rss")
        )
        assert gn_story == blog_story
        assert store.count("story_sources") >= len(COVERED)
        # App reviews are filed under the configured brand although they never name it.
        assert (
            store.conn.execute(
                "SELECT count(*) FROM post_brands b JOIN posts p ON p.id = b.post_id "
                "WHERE p.source = 'appstore' AND b.brand = 'Aurora Air'"
            ).fetchone()[0]
            == by_type["appstore"]
        )
        states = {s.key: s for s in store.states()}
        assert states["gn-us|Aurora Air"].etag and states["gn-us|Aurora Air"].last_success_at
        assert states["yt-aurora"].etag and states["yt-aurora"].breaker == "closed"
        assert states["aurora-app"].extra["etags"]["us"]
        assert states["yt-gone"].consecutive_failures == 1 and states["yt-gone"].last_error
        posts_after_first = store.count("posts")
        snapshots_after_first = store.count("snapshots")
    pages = [r.path for r in loopback.requests if "customerreviews" in r.path]
    assert pages == [_appstore_page(n) for n in range(1, 5)]  # first sync: deep pages
    assert sum(1 for r in loopback.requests if r.path == "/rss/search") == 2  # 429, then 200

    # Second round: unchanged feeds answer 304, changed counts become snapshots, nothing doubles.
    for kind in COVERED:
        loopback.routes.update(SCENARIOS[kind].later())
    loopback.requests.clear()
    second = runner.invoke(cli, ["poll", "--config", str(config), "--db", str(db)])
    assert second.exit_code == 0, second.output
    assert "gn-us|Aurora Air: 0 fetched" in second.output and "(not modified)" in second.output
    with Store.open(db) as store:
        assert store.count("posts") == posts_after_first
        assert store.count("snapshots") == snapshots_after_first + 2  # a video and a review
        assert [s.likes for s in store.snapshots("appstore:us:11000000001")] == [3, 17]
    pages = [r.path for r in loopback.requests if "customerreviews" in r.path]
    assert pages == [_appstore_page(1)]  # after the first sync, page 1 only

    status = runner.invoke(
        cli, ["status", "--config", str(config), "--db", str(db), "--format", "json"]
    )
    assert status.exit_code == 0, status.output
    report = json.loads(status.output)
    by_key = {s["key"]: s for s in report["sources"]}
    assert by_key["yt-gone"]["consecutive_failures"] == 2
    assert by_key["yt-gone"]["breaker"] == "closed"  # opens at the 5th failure by default
    assert by_key["yt-aurora"]["last_success_at"] and by_key["yt-aurora"]["next_poll_at"]
    assert report["archive"]["stories"] >= 1
