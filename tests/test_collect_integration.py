"""`groundswell poll` against one loopback server replaying every source type's fixtures.

Each registered source type that has a scenario below is configured at once; the server answers
with the recorded-shape fixtures, with pagination (App Store pages), rate-limit headers, one 429
with ``Retry-After``, ETags (304 on the second round) and one dead feed. The test checks rows,
snapshots, stories and ``source_state`` through the archive and ``groundswell status``.
"""

from __future__ import annotations

import base64
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
<pubDate>Mon, 02 Nov 2026 09:40:00 GMT</pubDate><description>Hundreds of travellers spent the
night at the airport after a check-in failure; the airline promised vouchers.</description></item>
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


def _hn_search(request: Request) -> Reply:
    pages = [FIX / "hackernews/search_page0.json", FIX / "hackernews/search_page1.json"]
    page = int(request.query.get("page", ["0"])[0])
    if request.query.get("query", [""])[0] == "Acme Air" and page < len(pages):
        return Reply(200, pages[page].read_bytes(), JSON)
    return Reply(200, (FIX / "hackernews/search_past_last_page.json").read_bytes(), JSON)


SCENARIOS["hackernews"] = Scenario(
    sources=lambda base: [
        f'[[sources]]\nname = "hn"\ntype = "hackernews"\nbrands = ["Acme Air"]\n'
        f'params = {{ api_url = "{base}/api/v1", item_api_url = "{base}/v0", '
        f"lookback = 100000000 }}"
    ],
    routes=lambda fix: {"/api/v1/search_by_date": _hn_search},
    min_posts=3,
)


