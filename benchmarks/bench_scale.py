"""Scale-out: the same workload on 1, 2 and 4 queue workers vs the single-process path.

Workload: ``--brands`` brands × ``--sources`` Google News sources on loopback fakes (each answer
after 20–50 ms, ``--items`` new items per request), then classification with the default model,
risk scoring and the alert engine. Every post is collected, assessed and scored exactly once.

1. Baseline: the single-process SQLite path, as ``groundswell run`` chains it — the collect stage
   (every source × brand, concurrently) then ``process`` (classify → score → alert → deliver)
   until nothing is left.
2. Queue: ``groundswell worker`` processes (1, 2, 4) on a PostgreSQL queue and one SQLite archive
   (WAL); every source × brand is enqueued as a collect job, which chains classify jobs for its
   new posts, then score/alert. Timed from enqueueing to an empty queue.

Workers load the model before they register, and the baseline loads it before its clock starts,
so no run pays for loading. Torch threads: the baseline uses every core; N workers use
cores / N each (one worker per core is the recommended layout).

Reports posts/s for each run, the scaling ratio against 1 worker, per-worker throughput against
the single process, and the archive's bytes per post (for the capacity plan in docs/scaling.md).

    flock /tmp/gs-bench.lock python benchmarks/bench_scale.py [--brands 20 --sources 5 --items 20]
    [--workers 1,2,4] [--dsn postgresql://...]   # default: a throwaway local PostgreSQL
    [--archive postgresql]                       # the workers' archive in PostgreSQL too
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.config import Config, load_config  # noqa: E402
from monitor.loopback import LoopbackServer, Reply, Request  # noqa: E402
from monitor.stages import StageContext, collect_stage, run_stage  # noqa: E402
from monitor.store import Store  # noqa: E402
from sources.http import HttpClient  # noqa: E402

TOPICS = [
    "refused my refund after a cancelled flight",
    "app outage locks customers out again",
    "lost luggage never returned, nobody answers",
    "price hike angers loyal customers",
    "great service, quick fix, thank you",
    "new route announced for spring",
    "data breach exposes customer emails",
    "strike grounds hundreds of flights",
]
WAIT = 900.0  # seconds: the most one run may take before the benchmark gives up


class FakeNews:
    """Google News search on loopback: fresh items on every request, 20–50 ms to answer."""

    def __init__(self, items: int, latency: tuple[float, float]) -> None:
        self.items = items
        self.latency = latency
        self.lock = threading.Lock()
        self.serial = 0
        self.rng = random.Random(7)
        self.server = LoopbackServer({"/rss/search": self.handle})

    def handle(self, request: Request) -> Reply:
        query = request.query.get("q", [""])[0]
        brand = query.split('"')[1] if '"' in query else query.split(" when:")[0]
        with self.lock:
            self.serial += 1
            serial = self.serial
            delay = self.rng.uniform(*self.latency)
        threading.Event().wait(delay)  # the service thinking
        now = datetime.now(UTC)
        items = []
        for n in range(self.items):
            topic = TOPICS[(serial + n) % len(TOPICS)]
            guid = f"S{serial}x{n}"
            when = format_datetime(now - timedelta(minutes=n + 1), usegmt=True)
            items.append(
                f"<item><title>{brand}: {topic} ({serial}-{n}) - Daily {serial % 7}</title>"
                f"<link>https://news.google.com/rss/articles/{guid}?oc=5</link>"
                f'<guid isPermaLink="false">{guid}</guid><pubDate>{when}</pubDate>'
                f"<description>{brand} {topic}. Customers say {topic} ({serial}, {n}).</description>"
                "</item>"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{brand}</title><language>en-US</language>"
            + "".join(items)
            + "</channel></rss>"
        ).encode()
        return Reply(200, body, {"Content-Type": "application/xml"}, etag=False)


def write_config(
    path: Path, news: FakeNews, brands: int, sources: int, threads: int, dsn: str | None
) -> Path:
    base = news.server.url("").rstrip("/")
    host = base.split("://", 1)[1]
    lines = [f'queue = "{dsn}"' if dsn else "", "", f"[model]\nthreads = {threads}\n"]
    lines.append(f'[collect]\nhosts = {{ "{host}" = {{ concurrency = 8, rate = "1000/1s" }} }}\n')
    for n in range(brands):
        lines.append(f'[[brands]]\nname = "Brand{n:03d} Air"\n')
    for n in range(sources):
        lines.append(
            f'[[sources]]\nname = "news{n}"\ntype = "google_news"\n'
            f'params = {{ base_url = "{base}" }}\n'
        )
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def progress_until(
    db: Path | str, expected: int, label: str, done: threading.Event | None = None
) -> tqdm:
    """A bar of posts assessed so far, updated from the archive every 0.25 s in a thread."""
    bar = tqdm(total=expected, desc=label, unit="post", leave=False, file=sys.stderr)

    def follow() -> None:
        seen = 0
        while not (done and done.is_set()) and seen < expected:
            try:
                with Store.open(db, readonly=True) as store:
                    count = store.count("assessments")
            except Exception:  # the archive may be busy or not yet created
                count = seen
            bar.update(max(0, count - seen))
            seen = max(seen, count)
            threading.Event().wait(0.25)

    threading.Thread(target=follow, daemon=True).start()
    return bar


def counts(db: Path | str) -> tuple[int, int, int]:
    with Store.open(db, readonly=True) as store:
        posts = store.count("posts")
        assessed = store.count("assessments")
        scored = store.conn.execute("SELECT count(DISTINCT post_id) FROM risk_scores").fetchone()[0]
    return posts, assessed, int(scored)


def archive_bytes(db: Path) -> int:
    """The archive file's size with its write-ahead log folded in."""
    with Store.open(db) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db.stat().st_size


