"""Soak test: the real service at ≥ 10x a realistic load, against loopback fakes only.

Default: 20 brands × (4 search source types × 2 instances) + 40 feeds = 200 source×brand pairs,
50 posts/s published, for 10 minutes, polled every 30 s, with the model, scoring, alerting and a
signed webhook; one harmful complaint that takes off is published every minute. The fake sources
run in a child process (like remote APIs, they do not share the service's interpreter) and record
exactly which posts they handed out. At the end it checks, post by post against what the fakes
served, that no post and no alert was lost, and reports throughput, the lag of each stage, p95
time from publication to delivered alert, peak RSS and its growth after warm-up, archive growth,
errors, and how long the graceful stop took.

    python benchmarks/soak.py [--minutes 10] [--rate 50] [--brands 20] [--poll 30s]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import logging
import multiprocessing
import os
import random
import re
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tqdm import tqdm

from monitor.config import parse_config, parse_interval
from monitor.demo_script import Scenario, ScriptedPost
from monitor.fakes import FakeSources, SimulatedClock, _flat, _json, _terms
from monitor.loopback import Reply, Request
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
FEED_WINDOW = 1000  # items a news feed lists (real feeds list their latest items only)


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
    # Harmful complaints that take off within minutes, one a minute: each must alert.
    for k in range(max(1, int(minutes))):
        at = start + timedelta(minutes=0.5 + k)
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


class SoakFakes(FakeSources):
    """The demo's fakes, made cheap enough to serve 50 posts/s, recording what they hand out.

    Visible posts are found by bisection in per-source (and per-query) lists in publication
    order instead of a scan of the whole script per request; ``handed`` records every post
    that went into a response body, so losses are checked against what was really served.
    """

    def __init__(self, scenario: Scenario, clock: SimulatedClock):
        super().__init__(scenario, clock)
        self.handed: dict[str, set[str]] = {}
        self._lists: dict[tuple[str, tuple[str, ...]], tuple[list[float], list[ScriptedPost]]] = {}
        self._by_source: dict[str, list[ScriptedPost]] = {}
        for post in scenario.posts:  # already in publication order
            self._by_source.setdefault(post.source, []).append(post)
        self._handles: dict[str, ScriptedPost] = {}
        for post in scenario.posts:
            if post.source == "bluesky":
                handle = post.author if "." in post.author else f"{post.author}.bsky.social"
                self._handles.setdefault(handle, post)
        self._lock = threading.Lock()

    def _hand(self, source: str, post: ScriptedPost) -> None:
        with self._lock:
            self.handed.setdefault(source, set()).add(post.key)

    def _visible(self, source: str, query: str | None = None) -> list[ScriptedPost]:
        terms = tuple(_terms(query)) if query else ()
        key = (source, terms)
        if key not in self._lists:
            posts = [
                p
                for p in self._by_source.get(source, [])
                if not terms or any(t in _flat(p) for t in terms)
            ]
            self._lists[key] = ([p.published_at.timestamp() for p in posts], posts)
        times, posts = self._lists[key]
        upto = bisect.bisect_right(times, self.clock().timestamp())
        first = max(0, upto - FEED_WINDOW) if source == "news" else 0
        visible = posts[first:upto][::-1]
        if source == "news":
            for post in visible:
                self._hand("news", post)
        return visible

    def _reddit_thing(self, post: ScriptedPost) -> dict[str, Any]:
        self._hand("reddit", post)
        return super()._reddit_thing(post)

    def _status(self, post: ScriptedPost) -> dict[str, Any]:
        self._hand("mastodon", post)
        return super()._status(post)

    def _bsky_view(self, post: ScriptedPost) -> dict[str, Any]:
        self._hand("bluesky", post)
        return super()._bsky_view(post)

    def _hn_hit(self, post: ScriptedPost) -> dict[str, Any]:
        self._hand("hackernews", post)
        return super()._hn_hit(post)

    def _by_number(self, number: int) -> ScriptedPost | None:
        key = self.ids.by_number.get(number)
        post = self.posts.get(key) if key else None
        return post if post is not None and post.published_at <= self.clock() else None

    def _reddit_info(self, request: Request) -> Reply:
        found = []
        for name in ",".join(request.query.get("id", [])).split(","):
            match = re.fullmatch(r"t3_d([0-9a-f]+)", name.strip())
            post = self._by_number(int(match.group(1), 16)) if match else None
            if post is not None:
                found.append(post)
        return self._reddit_listing(found)

    def _bsky_get_posts(self, request: Request) -> Reply:
        views = []
        for uri in request.query.get("uris", []):
            match = re.search(r"/3l([0-9a-f]+)$", uri)
            post = self._by_number(int(match.group(1), 16)) if match else None
            if post is not None:
                views.append(self._bsky_view(post))
        return _json({"posts": [v for v in views if v["uri"] in request.query.get("uris", [])]})

    def _bsky_profiles(self, request: Request) -> Reply:
        profiles = []
        for handle in request.query.get("actors", []):
            post = self._handles.get(unquote(handle))
            if post is not None and post.published_at <= self.clock():
                view = FakeSources._bsky_view(self, post)
                profiles.append(
                    {
                        "handle": handle,
                        "did": view["author"]["did"],
                        "followersCount": post.followers,
                    }
                )
        return _json({"profiles": profiles})


def _serve_fakes(scenario: Scenario, conn: Connection) -> None:
    """Child process: serve the fakes until asked for what they handed out."""
    clock = SimulatedClock(scenario.start, 1.0)
    fakes = SoakFakes(scenario, clock)
    with fakes:
        conn.send(fakes.urls)
        conn.recv()  # "go": the service is ready, the scenario starts now
        clock.restart()
        conn.send("started")
        conn.recv()  # "report"
        conn.send(
            (
                {source: sorted(keys) for source, keys in fakes.handed.items()},
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            )
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


def _stored_keys(store: Store, numbers: dict[int, str]) -> dict[str, str]:
    """Scripted key → stored post id, recognised from the ids the fakes put in each post."""
    found: dict[str, str] = {}
    for post_id, native_id, url in store.conn.execute("SELECT id, native_id, url FROM posts"):
        text = f"{post_id} {native_id} {url}"
        keys = re.findall(r"\b(?:p|angry)\d+\b", native_id or "")
        keys += [numbers.get(int(n), "") for n in re.findall(r"\b1\d{11}\b", text)]
        keys += [numbers.get(int(h, 16), "") for h in re.findall(r"(?:t3_d|/3l)([0-9a-f]+)", text)]
        if not any(keys) and url and (match := re.fullmatch(r"https://news\.example/(\d+)", url)):
            keys.append(f"p{match.group(1)}")
        for key in keys:
            if key:
                found[key] = post_id
    return found


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _lags(store: Store, sql: str) -> list[float]:
    return [
        (parse_iso(b) - parse_iso(a)).total_seconds() for a, b in store.conn.execute(sql) if a and b
    ]


class _ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            cause = record.exc_info[1] if record.exc_info else None
            detail = f": {type(cause).__name__}: {cause}" if cause else ""
            self.first.append(f"{record.getMessage()}{detail}"[:200])


def _trail(store: Store, post_id: str) -> list[str]:
    """A harmful post's way through the pipeline: assessment, scores, alert events."""
    lines = [
        f"post {post_id}, assessments: "
        + str(
            store.conn.execute(
                "SELECT count(*) FROM assessments WHERE post_id = ?", (post_id,)
            ).fetchone()[0]
        )
    ]
    lines += [
        f"score {at} {brand} {kind} {risk:.3f} {severity}"
        for at, brand, kind, risk, severity in store.conn.execute(
            "SELECT at, brand, kind, risk, severity FROM risk_scores WHERE post_id = ? ORDER BY at",
            (post_id,),
        )
    ]
    lines += [
        f"alert event {at} {kind} alert {alert_id} {detail}"
        for at, kind, alert_id, detail in store.conn.execute(
            "SELECT at, kind, alert_id, detail FROM alert_events WHERE post_id = ? ORDER BY at",
            (post_id,),
        )
    ]
    return lines