def _mastodon_timeline(request: Request) -> Reply:
    # Link-header pagination: the first page, then walking forward with min_id.
    name = {None: "tag_page.json", "113000000000000105": "tag_newer_1.json"}.get(
        request.query.get("min_id", [None])[0]
    )
    headers = {**JSON, "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "299"}
    if name is None:
        return Reply(200, b"[]", headers, etag=False)
    body = (FIX / "mastodon" / name).read_bytes()
    ids = [status["id"] for status in json.loads(body)]
    headers["Link"] = (
        f'<{request.path}?max_id={min(ids)}>; rel="next", '
        f'<{request.path}?min_id={max(ids)}>; rel="prev"'
    )
    return Reply(200, body, headers, etag=False)


SCENARIOS["mastodon"] = Scenario(
    sources=lambda base: [
        f'[[sources]]\nname = "masto"\ntype = "mastodon"\nbrands = ["Acme Air"]\n'
        f'params = {{ servers = ["{base}"], hashtags = ["AcmeAir"], limit = 2 }}'
    ],
    routes=lambda fix: {"/api/v1/timelines/tag/AcmeAir": _mastodon_timeline},
    min_posts=2,
)


def _lemmy_v3(request: Request) -> Reply:
    if request.query.get("type_", [""])[0] == "Comments":
        return Reply(200, (FIX / "lemmy/search_v3_comments.json").read_bytes(), JSON)
    name = {"1": "search_v3_page1.json", "2": "search_v3_page2.json"}.get(
        request.query.get("page", [""])[0]
    )
    body = (FIX / "lemmy" / name).read_bytes() if name else b'{"posts": [], "comments": []}'
    return Reply(200, body, JSON, etag=False)


SCENARIOS["lemmy"] = Scenario(
    sources=lambda base: [
        f'[[sources]]\nname = "lemmy"\ntype = "lemmy"\nbrands = ["Acme Air"]\n'
        f'params = {{ instances = ["{base}"] }}'
    ],
    routes=lambda fix: {"/api/v3/search": _lemmy_v3},
    min_posts=1,
)
SCENARIOS["reddit"] = Scenario(
    # No credentials configured: the public RSS fallback, which status reports as the mode.
    sources=lambda base: [
        f'[[sources]]\nname = "reddit"\ntype = "reddit"\nbrands = ["Acme Air"]\n'
        f'params = {{ web_url = "{base}" }}'
    ],
    routes=lambda fix: {
        "/search.rss": Reply(
            200, (fix / "reddit/search.rss").read_bytes(), {"Content-Type": "application/atom+xml"}
        )
    },
    min_posts=1,
)


def _bsky_session(request: Request) -> Reply:
    # The recorded session's tokens expired long ago; the CLI runs on the real clock.
    session = json.loads((FIX / "bluesky/create_session.json").read_text())
    claims = base64.urlsafe_b64encode(b'{"exp": 4102444800}').rstrip(b"=").decode()
    session["accessJwt"] = f"eyJhbGciOiJFUzI1NksifQ.{claims}.c2ln"
    return Reply(200, json.dumps(session).encode(), JSON)


def _bsky_search(request: Request) -> Reply:
    page = "search_page1.json" if request.query.get("cursor") == ["4"] else "search_page0.json"
    return Reply(200, (FIX / "bluesky" / page).read_bytes(), JSON, etag=False)


SCENARIOS["bluesky"] = Scenario(
    # An app-password session (from the environment, set by the test), cursor pagination.
    sources=lambda base: [
        f'[[sources]]\nname = "bsky"\ntype = "bluesky"\nbrands = ["Acme Air"]\n'
        f'params = {{ service = "{base}", handle_env = "GS_TEST_BSKY_HANDLE", '
        f'app_password_env = "GS_TEST_BSKY_PASSWORD" }}'
    ],
    routes=lambda fix: {
        "/xrpc/com.atproto.server.createSession": _bsky_session,
        "/xrpc/app.bsky.feed.searchPosts": _bsky_search,
        "/xrpc/app.bsky.actor.getProfiles": Reply(
            200, (fix / "bluesky/get_profiles.json").read_bytes(), JSON
        ),
    },
    min_posts=1,
)
REQUIRED = {"rss", "google_news", "youtube", "appstore"}
COVERED = sorted(set(SCENARIOS) & set(known_types()))


def _write_config(path: Path, base: str) -> None:
    tables = [table for kind in COVERED for table in SCENARIOS[kind].sources(base)]
    path.write_text(
        '[[brands]]\nname = "Aurora Air"\naliases = ["AuroraAir"]\n\n'
        '[[brands]]\nname = "Acme Air"\naliases = ["AcmeAir"]\n\n'
        "[collect]\nworkers = 4\n\n" + "\n\n".join(tables) + "\n",
        encoding="utf-8",
    )


def _feed_counts(store: Store) -> tuple[int, int]:
    """Posts and snapshots of the feed types (search APIs may legitimately find new posts)."""
    feeds = ("rss", "google_news", "youtube", "appstore")
    marks = ",".join("?" * len(feeds))
    posts = store.conn.execute(
        f"SELECT count(*) FROM posts WHERE source IN ({marks})", feeds
    ).fetchone()[0]
    snapshots = store.conn.execute(
        f"SELECT count(*) FROM snapshots s JOIN posts p ON p.id = s.post_id "
        f"WHERE p.source IN ({marks})",
        feeds,
    ).fetchone()[0]
    return int(posts), int(snapshots)


def test_required_types_are_registered() -> None:
    assert set(known_types()) >= REQUIRED
    assert set(COVERED) >= REQUIRED


def test_registered_types_without_a_scenario_are_listed() -> None:
    missing = sorted(set(known_types()) - set(SCENARIOS))
    if missing:
        pytest.skip(f"no loopback scenario yet for: {', '.join(missing)}")


def test_poll_collects_every_source_type(
    tmp_path: Path, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GS_TEST_BSKY_HANDLE", "brandwatch.bsky.social")
    monkeypatch.setenv("GS_TEST_BSKY_PASSWORD", "app-pass-1234")
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
        # The blog's full article joins the Google News item that carries only its headline.
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
        posts_after_first = _feed_counts(store)
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
        posts, snapshots = _feed_counts(store)
        assert posts == posts_after_first[0]  # the feeds repeat themselves: nothing doubles
        assert snapshots == posts_after_first[1] + 2  # a video's and a review's counts moved
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
    if "reddit" in COVERED:
        assert by_key["reddit|Acme Air"]["mode"] == "rss"


def test_sources_command_lists_every_type() -> None:
    result = CliRunner().invoke(cli, ["sources", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["type"]: row for row in json.loads(result.output)}
    assert set(rows) == set(known_types())
    assert rows["google_news"]["per_brand"] and not rows["youtube"]["per_brand"]
    assert rows["youtube"]["refresh"] and "channel_id" in rows["youtube"]["params"]