def run_baseline(config: Config, db: Path, expected: int) -> float:
    """The single-process path: collect everything, then process until nothing is left."""
    with HttpClient(timeout=20.0) as client:
        ctx = StageContext(config, str(db), client)
        with Store.open(db):
            pass
        ctx.classifier()  # loaded before the clock starts, as the workers do
        done = threading.Event()
        bar = progress_until(db, expected, "single process", done)
        started = time.perf_counter()
        collected = run_stage(ctx, "collect", lambda c: collect_stage(c))
        if not collected.ok:
            raise SystemExit(f"baseline collect failed: {collected.detail}")
        while True:
            result = run_stage(ctx, "process")
            if not result.ok:
                raise SystemExit(f"baseline process failed: {result.detail}")
            classify = result.data[0]
            if classify.count == 0:
                break
        elapsed = time.perf_counter() - started
        done.set()
        bar.close()
    return elapsed


def scalar(conn: Any, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def pg_bytes(dsn: str) -> int:
    """The PostgreSQL archive's size on disk (tables, indexes, TOAST) after a checkpoint."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM")
        return scalar(conn, "SELECT pg_database_size(current_database())")


def fresh_database(admin: str) -> str:
    import psycopg

    name = f"gs_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + "/" + name


JOB_TIMES = """
SELECT j.task_name, count(*),
       sum(extract(epoch FROM done.at - start.at)),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM done.at - start.at))
