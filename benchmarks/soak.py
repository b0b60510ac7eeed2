"""Soak test: the real service at ≥ 10x a realistic load, against loopback fakes only.

Default: 20 brands × (4 search source types × 2 instances) + 40 feeds = 200 source×brand pairs,
50 posts/s published, for 10 minutes, polled every 30 s, with the model, scoring, alerting and a
signed webhook. At the end it checks, against what the fakes served, that no post and no alert
was lost, and reports throughput, p95 time from publication to delivered alert, peak RSS and its
growth after warm-up, archive growth, and errors.

    python benchmarks/soak.py [--minutes 10] [--rate 50] [--brands 20] [--poll 30s]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tqdm import tqdm

from monitor.config import parse_config
from monitor.demo_script import Scenario, ScriptedPost
from monitor.fakes import FakeSources, SimulatedClock
from monitor.mailbox import WebhookLog
from monitor.records import parse_iso
from monitor.service import Service
from monitor.store import Store

SOURCES = ("reddit", "mastodon", "bluesky", "hackernews")
TEXTS = {
    "en": [
        "Flew {b} today, all fine",
        "{b} app keeps logging me out",
        "Nice crew on {b} this morning",
        "Is {b} check-in open yet?",
        "{b} lounge coffee is great",
    ],
    "de": ["Mit {b} nach Berlin, alles pünktlich", "{b} Hotline ist heute schwer erreichbar"],
    "pl": ["Lot {b} bez opóźnień", "{b} zmienił bramkę, trochę chaosu"],
    "es": ["Vuelo con {b} sin problemas", "{b} me cambió el asiento sin avisar"],
}
ANGRY = (
    "{b} destroyed my wheelchair at the gate, refused any refund and told me to contact their lawyers. "
    "Three weeks without it. Never flying {b} again, going to the press."
)


def rss_kib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    return 0.0


def build_load(
    start: datetime, minutes: float, rate: float, brands: list[str], seed: int
) -> Scenario:
    rng = random.Random(seed)
    posts: list[ScriptedPost] = []
    total = int(minutes * 60 * rate)
    for n in range(total):
        at = start + timedelta(seconds=n / rate)
        brand = rng.choice(brands)
        source = rng.choice((*SOURCES, "news")) if n % 50 else "news"
        lang = rng.choice(list(TEXTS))
        text = rng.choice(TEXTS[lang]).format(b=brand)
        posts.append(
            ScriptedPost(
                f"p{n}",
                source,
                at,
                f"user{n % 5000}",
                text,
                title=text[:60] if source == "news" else "",
                lang=lang,
                followers=rng.randint(10, 5000),
                final_likes=rng.randint(0, 30),
                final_shares=rng.randint(0, 5),
                final_comments=rng.randint(0, 5),
                midpoint_hours=0.05,
                spread_hours=0.02,
                url=f"https://news.example/{n}",
            )
        )
    # A few harmful complaints that take off within minutes: each should alert.
    for k in range(max(1, int(minutes // 2))):
        at = start + timedelta(minutes=1 + k * 2)
        brand = brands[k % len(brands)]
        posts.append(
            ScriptedPost(
                f"angry{k}",
                SOURCES[k % 3],
                at,
                f"angry_customer{k}",
                ANGRY.format(b=brand),
                followers=20000,
                final_likes=20000,
                final_shares=5000,
                final_comments=3000,
                midpoint_hours=0.1,
                spread_hours=0.04,
                role="ubg",
            )
        )
    return Scenario(
        start,
        start + timedelta(minutes=minutes),
        tuple(sorted(posts, key=lambda p: p.published_at)),
    )


def soak_config(urls: dict[str, str], brands: list[str], poll: str, webhook: str) -> dict:
    sources = [
        {"name": f"feed-{i}", "type": "rss", "interval": poll, "params": {"url": urls["news"]}}
        for i in range(40)
    ]
    for instance in range(2):
        sources += [
            {
                "name": f"reddit-{instance}",
                "type": "reddit",
                "interval": poll,
                "params": {
                    "client_id_env": "DEMO_REDDIT_CLIENT_ID",
                    "client_secret_env": "DEMO_REDDIT_CLIENT_SECRET",
                    "api_url": urls["reddit_api"],
                    "token_url": urls["reddit_token"],
                    "web_url": urls["reddit_web"],
                    "user_agent": "soak:groundswell:1.0 (by /u/groundswell)",
                },
            },
            {
                "name": f"mastodon-{instance}",
                "type": "mastodon",
                "interval": poll,
                "params": {"servers": [urls["mastodon"]]},
            },
            {
                "name": f"bluesky-{instance}",
                "type": "bluesky",
                "interval": poll,
                "params": {
                    "handle_env": "DEMO_BSKY_HANDLE",
                    "app_password_env": "DEMO_BSKY_APP_PASSWORD",
                    "service": urls["bluesky"],
                },
            },
            {
                "name": f"hn-{instance}",
                "type": "hackernews",
                "interval": poll,
                "params": {"api_url": urls["hn_api"], "item_api_url": urls["hn_items"]},
            },
        ]
    return {
        "brands": [{"name": b, "query": f'"{b}"'} for b in brands],
        "sources": sources,
        "scheduler": {
            "process_interval": "10s",
            "repoll_interval": "30s",
            "disabled": ["retention", "digest", "anchor", "optimize"],
        },
        "alerts": {
            "route": {"receiver": "pr", "group_wait": "0s", "group_interval": "5m"},
            "receivers": [
                {"name": "pr", "webhooks": [{"url": webhook, "secret_env": "DEMO_WEBHOOK_SECRET"}]}
            ],
        },
    }


def main() -> None:
    from monitor.demo import DEMO_ENV

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=50.0, help="posts published per second")
    parser.add_argument("--brands", type=int, default=20)
    parser.add_argument("--poll", default="30s")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    os.environ.update({k: v for k, v in DEMO_ENV.items() if k not in os.environ})
    brands = [f"Brand{chr(65 + i % 26)}{i // 26 or ''} Air" for i in range(args.brands)]
    start = datetime.now(UTC)
    scenario = build_load(start, args.minutes, args.rate, brands, args.seed)
    clock = SimulatedClock(start, 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "soak.db")
        with (
            WebhookLog(Path(tmp) / "hooks.jsonl", DEMO_ENV["DEMO_WEBHOOK_SECRET"]) as webhook,
            FakeSources(scenario, clock) as fakes,
        ):
            config = parse_config(soak_config(fakes.urls, brands, args.poll, webhook.url), "<soak>")
            pairs = sum(1 for s in config.sources if s.type == "rss") + sum(
                len(brands) for s in config.sources if s.type != "rss"
            )
            service = Service(config, db, clock=clock)
            service.ctx.classifier()  # load the model before the clock starts
            clock.restart()
            samples: list[tuple[float, float]] = []
            started = time.perf_counter()
            service.start()
            stop = threading.Event()
            with tqdm(total=round(args.minutes * 60), unit="s", desc="soak") as bar:
                while (elapsed := time.perf_counter() - started) < args.minutes * 60:
                    stop.wait(5)
                    samples.append((elapsed, rss_kib()))
                    bar.update(round(elapsed) - bar.n)
            # Let the last polls and alerts finish, then stop and flush.
            drain_until = time.perf_counter() + 90
            while time.perf_counter() < drain_until and not stop.wait(5):
                with Store.open(db) as store:
                    pending = store.conn.execute(
                        "SELECT count(*) FROM outbox WHERE status = 'pending'"
                    ).fetchone()[0]
                if pending == 0 and time.perf_counter() - started > args.minutes * 60 + 45:
                    break
            service.stop()
            wall = time.perf_counter() - started
            with Store.open(db) as store:
                posts = store.count("posts")
                outbox = dict(
                    store.conn.execute(
                        "SELECT status, count(*) FROM outbox GROUP BY status"
                    ).fetchall()
                )
                errors = store.conn.execute(
                    "SELECT coalesce(sum(failures), 0) FROM stage_runs"
                ).fetchone()[0]
                alerts = store.count("alerts")
            db_size = sum(p.stat().st_size for p in Path(tmp).glob("soak.db*"))
        served = sum(len(v) for v in fakes.served.values())
        served_keys = {k for keys in fakes.served.values() for k in keys}
        lost = len(served_keys) - min(len(served_keys), posts)
        latencies = []
        angry = {p.key: p for p in scenario.posts if p.role == "ubg"}
        other_alerts = 0
        for payload, received in zip(webhook.payloads, webhook.arrivals, strict=True):
            if payload.get("type") != "alert.fired":
                continue
            post = payload.get("post") or {}
            if "wheelchair" in f"{post.get('title')} {post.get('excerpt')}" and post.get(
                "published_at"
            ):
                latencies.append((received - parse_iso(post["published_at"])).total_seconds())
            else:
                other_alerts += 1
    warm = [kib for t, kib in samples if t > 120]
    growth = (
        (statistics.mean(warm[-6:]) / statistics.mean(warm[:6]) - 1) * 100
        if len(warm) >= 12
        else float("nan")
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    published = len(scenario.posts)
    p95 = (
        statistics.quantiles(latencies, n=20)[-1]
        if len(latencies) >= 2
        else (latencies[0] if latencies else float("nan"))
    )
    print(f"source×brand pairs: {pairs}")
    print(
        f"published: {published} posts in {args.minutes:g} min ({published / (args.minutes * 60):.1f} posts/s offered)"
    )
    print(f"served by the fakes: {len(served_keys)} distinct posts ({served} hand-outs)")
    print(f"stored: {posts} posts; lost: {lost}")
    print(f"throughput: {posts / wall:.1f} posts/s stored")
    print(f"alerts: {alerts} threads; outbox {outbox}; harmful posts scripted: {len(angry)}")
    print(f"webhook deliveries: {len(webhook.payloads)}; bad signatures: {webhook.bad_signatures}")
    print(
        f"time to alert (published → delivered): p95 {p95:.1f} s over {len(latencies)} deliveries"
    )
    print(f"peak RSS: {peak:.0f} MiB; RSS growth after warm-up: {growth:.1f} %")
    print(f"archive size: {db_size / 2**20:.1f} MiB")
    print(f"stage failures: {errors}")
    print(f"stored/published ratio: {posts / published:.2f}x")


if __name__ == "__main__":
    main()
