"""Collection throughput and story clustering at scale.

1. Polling: 100 brand × source pairs (10 brands × 10 Google News sources spread over 5 loopback
   "hosts", each answering after 20–50 ms like a real service).
   a. Collection (fetch + parse through the shared client and its per-host limiter, what the
      worker pool parallelises): once with 1 worker, once with ``--workers``.
   b. End to end with the real pipeline (``monitor.pipeline.poll``: fetch, parse and brand
      matching on the worker threads; one writer storing results as they finish, with their
      cursors, and assigning stories in batches), each into a fresh archive, sequential (one
      worker) vs concurrent, in turns for ``--rounds`` rounds (times pooled). Every poll must
      leave every stored post in a story.
   Reports polls/s, items/s and both speed-ups; the per-host peak of requests in flight, seen by
   the servers themselves, must stay within the configured concurrency.

   The fake hosts run in a process of their own (``multiprocessing``, the same
   :class:`~monitor.loopback.LoopbackServer` fakes), like services on other machines: their
   request handling and feed generation never hold the GIL of the client being measured. The child sends back the hosts' URLs and, after each phase, what every host saw
   (peak requests in flight, requests served); the sequential and the concurrent runs poll the
   very same hosts. ``--hosts-in-process`` runs them as threads of the benchmark's own process
   instead (the earlier setup, for comparison). On a 2-core machine the child still shares the
   cores with the client, so the two setups measure alike there; the separation matters where
   the client is given cores of its own. Measured figures: docs/sources.md.
2. Clustering: 100,000 synthetic items (20,000 stories × 5 syndicated copies with small edits, in
   five scripts) through :func:`monitor.stories.cluster_texts`; reports the time, items/s and
   how many copies landed with their original.

    python benchmarks/bench_collect.py [--items 100000] [--latency 20-50] [--per-host 4]
                                       [--workers 20] [--rounds 3] [--hosts-in-process]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

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
T = TypeVar("T")
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

    def __init__(self, index: int, latency: tuple[float, float]) -> None:
        self.index = index
        self.latency = latency
        self.rng = random.Random(index)
        self.lock = threading.Lock()
        self.live = 0
        self.peak = 0
        self.served = 0
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
                self.served += 1

    def take_counts(self) -> tuple[int, int]:
        """``(peak in flight, requests served)`` since the last call; both start again at 0."""
        with self.lock:
            counts = (self.peak, self.served)
            self.peak = self.served = 0
        return counts


def _serve_hosts(conn: Connection, latency: tuple[float, float]) -> None:
    """The fake hosts' process: starts them, sends their URLs, then answers ``"counts"`` with
    each host's ``(peak in flight, requests served)`` until told ``"stop"``."""
    servers = [FakeNews(i, latency) for i in range(HOSTS)]
    for server in servers:
        server.server.start()
    try:
        conn.send([server.server.url("").rstrip("/") for server in servers])
        while (command := conn.recv()) != "stop":
            if command == "counts":
                conn.send([server.take_counts() for server in servers])
    finally:
        for server in servers:
            server.server.stop()


class Hosts:
    """The fake hosts, in a process of their own (like services on other machines: their request
    handling never holds the GIL of the client being measured) or, with ``in_process``, as
    threads of this one."""

    def __init__(self, latency: tuple[float, float], in_process: bool = False) -> None:
        self._local: list[FakeNews] = []
        self._process: BaseProcess | None = None
        if in_process:
            self._local = [FakeNews(i, latency) for i in range(HOSTS)]
            for server in self._local:
                server.server.start()
            self.urls = [server.server.url("").rstrip("/") for server in self._local]
            return
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve_hosts, args=(child, latency), name="fake-hosts", daemon=True
        )
        self._process.start()
        child.close()
        if not self._conn.poll(30):
            self.stop()
            raise SystemExit("the fake hosts did not start within 30 s")
        self.urls = self._conn.recv()

    def counts(self) -> list[tuple[int, int]]:
        """Per host ``(peak requests in flight, requests served)`` since the last call."""
        if self._process is None:
            return [server.take_counts() for server in self._local]
        self._conn.send("counts")
        if not self._conn.poll(30):
            raise SystemExit("the fake hosts stopped answering")
        return list(self._conn.recv())

    def stop(self) -> None:
        for server in self._local:
            server.server.stop()
        if self._process is not None:
            with contextlib.suppress(OSError):  # the child already gone
                self._conn.send("stop")
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)
            self._conn.close()


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


