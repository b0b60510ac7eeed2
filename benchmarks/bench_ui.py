"""Review UI latency on a large archive: inbox pages and full-text search, p95 over 200 requests.

Builds a synthetic archive of 1,000,000 posts (two brands, six languages, four sources, texts
from a small vocabulary, 3% of posts with risk scores), syncs the inbox index, then sends
requests from an in-process client (Starlette TestClient) through the whole app: session check,
query, template rendering.

* inbox: first pages under different filters and sorts, and deep pages reached by following the
  keyset cursor — baseline: the same first page computed straight from ``posts`` with the latest
  risk per post as a correlated subquery and ``ORDER BY`` over the whole archive (no inbox index);
* search: the search box (FTS5 prefilter + exact re-check) with common and rare words, phrases,
  NEAR, NOT, prefixes, combined with filters and sorts, and next pages via the cursor —
  baseline: the same first page with ``LIKE '%word%'`` over every post and the latest risk per
  match looked up and sorted (no full-text index, no inbox index).

    python benchmarks/bench_ui.py [--posts 1000000] [--requests 200] [--db PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import parse_config
from monitor.records import isoformat
from monitor.store import Store
from monitor.web.auth import ensure_user, get_user
from monitor.web.inbox import sync_inbox

NOW = datetime(2025, 1, 1, tzinfo=UTC)
WORDS = [
    "refund",
    "never",
    "came",
    "flight",
    "cancelled",
    "baggage",
    "lost",
    "guitar",
    "broken",
    "crew",
    "friendly",
    "delay",
    "gate",
    "seat",
    "upgrade",
    "lounge",
    "customer",
    "service",
    "answer",
    "call",
    "waited",
    "hours",
    "lawyer",
    "complaint",
    "airport",
    "booking",
    "app",
    "crashed",
    "charged",
    "twice",
    "voucher",
    "points",
    "miles",
    "late",
    "luggage",
    "damaged",
    "sorry",
    "thanks",
    "great",
    "awful",
    "terrible",
    "lovely",
    "smooth",
    "rude",
    "staff",
    "desk",
    "queue",
    "boarding",
    "pass",
    "email",
    "reply",
    "days",
]
FILLER = [f"w{i}" for i in range(3000)]
LANGS = ("en", "en", "en", "de", "es", "pl", "fr", "ru")
SOURCES = (
    ("rss", "travel-news"),
    ("reddit", "r/travel"),
    ("hackernews", "hn"),
    ("mastodon", "m.s"),
)
# Search box queries: common words (each in ~14% of posts), rare ones (~0.2%), phrases, NEAR,
# NOT, prefixes and a field, each combined with one of SEARCH_FILTERS below.
SEARCHES = (
    "guitar",
    '"refund never came"',
    "refund NEAR/3 lawyer",
    "baggage AND damaged",
    "charged twice",
    "w17 OR w2999",
    "lounge NOT lovely",
    "rude staff",
    "w2999",
    "refund*",
    '"customer service"',
    "title:guitar",
)
SEARCH_FILTERS = (
    "",
    "&sort=time",
    "&lang=en",
    "&severity=flagged",
    "&brand=Nimbus+Airlines",
    "&lang=de&sort=time",
    "&source=reddit",
    "&status=all&since=2024-12-20&until=2024-12-25",
)


def build(path: Path, count: int) -> None:
    rng = random.Random(42)
    with Store.open(path) as store:
        conn = store.conn
        have = store.count("posts")
        if have >= count:
            print(f"re-using {path} with {have} posts", file=sys.stderr)
            return
        start = time.perf_counter()
        batch_size = 20_000
        for first in range(have, count, batch_size):
            posts, brands, risks = [], [], []
            for i in range(first, min(first + batch_size, count)):
                source, name = SOURCES[i % 4]
                words = rng.choices(WORDS, k=8) + rng.choices(FILLER, k=6)
                rng.shuffle(words)
                brand = "Aurora Air" if i % 5 else "Nimbus Airlines"
                at = isoformat(NOW - timedelta(seconds=(count - i) * 30))
                post_id = f"{source}:{i}"
                posts.append(
                    (
                        post_id,
                        source,
                        str(i),
                        name,
                        f"https://example.org/{i}",
                        "example.org",
                        f"user{i % 5000}",
                        rng.choice([10, 500, 20_000]),
                        rng.choice(LANGS),
                        f"{brand} {' '.join(words[:4])}",
                        " ".join(words),
                        at,
                        at,
                        at,
                        f"h{i}",
                    )
                )
                brands.append((post_id, brand, at))
                if rng.random() < 0.03:
                    risk = round(rng.random(), 3)
                    sev = "critical" if risk > 0.8 else "warning" if risk > 0.5 else "info"
                    risks.append((post_id, brand, at, risk, sev, json.dumps(["synthetic"])))
            with store.transaction():
                conn.executemany(
                    "INSERT INTO posts (id, source, native_id, source_name, url, site, author, "
                    "author_followers, lang, title, text, published_at, first_seen_at, last_seen_at, "
                    "content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    posts,
                )
                conn.executemany("INSERT INTO post_brands VALUES (?, ?, ?)", brands)
                conn.executemany(
                    "INSERT INTO risk_scores (post_id, brand, at, risk, severity, reasons) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    risks,
                )
            done = min(first + batch_size, count)
            if done % 200_000 == 0 or done == count:
                rate = (done - have) / (time.perf_counter() - start)
                print(f"  {done} posts ({rate:,.0f} posts/s)", file=sys.stderr)
        conn.execute("ANALYZE")


def _next_link(html: str) -> str | None:
    marker = 'rel="next" href="'
    at = html.find(marker)
    if at < 0:
        return None
    return html[at + len(marker) : html.find('"', at + len(marker))].replace("&amp;", "&")


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--baseline-runs", type=int, default=10)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()

    from starlette.testclient import TestClient

    from monitor.web.app import create_app
    from monitor.web.pages import SESSION_COOKIE

    tmp = tempfile.TemporaryDirectory()
    path = args.db or Path(tmp.name) / "bench-ui.db"
    t0 = time.perf_counter()
    build(path, args.posts)
    print(f"archive ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    with Store.open(path) as store:
        t0 = time.perf_counter()
        synced = sync_inbox(store)
        sync_s = time.perf_counter() - t0
        ensure_user(store, "bench", "bench password", "reviewer")
        posts = store.count("posts")
    config = parse_config(
        {
            "brands": [
                {"name": "Aurora Air", "competitors": ["Nimbus Airlines"]},
                {"name": "Nimbus Airlines"},
            ]
        },
        validate_sources=False,
    )
    app = create_app(config, path, secret="bench-secret-" + "x" * 20, clock=lambda: NOW)
    web = app.state.web
    user = get_user(web.store(), "bench")
    assert user is not None
    # Entered once, as a served app runs: one event loop and its worker threads (each thread
    # keeps its archive connection) for the whole run, not a new loop per request.
    stack = contextlib.ExitStack()
    client = stack.enter_context(TestClient(app, base_url="https://testserver"))
    client.cookies.set(SESSION_COOKIE, web.codec.dumps(user))
    rng = random.Random(7)

    inbox_urls = [
        "/",
        "/?sort=time",
        "/?severity=flagged",
        "/?brand=Nimbus+Airlines&sort=time",
        "/?lang=de",
        "/?competitor=exclude&severity=critical",
        "/?source=reddit&sort=time",
        "/?status=all&since=2024-12-20&until=2024-12-25&sort=time",
    ]
    timings: list[float] = []
    deep = 0
    next_url: str | None = None
    for n in range(args.requests):
        if next_url and n % 3 == 2:
            url, deep = next_url, deep + 1
        else:
            url = inbox_urls[n % len(inbox_urls)]
        t0 = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
        next_url = _next_link(response.text)
    search_timings: list[float] = []
    search_cpu: list[float] = []
    search_deep = 0
    slowest: list[tuple[float, str]] = []
    next_url = None
    for n in range(args.requests):
        if next_url and n % 4 == 3:
            url, search_deep = next_url, search_deep + 1
        else:
            url = f"/?q={quote(SEARCHES[n % len(SEARCHES)])}{rng.choice(SEARCH_FILTERS)}"
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(url)
        elapsed = time.perf_counter() - t0
        search_timings.append(elapsed)
        search_cpu.append(time.process_time() - c0)  # client and app threads: no I/O wait
        slowest.append((elapsed, url))
        if response.status_code != 200 or 'role="alert"' in response.text:
            raise SystemExit(f"search {url}: HTTP {response.status_code} or an error shown")
        next_url = _next_link(response.text)
    for elapsed, url in sorted(slowest, reverse=True)[:5]:
        print(f"  slow search {elapsed * 1000:.1f} ms {url}", file=sys.stderr)

    # Baselines in the same run, same archive: no inbox index, no FTS.
    conn = web.store().conn
    baseline = []
    for _ in range(args.baseline_runs):
        t0 = time.perf_counter()
        conn.execute(
            "SELECT p.id, p.title, (SELECT r.risk FROM risk_scores r WHERE r.post_id = p.id "
            "ORDER BY r.at DESC LIMIT 1) AS risk FROM posts p "
            "ORDER BY risk DESC, coalesce(p.published_at, p.first_seen_at) DESC LIMIT 51"
        ).fetchall()
        baseline.append(time.perf_counter() - t0)
    # The search page's first page without the full-text index or the inbox index: every post's
    # text scanned with LIKE, the latest risk per match looked up, all matches sorted.
    like_baseline = []
    for n in range(args.baseline_runs):
        word = ["guitar", "w2999", "refund never came", "lawyer"][n % 4]
        t0 = time.perf_counter()
        conn.execute(
            "SELECT id, title, risk FROM (SELECT p.id, p.title, coalesce((SELECT r.risk "
            "FROM risk_scores r WHERE r.post_id = p.id ORDER BY r.at DESC LIMIT 1), 0) AS risk, "
            "coalesce(p.published_at, p.first_seen_at) AS at FROM posts p "
            "WHERE (p.title LIKE ? OR p.text LIKE ?)) ORDER BY risk DESC, at DESC, id DESC LIMIT 51",
            (f"%{word}%", f"%{word}%"),
        ).fetchall()
        like_baseline.append(time.perf_counter() - t0)
    stack.close()

    inbox_p95 = p95(timings) * 1000
    search_p95 = p95(search_timings) * 1000
    base_p95 = p95(baseline) * 1000
    like_p95 = p95(like_baseline) * 1000
    print(f"archive {posts} posts")
    print(
        f"inbox index sync {sync_s:.1f} s ({synced.get('posts', 0) / max(sync_s, 1e-9):,.0f} posts/s)"
    )
    print(f"inbox p50 {statistics.median(timings) * 1000:.1f} ms")
    print(f"inbox p95 {inbox_p95:.1f} ms ({args.requests} requests, {deep} deep pages via cursor)")
    print(f"search p50 {statistics.median(search_timings) * 1000:.1f} ms")
    print(
        f"search p95 {search_p95:.1f} ms ({args.requests} requests, {len(SEARCHES)} queries x "
        f"{len(SEARCH_FILTERS)} filter sets, {search_deep} deep pages via cursor)"
    )
    print(
        f"search CPU time p95 {p95(search_cpu) * 1000:.1f} ms (the rest of the latency is I/O wait)"
    )
    print(f"baseline inbox query (no index) p95 {base_p95:.1f} ms")
    print(f"baseline search (LIKE scan, no FTS, no inbox index) p95 {like_p95:.1f} ms")
    print(f"inbox speed-up vs unindexed baseline {base_p95 / inbox_p95:.1f}x")
    print(f"search speed-up vs unindexed baseline {like_p95 / search_p95:.1f}x")
    print(f"target p95 < 200 ms: {'met' if max(inbox_p95, search_p95) < 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
