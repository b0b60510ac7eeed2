"""Alert path throughput and latency: risk events → rules → routing → grouping → outbox → a
signed JSON webhook on 127.0.0.1.

Scoring is simulated by batches of :class:`RiskEvent` stamped with the wall clock when they are
"scored"; each batch goes through ``AlertEngine.process`` and ``deliver_pending`` exactly as the
service runs them. The webhook receiver records when each delivery arrives, so latency is
measured from score to delivered (per notification, from the oldest event it reports).
``group_wait`` and ``group_interval`` are 0 here, so no configured wait is hidden in the figures.

Baseline, same run: one transaction and one new HTTP connection per event, no grouping.

    python benchmarks/bench_alerts.py [--events 10000] [--stories 2000] [--batch 100]
                                      [--baseline-events 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.channels import sign_payload  # noqa: E402
from alerts.delivery import Deliverer  # noqa: E402
from alerts.engine import AlertEngine  # noqa: E402
from monitor.config import parse_config  # noqa: E402
from monitor.events import RiskEvent  # noqa: E402
from monitor.loopback import LoopbackServer, Reply, Request  # noqa: E402
from monitor.records import parse_iso, utcnow  # noqa: E402
from monitor.store import Store  # noqa: E402

SECRET = "bench-secret"
BRANDS = ("Acme", "Globex", "Initech")
SOURCES = ("rss", "reddit", "mastodon", "bluesky", "hackernews", "news", "youtube")
LANGS = ("en", "en", "en", "de", "fr", "es")


def make_events(count: int, stories: int, seed: int = 7) -> list[tuple[str, str, str, str, str]]:
    """(brand, story, post_id, source, lang) in arrival order: stories spread over time."""
    rng = random.Random(seed)
    items = []
    for index in range(count):
        story = rng.randrange(stories)
        items.append(
            (
                BRANDS[story % len(BRANDS)],
                f"story-{story}",
                f"{rng.choice(SOURCES)}:{index}",
                rng.choice(SOURCES),
                rng.choice(LANGS),
            )
        )
    return items


def scored(item: tuple[str, str, str, str, str], rng: random.Random) -> RiskEvent:
    brand, story, post_id, source, lang = item
    risk = rng.random()
    severity = "critical" if risk > 0.9 else "warning"
    return RiskEvent(
        kind="story",
        brand=brand,
        post_id=post_id,
        at=utcnow(),  # the moment scoring produced it
        risk=max(risk, 0.3),
        severity=severity,
        reasons=(f"negative complaint p={risk:.2f}", "engagement rising"),
        story_id=story,
        source=source,
        lang=lang,
        cues=("refund",) if risk > 0.5 else (),
        extra_labels=MappingProxyType({}),
    )


def serve_receiver() -> None:
    """Child-process mode: the webhook receiver, in its own interpreter like a real endpoint."""
    arrived: dict[str, float] = {}
    lock = threading.Lock()

    def hook(request: Request) -> Reply:
        key = request.headers.get("idempotency-key", "")
        with lock:
            arrived[key] = time.time()  # keys repeat across the two runs: keep the latest
        # An empty body: one write per reply (a second small write would meet Nagle + delayed
        # ACK on this small server, which real receivers avoid with TCP_NODELAY).
        return Reply(200, b"", etag=False)

    def dump(request: Request) -> Reply:
        with lock:
            return Reply(200, json.dumps(arrived).encode(), etag=False)

    with LoopbackServer({"/hook": hook, "/arrivals": dump}) as server:
        print(server.port, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


class Receiver:
    """The local webhook in a child process; records arrival time per idempotency key."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def arrivals(self) -> dict[str, float]:
        response = httpx.get(self.url("/arrivals"), timeout=30.0)
        return {key: float(value) for key, value in response.json().items()}

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_config(receiver: Receiver) -> Any:
    return parse_config(
        {
            "alerts": {
                "route": {"receiver": "pr-oncall", "group_wait": "0s", "group_interval": "0s"},
                "receivers": [
                    {
                        "name": "pr-oncall",
                        "webhooks": [{"url": receiver.url("/hook"), "secret_env": "BENCH_SECRET"}],
                    }
                ],
                "workers": 4,
                "batch_size": 500,
            }
        },
        validate_sources=False,
    )