FROM procrastinate_jobs j
JOIN procrastinate_events start ON start.job_id = j.id AND start.type = 'started'
JOIN procrastinate_events done ON done.job_id = j.id AND done.type = 'succeeded'
WHERE j.queue_name <> 'maintenance'
GROUP BY j.task_name
"""


def job_times(conn: Any) -> dict[str, tuple[int, float, float]]:
    """Per task: jobs run, total seconds inside jobs, median seconds per job."""
    return {
        str(task): (int(count), float(total), float(median))
        for task, count, total, median in conn.execute(JOB_TIMES)
    }


def run_workers(
    config_path: Path,
    db: Path | str,
    dsn: str,
    workers: int,
    pairs: list[tuple[str, str]],
    expected: int,
    timings: dict[int, dict[str, tuple[int, float, float]]],
) -> float:
    import psycopg

    from monitor.workers.runner import Enqueuer, ensure_schema

    ensure_schema(dsn)
    with Store.open(db):
        pass
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "worker",
                "-c",
                str(config_path),
                "--db",
                str(db),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            deadline = time.monotonic() + WAIT
            while scalar(conn, "SELECT count(*) FROM procrastinate_workers") < workers:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise SystemExit("workers did not start: " + _stderr(procs))
                threading.Event().wait(0.2)
            done = threading.Event()
            bar = progress_until(db, expected, f"{workers} worker(s)", done)
            started = time.perf_counter()
            with Enqueuer(dsn) as queue:
                for source, brand in pairs:
                    queue.collect(source, brand)
            quiet = 0
            while quiet < 2:
                threading.Event().wait(0.1)
                busy = scalar(
                    conn,
                    "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                    "AND queue_name <> 'maintenance'",
                )
                quiet = quiet + 1 if busy == 0 else 0
                if time.perf_counter() - started > WAIT:
                    raise SystemExit("the queue did not drain in time")
            elapsed = time.perf_counter() - started
            done.set()
            bar.close()
            failed = scalar(
                conn,
                "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded' "
                "AND queue_name <> 'maintenance'",
            )
            if failed:
                raise SystemExit(f"{failed} job(s) did not succeed: " + _stderr(procs))
            timings[workers] = job_times(conn)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    return elapsed


def _stderr(procs: list[subprocess.Popen[str]]) -> str:
    for proc in procs:
        if proc.poll() is not None and proc.stderr is not None:
            return proc.stderr.read()[-2000:]
    return "(no worker exited)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brands", type=int, default=20)
    parser.add_argument("--sources", type=int, default=5)
    parser.add_argument("--items", type=int, default=20, help="new items per request")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--dsn", default=None, help="admin DSN of a PostgreSQL server to use")
    parser.add_argument(
        "--archive",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the workers' archive (the single-process baseline stays on SQLite)",
    )
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]
    load_before = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    expected = args.brands * args.sources * args.items
    server = None
    admin = args.dsn
    if admin is None:
        from tests.pg_support import start_server

        server = start_server()
        admin = server.dsn
    try:
        results: dict[int, float] = {}
        pg_size = 0
        timings: dict[int, dict[str, tuple[int, float, float]]] = {}
        with tempfile.TemporaryDirectory(prefix="gs-bench-scale-") as tmp:
            folder = Path(tmp)
            news = FakeNews(args.items, (0.02, 0.05))
            with news.server:
                base_cfg = write_config(
                    folder / "single.toml", news, args.brands, args.sources, cores, None
                )
                config = load_config(base_cfg)
                pairs = [(s.name, b.name) for s in config.sources for b in config.brands]
                single_db = folder / "single.db"
                single = run_baseline(config, single_db, expected)
                posts, assessed, scored = counts(single_db)
                if not posts == assessed == scored == expected:
                    raise SystemExit(
                        f"baseline: {posts} posts, {assessed} assessed, {scored} scored"
                    )
                size = archive_bytes(single_db) - archive_bytes(folder / "empty.db")
                for workers in worker_counts:
                    dsn = fresh_database(admin)
                    threads = max(1, cores // workers)
                    cfg = write_config(
                        folder / f"w{workers}.toml", news, args.brands, args.sources, threads, dsn
                    )
                    db: Path | str = folder / f"w{workers}.db"
                    if args.archive == "postgresql":
                        db = fresh_database(admin)
                        Store.open(db).close()  # migrated before the clock starts
                        empty = pg_bytes(db)
                    results[workers] = run_workers(cfg, db, dsn, workers, pairs, expected, timings)
                    posts, assessed, scored = counts(db)
                    if not posts == assessed == scored == expected:
                        raise SystemExit(
                            f"{workers} workers: {posts} posts, {assessed} assessed, {scored} scored"
                        )
                    if args.archive == "postgresql":
                        pg_size = pg_bytes(str(db)) - empty
    finally:
        if server is not None:
            server.stop()
    print(
        f"workload: {args.brands} brands x {args.sources} sources, {expected} posts "
        f"(collect from loopback + classify + score + alert), {cores} cores, "
        f"workers' archive: {args.archive}"
    )
    print(
        f"load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        "(other work on the machine skews every figure below)"
    )
    print(
        f"single process (SQLite, groundswell run chain): {single:.1f} s, {expected / single:.1f} posts/s"
    )
    base = expected / results[worker_counts[0]]
    for workers in worker_counts:
        rate = expected / results[workers]
        print(
            f"{workers} worker(s) on the queue: {results[workers]:.1f} s, {rate:.1f} posts/s, "
            f"{rate / workers:.1f} posts/s per worker"
        )
    for workers in worker_counts[1:]:
        print(
            f"scaling {workers} workers vs {worker_counts[0]}: {expected / results[workers] / base:.2f}x"
        )
    one = expected / results[worker_counts[0]] / worker_counts[0]
    print(f"per-worker throughput vs single process: {one / (expected / single):.2f}x")
    first = timings[worker_counts[0]]
    if "collect" in first:
        jobs, _, median = first["collect"]
        print(f"collect job ({worker_counts[0]} worker): p50 {median * 1000:.1f} ms, {jobs} jobs")
    for task in ("classify", "score"):
        if task in first:
            jobs, total, _ = first[task]
            what = "classify" if task == "classify" else "score + alert (serialised)"
            print(f"{what}: {total / expected * 1000:.2f} ms/post in {jobs} jobs")
    if pg_size:
        print(f"PostgreSQL archive growth: {pg_size / expected:.0f} bytes/post (tables, indexes)")
    print(
        f"archive growth: {size / expected:.0f} bytes/post "
        "(SQLite: post, FTS, brand match, story, assessment, risk scores)"
    )


if __name__ == "__main__":
    main()
