"""Collection throughput and story clustering at scale.

1. Polling: 100 brand × source pairs (10 brands × 10 Google News sources spread over 5 loopback
   "hosts", each answering after 20–50 ms like a real service).
   a. Collection (fetch + parse through the shared client and its per-host limiter, what the
      worker pool parallelises): once with 1 worker, once with ``--workers``.
   b. End to end with the real pipeline (``monitor.pipeline.poll``: fetch, parse and brand
      matching on the worker threads; one writer storing results as they finish, with their
      cursors, and assigning stories in batches), each into a fresh archive, sequential (one
      worker) vs concurrent. Both must leave every stored post in a story.
   Reports polls/s, items/s and both speed-ups; the per-host peak of requests in flight, seen by
   the servers themselves, must stay within the configured concurrency.
2. Clustering: 100,000 synthetic items (20,000 stories × 5 syndicated copies with small edits, in
   five scripts) through :func:`monitor.stories.cluster_texts`; reports the time, items/s and
   how many copies landed with their original.

    python benchmarks/bench_collect.py [--items 100000] [--latency 20-50] [--per-host 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from monitor.config import Config, parse_config  # noqa: E402
from monitor.loopback import LoopbackServer, Reply, Request  # noqa: E402
from monitor.pipeline import poll  # noqa: E402
from monitor.store import SourceState, Store  # noqa: E402
from monitor.stories import cluster_texts  # noqa: E402
from sources.google_news import GoogleNewsCollector  # noqa: E402
from sources.http import HttpClient  # noqa: E402
from sources.limits import host_key  # noqa: E402
from sources.settings import collect_settings  # noqa: E402

BRANDS = [
    "Aurora Air",
    "Nimbus Airlines",
    "Veloxbank",
    "Kestrel Foods",
    "Orbit Mobile",
    "Lumen Energy",
    "Harbor Hotels",
    "Trailhead Gear",
    "Polar Jet",
    "Brightcart",
]
HOSTS = 5
SOURCES_PER_HOST = 2
ITEMS_PER_FEED = 20
TOPICS = [
    "refund refused after cancelled flight",
    "app outage locks customers out",
    "lost luggage never returned",
    "price hike angers loyal customers",
    "data breach exposes emails",
    "strike grounds hundreds of flights",
    "new route announced for spring",
    "service praised after quick fix",
]


class FakeNews:
    """One loopback "host" serving Google News search feeds with realistic latency."""

    def __init__(self, index: int, latency: tuple[float, float], bar: tqdm) -> None:
        self.index = index
        self.latency = latency
        self.bar = bar
        self.rng = random.Random(index)
        self.lock = threading.Lock()
        self.live = 0
        self.peak = 0
        self.server = LoopbackServer({"/rss/search": self.handle})

    def handle(self, request: Request) -> Reply:
        with self.lock:
            self.live += 1
            self.peak = max(self.peak, self.live)
            delay = self.rng.uniform(*self.latency)
            serial = self.rng.randrange(1 << 30)
        try:
            time.sleep(delay)  # the service thinking, not the client
            query = request.query.get("q", [""])[0]
            brand = query.split('"')[1] if '"' in query else query.split(" when:")[0]
            body = _feed(brand, self.index, serial)
            return Reply(200, body, {"Content-Type": "application/xml"}, etag=False)
        finally:
            with self.lock:
                self.live -= 1
            self.bar.update(1)


def _feed(brand: str, host: int, serial: int) -> bytes:
    items = []
    for n in range(ITEMS_PER_FEED):
        topic = TOPICS[(serial + n) % len(TOPICS)]
        guid = f"CBMi{host}x{serial}x{n}"
        items.append(
            f"<item><title>{brand} {topic} ({serial % 997}-{n}) - Example Times {host}</title>"
            f"<link>https://news.google.com/rss/articles/{guid}?oc=5</link>"
            f'<guid isPermaLink="false">{guid}</guid>'
            f"<pubDate>Mon, 02 Nov 2026 09:{n:02d}:00 GMT</pubDate>"
            f"<description>{brand} {topic}</description>"
            f'<source url="https://times{host}.example">Example Times {host}</source></item>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{brand} - Google News</title><language>en-US</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def _config(servers: list[FakeNews], per_host: int, workers: int) -> Config:
    sources: list[dict[str, Any]] = []
    hosts: dict[str, Any] = {}
    for server in servers:
        base = server.server.url("").rstrip("/")
        hosts[host_key(base)] = {"concurrency": per_host, "rate": "1000/1s"}
        for n in range(SOURCES_PER_HOST):
            sources.append(
                {
                    "name": f"gn-{server.index}-{n}",
                    "type": "google_news",
                    "params": {"base_url": base, "hl": "en-US", "gl": "US"},
                }
            )
    return parse_config(
        {
            "brands": [{"name": b} for b in BRANDS],
            "sources": sources,
            "collect": {"workers": workers, "hosts": hosts},
        }
    )


def _run_polls(
    servers: list[FakeNews], per_host: int, workers: int, db: Path
) -> tuple[float, int, int]:
    config = _config(servers, per_host, workers)
    for server in servers:
        server.peak = 0
    with Store.open(db) as store, HttpClient(timeout=10.0) as client:
        started = time.perf_counter()
        report = poll(config, store, client)
        elapsed = time.perf_counter() - started
        failed = [r for r in report.sources if not r.ok]
        if failed:
            raise SystemExit(f"{len(failed)} polls failed, e.g. {failed[0].error}")
        fetched = sum(r.fetched for r in report.sources)
        stored = store.count("posts")
        unassigned = store.conn.execute("SELECT count(*) FROM posts WHERE story_id IS NULL")
        if unassigned.fetchone()[0]:
            raise SystemExit("posts left without a story")
    return elapsed, fetched, stored


def _run_collect(servers: list[FakeNews], per_host: int, workers: int) -> tuple[float, int]:
    """Fetch and parse every pair through one shared client; no storage."""
    from concurrent.futures import ThreadPoolExecutor

    config = _config(servers, per_host, workers)
    with HttpClient(timeout=10.0) as client:
        client.apply_settings(collect_settings(config))
        collectors = {spec.name: GoogleNewsCollector(spec, client) for spec in config.sources}
        jobs = [(spec, brand) for spec in config.sources for brand in config.brands]

        def run(job: tuple[Any, Any]) -> int:
            spec, brand = job
            state = SourceState(key=f"{spec.name}|{brand.name}", source=spec.name, type=spec.type)
            return len(collectors[spec.name].collect(state, brand).posts)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            counts = list(pool.map(run, jobs))
        return time.perf_counter() - started, sum(counts)


def _synthetic_items(count: int, rng: random.Random) -> tuple[list[tuple[str, str]], np.ndarray]:
    alphabets = [
        "abcdefghijklmnopqrstuvwxyz",
        "abcdefghijklmnopqrstuvwxyzäöüß",
        "абвгдежзийклмнопрстуфхцчшщыэюя",
        "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわ",
        "aąbcćdeęfghijklłmnńoóprsśtuwyzźż",
    ]
    stories = max(1, count // 5)
    bases = []
    for n in range(stories):
        letters = alphabets[n % len(alphabets)]
        spaced = n % len(alphabets) != 3  # Japanese without spaces
        words = [
            "".join(rng.choice(letters) for _ in range(rng.randint(3, 9)))
            for _ in range(rng.randint(40, 70))
        ]
        text = (" " if spaced else "").join(words)
        title = (" " if spaced else "").join(words[:8])
        bases.append((title, text))
    items: list[tuple[str, str]] = []
    truth = np.empty(count, dtype=np.int64)
    for i in range(count):
        story = i % stories
        title, text = bases[story]
        if i >= stories:  # a syndicated copy: publisher suffix, an edited sentence, a footer
            cut = rng.randrange(len(text) // 2, len(text))
            text = text[:cut] + " (update) " + text[cut + 12 :] + " — via wire"
            title = f"{title} - Outlet {rng.randrange(50)}"
        items.append((title, text))
        truth[i] = story
    return items, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="items to cluster")
    parser.add_argument("--latency", default="20-50", help="server latency range in ms")
    parser.add_argument("--per-host", type=int, default=4, help="requests in flight per host")
    parser.add_argument("--workers", type=int, default=20, help="concurrent pipeline workers")
    args = parser.parse_args()
    low, _, high = args.latency.partition("-")
    latency = (float(low) / 1000, float(high or low) / 1000)
    pairs = len(BRANDS) * HOSTS * SOURCES_PER_HOST

    bar = tqdm(total=4 * pairs, desc="polls", unit="poll")
    servers = [FakeNews(i, latency, bar) for i in range(HOSTS)]
    for server in servers:
        server.server.start()
    try:
        col_seq_time, col_seq_items = _run_collect(servers, args.per_host, 1)
        col_time, col_items = _run_collect(servers, args.per_host, args.workers)
        collect_peaks = [server.peak for server in servers]
        with tempfile.TemporaryDirectory() as tmp:
            seq_time, seq_items, seq_rows = _run_polls(
                servers, args.per_host, 1, Path(tmp) / "seq.db"
            )
            conc_time, conc_items, conc_rows = _run_polls(
                servers, args.per_host, args.workers, Path(tmp) / "conc.db"
            )
            peaks = [max(server.peak, collect_peaks[i]) for i, server in enumerate(servers)]
    finally:
        bar.close()
        for server in servers:
            server.server.stop()

    rng = random.Random(7)
    items, truth = _synthetic_items(args.items, rng)
    progress = tqdm(total=1, desc="clustering", unit="run")
    started = time.perf_counter()
    labels = cluster_texts(items)
    cluster_time = time.perf_counter() - started
    progress.update(1)
    progress.close()
    stories = len(truth) // 5 if len(truth) >= 5 else len(truth)
    originals = labels[truth] if len(truth) else labels
    joined = float(np.mean(labels == originals)) if len(labels) else 0.0
    clusters = len(np.unique(labels))

    speedup = col_seq_time / col_time
    print(
        f"pairs: {pairs} brand x source ({len(BRANDS)} brands, {HOSTS * SOURCES_PER_HOST} sources on {HOSTS} hosts)"
    )
    print(f"latency per response: {latency[0] * 1000:.0f}-{latency[1] * 1000:.0f} ms")
    print(f"collect sequential: {col_seq_time:.2f} s, {col_seq_items} items")
    print(f"collect concurrent ({args.workers} workers): {col_time:.2f} s, {col_items} items")
    print(f"pipeline sequential: {seq_time:.2f} s, {seq_items} items fetched, {seq_rows} stored")
    print(f"pipeline concurrent: {conc_time:.2f} s, {conc_items} items fetched, {conc_rows} stored")
    print(f"peak requests in flight per host: {max(peaks)} (limit {args.per_host})")
    print(f"sequential polls/s {pairs / col_seq_time:.1f}")
    print(f"polls/s {pairs / col_time:.1f}")
    print(f"items/s {col_items / col_time:.0f}")
    print(f"pipeline polls/s {pairs / conc_time:.1f} (sequential {pairs / seq_time:.1f})")
    print(f"pipeline items/s {conc_items / conc_time:.0f}")
    print(f"pipeline end-to-end speedup {seq_time / conc_time:.1f}x")
    print(f"clustering {len(items)} items {cluster_time:.1f} s")
    print(f"clustering items/s {len(items) / cluster_time:.0f}")
    print(
        f"clusters {clusters} (stories {stories}); copies with their original {joined * 100:.1f} %"
    )
    print(f"speedup vs sequential {speedup:.1f}x")
    if max(peaks) > args.per_host:
        raise SystemExit("per-host concurrency limit exceeded")


if __name__ == "__main__":
    main()
