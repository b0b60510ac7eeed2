"""Ingest throughput: parse + match + store of generated feed items.

groundswell's bulk path (``groundswell backfill``: feeds parsed with feedparser and brand queries
matched in one process per core while the main process stores, WAL, several feeds per
transaction), the same in one process (what a poll round does), and against a naive baseline
with SQLite's default settings
(rollback journal, synchronous=FULL) that commits one transaction per row — both measured in the
same run, doing the same parsing and matching in one process.

Both run in turns (``--rounds``, default 3), so that the machine's noise falls on both alike;
the rates are pooled over the rounds.

    python benchmarks/bench_ingest.py [--items 50000] [--baseline-items 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from tqdm import tqdm

from monitor.backfill import backfill
from monitor.config import parse_config
from monitor.pipeline import match_brands
from monitor.store import Store
from monitor.urls import canonical_url
from sources.rss import parse_feed

WORDS = {
    "en": [
        "flight",
        "delayed",
        "refund",
        "never",
        "again",
        "lost",
        "luggage",
        "crew",
        "friendly",
        "late",
        "gate",
        "app",
        "crashed",
        "support",
    ],
    "de": [
        "Flug",
        "verspätet",
        "Erstattung",
        "nie",
        "wieder",
        "Koffer",
        "verloren",
        "Crew",
        "freundlich",
        "Anwalt",
        "Hotline",
    ],
    "pl": [
        "lot",
        "opóźniony",
        "zwrot",
        "pieniędzy",
        "nigdy",
        "więcej",
        "bagaż",
        "zgubiony",
        "obsługa",
        "Łódź",
        "reklamacja",
    ],
    "ru": [
        "рейс",
        "задержан",
        "возврат",
        "денег",
        "никогда",
        "багаж",
        "потерян",
        "поддержка",
        "суд",
        "жалоба",
    ],
    "es": [
        "vuelo",
        "retrasado",
        "reembolso",
        "nunca",
        "más",
        "maleta",
        "perdida",
        "tripulación",
        "amable",
        "abogado",
    ],
}
BRANDS = ["Aurora Air", "Nimbus Airlines", "Polar Jet", "Skyline"]


def make_feeds(items: int, per_feed: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    feeds, n = [], 0
    while n < items:
        entries = []
        for _ in range(min(per_feed, items - n)):
            lang = rng.choice(list(WORDS))
            words = rng.choices(WORDS[lang], k=rng.randint(12, 40))
            words.insert(
                rng.randrange(len(words)), rng.choice(BRANDS) if rng.random() < 0.8 else "weather"
            )
            text = " ".join(words)
            when = format_datetime(start + timedelta(seconds=n * 7))
            entries.append(
                f"<item><title>{escape(' '.join(words[:8]))}</title>"
                f"<link>https://news{n % 50}.example/a/{n}?utm_source=rss</link><guid>g-{n}</guid>"
                f"<pubDate>{when}</pubDate><description>&lt;p&gt;{escape(text)}&lt;/p&gt;</description></item>"
            )
            n += 1
        feeds.append(
            (
                f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Feed {len(feeds)}</title>'
                + "".join(entries)
                + "</channel></rss>"
            ).encode()
        )
    return feeds


def run_backfill(feeds: list[bytes], db: Path) -> tuple[int, float]:
    """groundswell's bulk path: parse + match in one process per core, store in batches."""
    config = parse_config({"brands": [{"name": b} for b in BRANDS]})
    with (
        Store.open(db) as store,
        tqdm(total=len(feeds), desc="groundswell", unit="feed", leave=False) as bar,
    ):
        started = time.perf_counter()
        report = backfill(
            config,
            store,
            [(f"feed-{i}", f) for i, f in enumerate(feeds)],
            on_file=lambda name, count: bar.update(1),
        )
        return report.items, time.perf_counter() - started


def run(feeds: list[bytes], db: Path, per_row: bool, label: str) -> tuple[int, float]:
    config = parse_config({"brands": [{"name": b} for b in BRANDS]})
    total = 0
    with Store.open(db) as store:
        if per_row:
            # What a naive implementation does: SQLite's defaults (rollback journal, full sync)
            # and a commit for every row.
            store.conn.execute("PRAGMA journal_mode = DELETE")
            store.conn.execute("PRAGMA synchronous = FULL")
        started = time.perf_counter()
        with tqdm(
            total=sum(f.count(b"<item>") for f in feeds), desc=label, unit="item", leave=False
        ) as bar:
            for content in feeds:
                posts = parse_feed(content, source_name="bench").posts
                matched = [(p, names) for p in posts if (names := match_brands(p, config.brands))]
                if per_row:
                    for item in matched:
                        store.upsert_posts([item], canonicalize=canonical_url)
                else:
                    store.upsert_posts(matched, canonicalize=canonical_url)
                total += len(posts)
                bar.update(len(posts))
        elapsed = time.perf_counter() - started
    return total, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument(
        "--baseline-items",
        type=int,
        default=5_000,
        help="the per-row baseline is slow; measure its rate on fewer items",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="groundswell and the baseline run in turns this many times (the machine's noise "
        "then falls on both alike); rates are pooled over the rounds",
    )
    args = parser.parse_args()
    feeds = make_feeds(args.items, per_feed=500)
    baseline_feeds = make_feeds(args.baseline_items, per_feed=500, seed=8)
    runs: list[tuple[int, float, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(max(1, args.rounds)):
            n, seconds = run_backfill(feeds, Path(tmp) / f"fast{round_}.db")
            bn, bseconds = run(
                baseline_feeds, Path(tmp) / f"naive{round_}.db", per_row=True, label="baseline"
            )
            runs.append((n, seconds, bn, bseconds))
            print(
                f"round {round_ + 1}: groundswell {n / seconds:,.0f} items/s, "
                f"baseline {bn / bseconds:,.0f} items/s, {n / seconds / (bn / bseconds):.1f}x"
            )
        sn, sseconds = run(feeds, Path(tmp) / "serial.db", per_row=False, label="one process")
    n, seconds = sum(r[0] for r in runs), sum(r[1] for r in runs)
    bn, bseconds = sum(r[2] for r in runs), sum(r[3] for r in runs)
    rate, base_rate = n / seconds, bn / bseconds
    print(f"groundswell ingest: {n} items in {seconds:.1f} s over {len(runs)} rounds")
    print(f"groundswell: {rate:,.0f} items/s")
    print(f"groundswell, one process (the poll path): {sn / sseconds:,.0f} items/s")
    print(f"baseline (SQLite defaults, one transaction per row): {base_rate:,.0f} items/s")
    print(f"ratio: {rate / base_rate:.1f}x")


if __name__ == "__main__":
    main()