def run_engine(items: list, batch: int, workdir: Path, receiver: Receiver) -> dict[str, float]:
    config = bench_config(receiver)
    environ = {"BENCH_SECRET": SECRET}
    rng = random.Random(11)
    with Store.open(workdir / "engine.db") as store, Deliverer(config, environ) as deliverer:
        engine = AlertEngine(config, store)
        start = time.perf_counter()
        for offset in range(0, len(items), batch):
            events = [scored(item, rng) for item in items[offset : offset + batch]]
            engine.process(events)
            report = deliverer.deliver(store, utcnow())
            if report.failed:
                raise SystemExit(f"delivery failed: {report.errors[:3]}")
        elapsed = time.perf_counter() - start
        rows = store.conn.execute(
            "SELECT idempotency_key, event_at FROM outbox WHERE status = 'sent'"
        ).fetchall()
        pending = store.count("outbox") - len(rows)
    arrived = receiver.arrivals()
    latencies = [
        arrived[key] - parse_iso(event_at).timestamp() for key, event_at in rows if key in arrived
    ]
    return {
        "elapsed": elapsed,
        "notifications": len(rows),
        "pending": pending,
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "events_per_s": len(items) / elapsed,
    }


def run_naive(items: list, workdir: Path, receiver: Receiver) -> dict[str, float]:
    """The same engine and messages, but one transaction per event and one new HTTP connection
    per notification, sent one at a time (no batching, no keep-alive, no concurrency)."""
    config = bench_config(receiver)
    rng = random.Random(11)
    with Store.open(workdir / "naive.db") as store:
        engine = AlertEngine(config, store)
        start = time.perf_counter()
        for item in items:
            engine.process([scored(item, rng)])  # one transaction per event
            due = store.conn.execute(
                "SELECT id, idempotency_key, payload FROM outbox WHERE status = 'pending'"
            ).fetchall()
            for item_id, key, payload in due:
                body = json.dumps(json.loads(payload)["data"], sort_keys=True).encode()
                stamp = str(int(time.time()))
                connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5.0)
                try:
                    connection.request(
                        "POST",
                        "/hook",
                        body=body,
                        headers={
                            "Content-Type": "application/json",
                            "Idempotency-Key": key,
                            "X-Groundswell-Timestamp": stamp,
                            "X-Groundswell-Signature": sign_payload(SECRET, stamp, body),
                        },
                    )
                    connection.getresponse().read()
                finally:
                    connection.close()
                with store.transaction() as conn:
                    conn.execute("UPDATE outbox SET status = 'sent' WHERE id = ?", (item_id,))
        elapsed = time.perf_counter() - start
        rows = store.conn.execute(
            "SELECT idempotency_key, event_at FROM outbox WHERE status = 'sent'"
        ).fetchall()
    arrived = receiver.arrivals()
    latencies = [
        arrived[key] - parse_iso(event_at).timestamp() for key, event_at in rows if key in arrived
    ]
    return {
        "elapsed": elapsed,
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "events_per_s": len(items) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--stories", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=100, help="events per scoring batch")
    parser.add_argument("--baseline-events", type=int, default=1_000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_receiver()
        return

    items = make_events(args.events, args.stories)
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            ours = run_engine(items, args.batch, workdir, receiver)
            naive = run_naive(items[: args.baseline_events], workdir, receiver)
    finally:
        receiver.close()

    print(f"started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"{args.events} risk events on {args.stories} stories, batches of {args.batch}, "
        "group_wait 0 s, group_interval 0 s, signed webhook on 127.0.0.1"
    )
    print(f"notifications delivered: {ours['notifications']} (pending {ours['pending']})")
    print(f"engine events/s: {ours['events_per_s']:.0f} items/s")
    print(f"engine score→delivered p50 {ours['p50'] * 1000:.1f} ms")
    print(f"engine score→delivered p95 {ours['p95'] * 1000:.1f} ms")
    print(f"engine total: {ours['elapsed']:.2f} s")
    print("naive = same engine, one transaction per event, one new connection per notification")
    print(f"naive ({args.baseline_events} events) events/s: {naive['events_per_s']:.0f} items/s")
    print(f"naive score→delivered p50 {naive['p50'] * 1000:.1f} ms")
    print(f"naive score→delivered p95 {naive['p95'] * 1000:.1f} ms")
    print(f"throughput vs naive: {ours['events_per_s'] / naive['events_per_s']:.1f}x")
    target = "met" if ours["p95"] < 2.0 else "MISSED"
    print(f"target p95 < 2 s: {target}")


if __name__ == "__main__":
    main()