def _config(urls: list[str], per_host: int, workers: int) -> Config:
    sources: list[dict[str, Any]] = []
    hosts: dict[str, Any] = {}
    for index, base in enumerate(urls):
        hosts[host_key(base)] = {"concurrency": per_host, "rate": "1000/1s"}
        for n in range(SOURCES_PER_HOST):
            sources.append(
                {
                    "name": f"gn-{index}-{n}",
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
    urls: list[str], per_host: int, workers: int, db: Path
) -> tuple[float, int, int, float]:
    """One poll into a fresh archive: seconds, items fetched, posts stored, CPU seconds of this
    process (every thread) during the poll."""
    config = _config(urls, per_host, workers)
    with Store.open(db) as store, HttpClient(timeout=10.0) as client:
        cpu = time.process_time()
        started = time.perf_counter()
        report = poll(config, store, client)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        failed = [r for r in report.sources if not r.ok]
        if failed:
            raise SystemExit(f"{len(failed)} polls failed, e.g. {failed[0].error}")
        fetched = sum(r.fetched for r in report.sources)
        stored = store.count("posts")
        unassigned = store.conn.execute("SELECT count(*) FROM posts WHERE story_id IS NULL")
        if unassigned.fetchone()[0]:
            raise SystemExit("posts left without a story")
    return elapsed, fetched, stored, cpu


def _run_collect(urls: list[str], per_host: int, workers: int) -> tuple[float, int]:
    """Fetch and parse every pair through one shared client; no storage."""
    from concurrent.futures import ThreadPoolExecutor

    config = _config(urls, per_host, workers)
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


def _load() -> str:
    """The 1-, 5- and 15-minute load averages: what else the machine was doing."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="items to cluster")
    parser.add_argument("--latency", default="20-50", help="server latency range in ms")
    parser.add_argument("--per-host", type=int, default=4, help="requests in flight per host")
    parser.add_argument("--workers", type=int, default=20, help="concurrent pipeline workers")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="end-to-end polls of each kind, in turns, each into a fresh archive (times pooled)",
    )
    parser.add_argument(
        "--hosts-in-process",
        action="store_true",
        help="run the fake hosts as threads of this process (the setup before they had their own)",
    )
    args = parser.parse_args()
    low, _, high = args.latency.partition("-")
    latency = (float(low) / 1000, float(high or low) / 1000)
    pairs = len(BRANDS) * HOSTS * SOURCES_PER_HOST

    load_before = _load()
    hosts = Hosts(latency, in_process=args.hosts_in_process)
    peaks: list[int] = []

    def checked(phase: T) -> T:
        """Record the phase's per-host peaks, as the servers saw them."""
        counts = hosts.counts()
        peaks.extend(peak for peak, _ in counts)
        served = sum(n for _, n in counts)
        if served < pairs:
            raise SystemExit(f"the fake hosts served {served} requests, expected {pairs}")
        bar.update(1)
        return phase

    rounds = max(1, args.rounds)
    bar = tqdm(total=2 + 2 * rounds, desc="polling phases", unit="phase")
    seq_runs: list[tuple[float, int, int, float]] = []
    conc_runs: list[tuple[float, int, int, float]] = []
    try:
        col_seq_time, col_seq_items = checked(_run_collect(hosts.urls, args.per_host, 1))
        col_time, col_items = checked(_run_collect(hosts.urls, args.per_host, args.workers))
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(rounds):  # in turns: the machine's noise falls on both alike
                seq_runs.append(
                    checked(_run_polls(hosts.urls, args.per_host, 1, Path(tmp) / f"s{round_}.db"))
                )
                conc_runs.append(
                    checked(
                        _run_polls(
                            hosts.urls, args.per_host, args.workers, Path(tmp) / f"c{round_}.db"
                        )
                    )
                )
                tqdm.write(
                    f"round {round_ + 1}: pipeline sequential {seq_runs[-1][0]:.2f} s, "
                    f"concurrent {conc_runs[-1][0]:.2f} s, "
                    f"{seq_runs[-1][0] / conc_runs[-1][0]:.1f}x"
                )
    finally:
        bar.close()
        hosts.stop()
    seq_time, conc_time = sum(r[0] for r in seq_runs), sum(r[0] for r in conc_runs)
    seq_items, conc_items = sum(r[1] for r in seq_runs), sum(r[1] for r in conc_runs)
    seq_rows, conc_rows = seq_runs[-1][2], conc_runs[-1][2]
    seq_cpu, conc_cpu = sum(r[3] for r in seq_runs), sum(r[3] for r in conc_runs)

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
    print(f"fake hosts: {'threads of this process' if args.hosts_in_process else 'own process'}")
    print(f"collect sequential: {col_seq_time:.2f} s, {col_seq_items} items")
    print(f"collect concurrent ({args.workers} workers): {col_time:.2f} s, {col_items} items")
    print(
        f"pipeline sequential: {seq_time:.2f} s over {rounds} polls, {seq_items} items fetched, "
        f"{seq_rows} stored per poll"
    )
    print(
        f"pipeline concurrent: {conc_time:.2f} s over {rounds} polls, {conc_items} items "
        f"fetched, {conc_rows} stored per poll"
    )
    print(f"pipeline CPU (this process): sequential {seq_cpu:.2f} s, concurrent {conc_cpu:.2f} s")
    print(f"load average: {load_before} before, {_load()} after")
    print(f"peak requests in flight per host: {max(peaks)} (limit {args.per_host})")
    print(f"sequential polls/s {pairs / col_seq_time:.1f}")
    print(f"polls/s {pairs / col_time:.1f}")
    print(f"items/s {col_items / col_time:.0f}")
    print(
        f"pipeline polls/s {pairs * rounds / conc_time:.1f} "
        f"(sequential {pairs * rounds / seq_time:.1f})"
    )
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