def main() -> None:
    from monitor.demo import DEMO_ENV

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=50.0, help="posts published per second")
    parser.add_argument("--brands", type=int, default=20)
    parser.add_argument("--poll", default="30s")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--drain", type=float, default=120.0, help="max seconds to drain at the end"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="copy the archive and the webhook log into this folder at the end (to inspect a loss)",
    )
    args = parser.parse_args()
    os.environ.update({k: v for k, v in DEMO_ENV.items() if k not in os.environ})
    # APScheduler's own warnings (a run skipped at max instances, a misfire) are expected under
    # this load and would drown the report; errors still count.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    errors_logged = _ErrorCount()
    logging.getLogger().addHandler(errors_logged)
    poll_seconds = parse_interval(args.poll)
    brands = [f"Brand{chr(65 + i % 26)}{i // 26 or ''} Air" for i in range(args.brands)]
    start = datetime.now(UTC)
    scenario = build_load(start, args.minutes, args.rate, brands, args.seed)
    numbers = {
        110_000_000_000 + n * 1000: p.key for n, p in enumerate(scenario.posts)
    }  # as the fakes number them
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve_fakes, args=(scenario, theirs), name="soak-fakes")
    child.start()
    urls = ours.recv()
    clock = SimulatedClock(start, 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "soak.db")
        with WebhookLog(Path(tmp) / "hooks.jsonl", DEMO_ENV["DEMO_WEBHOOK_SECRET"]) as webhook:
            config = parse_config(soak_config(urls, brands, args.poll, webhook.url), "<soak>")
            pairs = sum(1 for s in config.sources if s.type == "rss") + sum(
                len(brands) for s in config.sources if s.type != "rss"
            )
            timings: dict[str, list[float]] = {}

            def on_result(job_id: str, result: Any) -> None:
                parts = result.data if job_id == "process" and result.data else [result]
                for part in parts:
                    stage = "collect" if job_id.startswith("collect:") else part.stage
                    timings.setdefault(stage, []).append(part.seconds)

            service = Service(config, db, clock=clock, on_result=on_result)
            service.ctx.classifier()  # load the model before the clock starts
            ours.send("go")
            ours.recv()
            clock.restart()
            # The webhook log stamps arrivals with the wall clock; scenario time started here.
            offset = datetime.now(UTC) - start
            samples: list[tuple[float, float]] = []
            sizes: list[tuple[float, int]] = []
            started = time.perf_counter()
            service.start()
            stop = threading.Event()

            def archive_size() -> int:
                total = 0
                for part in Path(tmp).glob("soak.db*"):
                    # -shm/-wal come and go with connections
                    with contextlib.suppress(FileNotFoundError):
                        total += part.stat().st_size
                return total

            with tqdm(total=round(args.minutes * 60), unit="s", desc="soak") as bar:
                while (elapsed := time.perf_counter() - started) < args.minutes * 60:
                    stop.wait(5)
                    samples.append((elapsed, rss_kib()))
                    sizes.append((elapsed, archive_size()))
                    bar.update(min(round(elapsed), bar.total) - bar.n)
            # Publishing has ended: let the last polls, scores and alerts finish.
            load_end = time.perf_counter()
            drained_after: float | None = None
            while time.perf_counter() - load_end < args.drain and not stop.wait(5):
                samples.append((time.perf_counter() - started, rss_kib()))
                with Store.open(db, readonly=True) as store:
                    backlog = store.conn.execute(
                        "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending') + "
                        "(SELECT count(*) FROM post_brands pb WHERE NOT EXISTS "
                        " (SELECT 1 FROM risk_scores r WHERE r.post_id = pb.post_id))"
                    ).fetchone()[0]
                if backlog == 0 and time.perf_counter() - load_end > poll_seconds * 1.5:
                    drained_after = time.perf_counter() - load_end
                    break
            # Graceful stop, bounded: a stop that hangs is reported, not waited for forever.
            # The fakes keep serving until the service has stopped polling them.
            stop_started = time.perf_counter()
            stopper = threading.Thread(target=service.stop, name="soak-stop", daemon=True)
            stopper.start()
            stopper.join(timeout=180)
            stop_seconds = time.perf_counter() - stop_started
            stopped = not stopper.is_alive()
            ours.send("report")
            handed, fakes_peak = ours.recv()
            child.join(timeout=30)
            wall = time.perf_counter() - started
            with Store.open(db, readonly=True) as store:
                posts = store.count("posts")
                stored = _stored_keys(store, numbers)
                classified = store.conn.execute(
                    "SELECT count(DISTINCT post_id) FROM assessments"
                ).fetchone()[0]
                mentions = store.count("post_brands")
                scored = store.conn.execute(
                    "SELECT count(*) FROM post_brands pb WHERE EXISTS "
                    "(SELECT 1 FROM risk_scores r WHERE r.post_id = pb.post_id "
                    "AND r.brand = pb.brand)"
                ).fetchone()[0]
                rescored = store.count("risk_scores")
                outbox = dict(
                    store.conn.execute(
                        "SELECT status, count(*) FROM outbox GROUP BY status"
                    ).fetchall()
                )
                runs, failures = store.conn.execute(
                    "SELECT coalesce(sum(runs), 0), coalesce(sum(failures), 0) FROM stage_runs"
                ).fetchone()
                failing = store.conn.execute(
                    "SELECT stage, failures, last_error FROM stage_runs WHERE failures > 0 "
                    "ORDER BY failures DESC LIMIT 5"
                ).fetchall()
                alerts = store.count("alerts")
                collect_lag = _lags(store, "SELECT published_at, first_seen_at FROM posts")
                score_lag = _lags(
                    store,
                    "SELECT p.first_seen_at, (SELECT min(r.at) FROM risk_scores r "
                    "WHERE r.post_id = p.id) FROM posts p",
                )
                harmful_trail = {
                    p.key: _trail(store, stored[p.key])
                    for p in scenario.posts
                    if p.role == "ubg" and p.key in stored
                }
            db_size = archive_size()
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                for item in Path(tmp).iterdir():
                    if item.is_file():
                        shutil.copy2(item, args.keep / item.name)
                print(f"archive and webhook log kept in {args.keep}", file=sys.stderr)
    served = {key for keys in handed.values() for key in keys}
    lost_posts = sorted(served - set(stored), key=lambda k: int(re.sub(r"\D", "", k) or 0))
    angry = {p.key: p for p in scenario.posts if p.role == "ubg"}
    first_alert: dict[str, float] = {}
    other_alerts = 0
    by_id = {post_id: key for key, post_id in stored.items()}
    for payload, received in zip(webhook.payloads, webhook.arrivals, strict=True):
        kind = str(payload.get("type") or "")
        if not kind.startswith("alert."):
            continue
        post = payload.get("post") or {}
        key = by_id.get(str(post.get("id")))
        if key is None and (match := re.search(r"angry_customer(\d+)", str(post.get("author")))):
            key = f"angry{match.group(1)}"
        if key in angry:
            lag = (received - offset - angry[key].published_at).total_seconds()
            first_alert[key] = min(lag, first_alert.get(key, lag))
        elif kind == "alert.fired":
            other_alerts += 1
    served_angry = sorted(k for k in angry if k in served)
    lost_alerts = [k for k in served_angry if k not in first_alert]
    latencies = [first_alert[k] for k in served_angry if k in first_alert]
    warm = [kib for t, kib in samples if 120 < t <= args.minutes * 60]
    growth = (
        (statistics.mean(warm[-6:]) / statistics.mean(warm[:6]) - 1) * 100
        if len(warm) >= 12
        else float("nan")
    )
    warm_sizes = [(t, size) for t, size in sizes if t > 120]
    size_rate = (
        (warm_sizes[-1][1] - warm_sizes[0][1])
        / 2**20
        / ((warm_sizes[-1][0] - warm_sizes[0][0]) / 60)
        if len(warm_sizes) >= 2
        else float("nan")
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    published = len(scenario.posts)
    p95 = _quantile(latencies, 0.95)
    target = 60 + poll_seconds
    print(f"source×brand pairs: {pairs}")
    print(
        f"published: {published} posts in {args.minutes:g} min "
        f"({published / (args.minutes * 60):.1f} posts/s offered)"
    )
    print(f"served by the fakes: {len(served)} distinct posts")
    print(f"stored: {posts} posts; served but not stored (lost): {len(lost_posts)}")
    if lost_posts:
        print(f"  first lost: {', '.join(lost_posts[:10])}")
    print(
        f"never served (published after the last poll or past a feed window): {published - len(served)}"
    )
    print(f"throughput: {posts / wall:.1f} posts/s stored over {wall:.0f} s")
    print(
        f"collect lag (published → stored): p50 {_quantile(collect_lag, 0.5):.1f} s, p95 {_quantile(collect_lag, 0.95):.1f} s"
    )
    print(f"classified: {classified} posts")
    print(f"scored: {scored} of {mentions} brand mentions ({rescored} scores incl. rescoring)")
    print(
        f"score lag (stored → first score): p50 {_quantile(score_lag, 0.5):.1f} s, p95 {_quantile(score_lag, 0.95):.1f} s"
    )
    print(f"alerts: {alerts} threads; outbox {outbox}")
    print(f"webhook deliveries: {len(webhook.payloads)}; bad signatures: {webhook.bad_signatures}")
    print(
        f"harmful posts: {len(angry)} scripted, {len(served_angry)} served, "
        f"{len(latencies)} alerted, lost alerts: {len(lost_alerts)}"
        + (f" ({', '.join(lost_alerts)})" if lost_alerts else "")
    )
    for key in lost_alerts:  # what the archive says about each miss
        for line in harmful_trail.get(key, ["not in the archive"]):
            print(f"  {key}: {line}")
    print(
        f"time to alert (published → delivered): p50 {_quantile(latencies, 0.5):.1f} s, "
        f"p95 {p95:.1f} s, max {max(latencies, default=float('nan')):.1f} s "
        f"(target < {target:.0f} s: {'met' if p95 < target else 'missed'})"
    )
    print(f"other alert deliveries: {other_alerts}")
    print(f"peak RSS: {peak:.0f} MiB (service process); fakes process {fakes_peak:.0f} MiB")
    print(f"RSS growth after warm-up: {growth:.1f} %")
    print(
        f"archive size: {db_size / 2**20:.1f} MiB at the end; "
        f"growth after warm-up {size_rate:.1f} MiB/min"
    )
    print(f"stage runs: {runs}; stage failures: {failures}; errors logged: {errors_logged.count}")
    for stage, count, error in failing:
        print(f"  {stage}: {count} failure(s), last: {(error or '')[:160]}")
    for message in errors_logged.first:
        print(f"  logged: {message}")
    for stage, values in sorted(timings.items()):
        print(
            f"stage {stage}: {len(values)} runs, p50 {_quantile(values, 0.5):.2f} s, "
            f"p95 {_quantile(values, 0.95):.2f} s, max {max(values):.2f} s, "
            f"busy {sum(values):.0f} s"
        )
    print(
        f"drained after the load ended: {drained_after:.0f} s"
        if drained_after is not None
        else f"not drained within {args.drain:.0f} s after the load ended"
    )
    print(f"graceful stop: {stop_seconds:.1f} s" + ("" if stopped else " (still running: gave up)"))
    print(f"stored/published ratio: {posts / published:.2f}x")
    if not stopped:  # do not hang at exit on worker threads that never finished
        sys.stdout.flush()
        os._exit(1)


if __name__ == "__main__":
    main()
