"""Workers on the PostgreSQL queue: locks per source × brand, exactly-once delivery, recovery
of a killed worker, the shared per-host rate limit, and the chain from enqueue to assessed posts.

Workers run as real ``groundswell worker`` processes against a throwaway PostgreSQL server
(``pg_db``); the archive is SQLite in WAL mode, shared by the processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ConfigError, parse_config
from monitor.loopback import LoopbackServer, Reply, Request
from monitor.store import Store
from sources.errors import RateLimitedError
from sources.settings import CollectSettings, HostRule
from tests.nlp_support import make_tiny_model
from tests.pg_support import temporary_database

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (extra 'scale')")
pytest.importorskip("procrastinate", reason="procrastinate is not installed (extra 'scale')")

from monitor.workers.limits import SharedHostLimiter  # noqa: E402
from monitor.workers.runner import (  # noqa: E402
    Enqueuer,
    WorkerOptions,
    ensure_schema,
    queue_counts,
    run_worker,
)
from monitor.workers.tasks import collect_lock  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BRANDS = ("Acme Air", "Globex", "Initech")
WAIT = 60.0  # upper bound for cross-process hand-offs; never reached when things work


class FakeNews:
    """Google News search on loopback: 5 new items per request; tracks requests in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.in_flight: Counter[str] = Counter()
        self.peak_per_key: Counter[str] = Counter()
        self.peak_total = 0
        self.cond = threading.Condition(self.lock)
        self.first_gate: threading.Event | None = None  # hold the first request until set
        self.pair_first = False  # hold the first request until a second one is in flight
        self.arrived = threading.Event()
        self.latency = 0.0
        self.server = LoopbackServer({"/rss/search": self.handle})

    def handle(self, request: Request) -> Reply:
        query = request.query.get("q", [""])[0]
        brand = query.split('"')[1] if '"' in query else query.split(" when:")[0]
        key = f"{request.query.get('hl', ['?'])[0]}|{brand}"  # source (by language) x brand
        with self.cond:
            self.calls += 1
            serial = self.calls
            self.in_flight[key] += 1
            self.peak_per_key[key] = max(self.peak_per_key[key], self.in_flight[key])
            self.peak_total = max(self.peak_total, sum(self.in_flight.values()))
            self.cond.notify_all()
            if serial == 1 and self.pair_first:
                self.cond.wait_for(lambda: self.peak_total >= 2, WAIT)
        try:
            self.arrived.set()
            if serial == 1 and self.first_gate is not None:
                self.first_gate.wait(WAIT)
            elif self.latency:
                threading.Event().wait(self.latency)  # the service thinking
            return Reply(200, feed(brand, serial), {"Content-Type": "application/xml"}, etag=False)
        finally:
            with self.cond:
                self.in_flight[key] -= 1


def feed(brand: str, serial: int) -> bytes:
    items = "".join(
        f"<item><title>{brand} refused my refund again ({serial}-{n})</title>"
        f"<link>https://news.google.com/rss/articles/G{serial}x{n}?oc=5</link>"
        f'<guid isPermaLink="false">G{serial}x{n}</guid>'
        f"<pubDate>Mon, 23 Nov 2026 09:{n:02d}:00 GMT</pubDate>"
        f"<description>{brand} refused my refund, worst airline ever</description></item>"
        for n in range(5)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{brand}</title>'
        f"{items}</channel></rss>"
    ).encode()


@pytest.fixture
def news() -> Iterator[FakeNews]:
    fake = FakeNews()
    with fake.server:
        yield fake
        if fake.first_gate is not None:
            fake.first_gate.set()


def write_config(path: Path, dsn: str, news: FakeNews, extra: str = "") -> Path:
    base = news.server.url("").rstrip("/")
    brands = "".join(f'[[brands]]\nname = "{name}"\n\n' for name in BRANDS)
    path.write_text(
        f'queue = "{dsn}"\n\n{brands}'
        f'[[sources]]\nname = "gn"\ntype = "google_news"\n'
        f'params = {{ base_url = "{base}" }}\n\n'
        f'[[sources]]\nname = "gn2"\ntype = "google_news"\n'
        f'params = {{ base_url = "{base}", hl = "de" }}\n\n{extra}',
        encoding="utf-8",
    )
    return path


def start_worker(config: Path, db: str | Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "worker", "-c", str(config), "--db", str(db), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=WAIT * 2)
    assert process.returncode == 0, err[-3000:]
    return out


def job_rows(dsn: str) -> list[tuple[str, str, Any]]:
    with psycopg.connect(dsn) as conn:
        return [
            (row[0], row[1], row[2])
            for row in conn.execute(
                "SELECT task_name, status::text, args FROM procrastinate_jobs ORDER BY id"
            )
        ]


# -- configuration ----------------------------------------------------------------------------


def test_queue_setting_forms_and_mistakes() -> None:
    short = parse_config({"queue": "postgresql://gs@db/gs"}).section("queue")
    assert short.dsn() == "postgresql://gs@db/gs" and short.concurrency == 1
    table = parse_config(
        {"queue": {"url_env": "GS_QUEUE", "concurrency": 3, "stalled_after": "2m"}}
    ).section("queue")
    assert table.dsn({"GS_QUEUE": "postgresql://x/y"}) == "postgresql://x/y"
    assert table.concurrency == 3 and table.stalled_after == 120
    with pytest.raises(ConfigError, match=r"queue\.url: the queue lives in PostgreSQL"):
        parse_config({"queue": "redis://localhost"})
    with pytest.raises(ConfigError, match=r"queue\.concurrency: must be at least 1"):
        parse_config({"queue": {"url": "postgresql://x/y", "concurrency": 0}})
    with pytest.raises(ConfigError, match=r"queue\.colour: unknown key"):
        parse_config({"queue": {"url": "postgresql://x/y", "colour": "red"}})


# -- enqueueing ---------------------------------------------------------------------------------


def test_scheduler_jobs_become_queue_jobs_without_piling_up(pg_db: str) -> None:
    with Enqueuer(pg_db) as queue:
        first = queue.dispatch("collect:gn|Acme Air", "gn", "Acme Air")
        again = queue.dispatch("collect:gn|Acme Air", "gn", "Acme Air")
        other = queue.dispatch("collect:gn|Globex", "gn", "Globex")
        process = queue.dispatch("process")
        process_again = queue.dispatch("process")
        retention = queue.dispatch("retention")
        unknown = queue.dispatch("nonsense")
    assert (first.count, again.count, other.count) == (1, 0, 1)
    assert again.detail == "already waiting"
    assert process.count == 3 and process_again.count == 0 and retention.count == 1
    assert not unknown.ok
    with psycopg.connect(pg_db) as conn:
        rows = conn.execute(
            "SELECT task_name, lock, queueing_lock, queue_name FROM procrastinate_jobs ORDER BY id"
        ).fetchall()
    assert rows == [
        ("collect", "collect:gn|Acme Air", "collect:gn|Acme Air", "collect"),
        ("collect", "collect:gn|Globex", "collect:gn|Globex", "collect"),
        ("classify", "classify-sweep", "classify-sweep", "process"),
        ("alert", "score-alert", "alert", "process"),
        ("deliver", "deliver", "deliver", "deliver"),
        ("stage", "stage:retention", "stage:retention", "maintenance"),
    ]
    assert ensure_schema(pg_db) is False  # already there; safe to call from every process


# -- the whole chain ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The archive the workers share: a SQLite file (WAL) or a PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "archive.db")
        return
    dsn = request.getfixturevalue("pg_dsn")
    with temporary_database(dsn) as url:
        yield url


def test_enqueued_collect_ends_in_stored_assessed_scored_posts(
    pg_db: str, news: FakeNews, tmp_path: Path, archive: str
) -> None:
    model = make_tiny_model(tmp_path / "tiny", ("negative", "neutral", "positive", "complaint"))
    config = parse_config(
        {
            "queue": pg_db,
            "brands": [{"name": name} for name in BRANDS],
            "sources": [
                {
                    "name": "gn",
                    "type": "google_news",
                    "params": {"base_url": news.server.url("").rstrip("/")},
                }
            ],
        }
    )
    with Enqueuer(pg_db) as queue:
        for brand in BRANDS:
            queue.collect("gn", brand)
    db = archive
    options = WorkerOptions(
        model=str(model), until_idle=True, install_signals=False, idle_check=0.1
    )
    runs = run_worker(config, db, options)
    with Store.open(db) as store:
        posts = store.count("posts")
        assessed = store.count("assessments")
        scored = store.conn.execute("SELECT count(DISTINCT post_id) FROM risk_scores").fetchone()[0]
        stages = dict(store.conn.execute("SELECT stage, failures FROM stage_runs").fetchall())
        states = {
            row[0]: row[1]
            for row in store.conn.execute("SELECT key, items_total FROM source_state")
        }
    assert posts == 15 and assessed == 15 and scored == 15
    assert states == {f"gn|{brand}": 5 for brand in BRANDS}
    assert {"collect:gn|Acme Air", "classify", "score", "alert"} <= set(stages)
    assert not any(stages.values()), stages
    assert runs >= 6
    statuses = Counter(status for task, status, _ in job_rows(pg_db) if task != "recover_stalled")
    assert statuses == {"succeeded": statuses["succeeded"]} and statuses["succeeded"] >= 5


# -- several workers ------------------------------------------------------------------------------


def test_two_workers_never_run_one_source_brand_twice_at_once(
    pg_db: str, news: FakeNews, tmp_path: Path, archive: str
) -> None:
    config = write_config(tmp_path / "gs.toml", pg_db, news)
    db = archive
    Store.open(db).close()
    news.pair_first = True
    rounds = 3
    with Enqueuer(pg_db) as queue:
        collect = queue.app.tasks["collect"]
        # Every round of one key before the next key: without the lock, the second worker
        # would take round 2 of the key the first worker is still collecting.
        for source in ("gn", "gn2"):
            for brand in BRANDS:
                for _ in range(rounds):
                    collect.configure(lock=collect_lock(source, brand)).defer(
                        source=source, brand=brand
                    )
    workers = [
        start_worker(config, db, "--queue", "collect", "--until-idle", "--concurrency", "1")
        for _ in range(2)
    ]
    try:
        # The first request is held until a second one is in flight: both workers are busy.
        for worker in workers:
            finish(worker)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate(timeout=WAIT)
    assert news.calls == 2 * len(BRANDS) * rounds
    assert news.peak_total >= 2, "the two workers never overlapped"
    assert len(news.peak_per_key) == 2 * len(BRANDS)
    assert max(news.peak_per_key.values()) == 1
    with Store.open(db) as store:
        states = dict(store.conn.execute("SELECT key, items_total FROM source_state").fetchall())
        posts = store.count("posts")
    assert posts == news.calls * 5
    assert states == {
        f"{source}|{brand}": 5 * rounds for source in ("gn", "gn2") for brand in BRANDS
    }
    assert {status for task, status, _ in job_rows(pg_db) if task == "collect"} == {"succeeded"}


@pytest.mark.slow
def test_locks_keep_each_source_brand_serial_across_workers(
    pg_db: str, news: FakeNews, tmp_path: Path
) -> None:
    """One source, one brand, queued three times: two workers take turns, never overlap."""
    config = write_config(tmp_path / "gs.toml", pg_db, news)
    db = tmp_path / "archive.db"
    Store.open(db).close()
    news.latency = 0.2
    with Enqueuer(pg_db) as queue:
        collect = queue.app.tasks["collect"]
        for _ in range(4):
            collect.configure(lock=collect_lock("gn", "Globex")).defer(source="gn", brand="Globex")
    workers = [
        start_worker(config, db, "--queue", "collect", "--until-idle", "--concurrency", "2")
        for _ in range(2)
    ]
    for worker in workers:
        finish(worker)
    assert news.calls == 4 and max(news.peak_per_key.values()) == 1
    with Store.open(db) as store:
        state = store.get_state("gn|Globex")
    assert state is not None and state.items_total == 20


def test_a_killed_worker_s_job_runs_again_and_nothing_is_lost(
    pg_db: str, news: FakeNews, tmp_path: Path
) -> None:
    config_path = write_config(tmp_path / "gs.toml", pg_db, news)
    db = tmp_path / "archive.db"
    Store.open(db).close()
    news.first_gate = threading.Event()
    with Enqueuer(pg_db) as queue:
        queue.collect("gn", "Acme Air")
    doomed = start_worker(config_path, db, "--queue", "collect")
    try:
        assert news.arrived.wait(WAIT)  # the job is running: its request is held
        doomed.send_signal(signal.SIGKILL)
    finally:
        if doomed.poll() is None:
            doomed.kill()
        doomed.communicate(timeout=WAIT)  # reap it and close its pipes
    news.first_gate.set()  # the answer goes to a dead socket
    assert [(t, status) for t, status, _ in job_rows(pg_db) if t == "collect"] == [
        ("collect", "doing")
    ]
    with Store.open(db) as store:
        assert store.count("posts") == 0
    with psycopg.connect(pg_db, autocommit=True) as conn:
        # The dead worker's last heartbeat, as seen an hour later.
        conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")
    config = parse_config({**_raw(config_path), "queue": pg_db})
    run_worker(
        config,
        str(db),
        WorkerOptions(queues=("collect",), until_idle=True, install_signals=False, idle_check=0.1),
    )
    assert [(task, status) for task, status, _ in job_rows(pg_db) if task == "collect"] == [
        ("collect", "succeeded")
    ]
    with Store.open(db) as store:
        state = store.get_state("gn|Acme Air")
        assert store.count("posts") == 5
    assert state is not None and state.items_total == 5 and news.calls == 2


def _raw(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text(encoding="utf-8"))


# -- delivery ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "locked",
    [
        pytest.param(True, marks=pytest.mark.slow, id="deliver-lock"),
        pytest.param(False, id="no-lock"),
    ],
)
def test_two_workers_send_each_outbox_row_exactly_once(
    pg_db: str, tmp_path: Path, archive: str, locked: bool
) -> None:
    from alerts.outbox import NewDelivery, enqueue

    received: list[str] = []
    lock = threading.Lock()

    def hook(request: Request) -> Reply:
        with lock:
            received.append(request.headers["idempotency-key"])
        threading.Event().wait(0.005)  # a receiver that takes a moment
        return Reply(200, b"ok", etag=False)

    with LoopbackServer({"/hook": hook}) as server:
        config = tmp_path / "gs.toml"
        config.write_text(
            f'queue = "{pg_db}"\n\n[[brands]]\nname = "Acme"\n\n[alerts]\n'
            'send_timeout = "5s"\nbatch_size = 2\nworkers = 1\n\n[[alerts.receivers]]\nname = "pr"\n'
            f'webhooks = [{{ url = "{server.url("/hook")}", secret_env = "" }}]\n',
            encoding="utf-8",
        )
        db = archive
        now = datetime.now(UTC) - timedelta(minutes=1)
        rows = [
            NewDelivery(
                f"key-{n:04d}",
                None,
                "pr",
                0,
                "webhook",
                "fired",
                "warning",
                {"data": {"type": "alert.fired", "n": n}},
                now,
            )
            for n in range(60)
        ]
        with Store.open(db) as store, store.transaction() as conn:
            assert enqueue(conn, rows, now) == 60
        with Enqueuer(pg_db) as queue:
            deliver = queue.app.tasks["deliver"]
            # With the deliver lock, as the system queues them; without it, the outbox's own
            # claim (a lease) must keep the workers apart.
            for _ in range(12):
                deliver.configure(lock="deliver" if locked else None).defer()
        workers = [
            start_worker(config, db, "--queue", "deliver", "--until-idle", "--concurrency", "3")
            for _ in range(2)
        ]
        for worker in workers:
            finish(worker)
    counts = Counter(received)
    assert len(counts) == 60 and set(counts.values()) == {1}, counts.most_common(3)
    with Store.open(db) as store:
        statuses = dict(
            store.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        )
    assert statuses == {"sent": 60}


# -- the shared per-host rate limit -----------------------------------------------------------------


def test_rate_limit_is_shared_by_workers(pg_db: str) -> None:
    ensure_schema(pg_db)
    url = "https://news.example/rss?q=x"
    # One slot every 10 s: wide enough that a loaded machine's pauses between bookings (the
    # database clock is real time) cannot free a slot early.
    rule = HostRule(concurrency=4, limit=10, period=100.0, burst=1)
    settings = CollectSettings(hosts={"news.example": rule})
    waits: list[float] = []
    limiters = [SharedHostLimiter(pg_db, settings=settings, sleep=waits.append) for _ in range(2)]
    try:
        for n in range(10):
            with limiters[n % 2].slot(url):
                pass
        # Booked back to back (nothing really waits here): one slot every 10 s, for both.
        assert len(waits) == 9  # the first slot is free
        ordered = sorted(waits)
        for index, wait in enumerate(ordered, start=1):
            assert wait == pytest.approx(10.0 * index, abs=2.0)
        # A hold learnt by one worker (Retry-After) stops the other.
        limiters[0].hold(url, 3600)
        with pytest.raises(RateLimitedError), limiters[1].slot(url):
            pass
    finally:
        for limiter in limiters:
            limiter.close()
    with psycopg.connect(pg_db) as conn:
        sent = conn.execute(
            "SELECT sent FROM groundswell_host_budget WHERE host = 'news.example'"
        ).fetchone()[0]
    assert sent == 10


def test_worker_status_and_missing_queue(pg_db: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from monitor.cli import cli

    no_queue = tmp_path / "plain.toml"
    no_queue.write_text('[[brands]]\nname = "Acme"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["worker", "-c", str(no_queue)])
    assert result.exit_code == 2 and "no queue configured" in result.output
    with_queue = tmp_path / "gs.toml"
    with_queue.write_text(f'queue = "{pg_db}"\n[[brands]]\nname = "Acme"\n', encoding="utf-8")
    with Enqueuer(pg_db) as queue:
        queue.collect("gn", None)
    result = CliRunner().invoke(cli, ["worker", "-c", str(with_queue), "--status"])
    assert result.exit_code == 0 and "collect" in result.output and "todo 1" in result.output
    assert queue_counts(pg_db) == {"collect": {"todo": 1}}


def test_service_in_queue_mode_enqueues_instead_of_running(
    pg_db: str, news: FakeNews, tmp_path: Path
) -> None:
    from monitor.service import Service

    config = parse_config({**_raw(write_config(tmp_path / "gs.toml", pg_db, news)), "queue": pg_db})
    db = tmp_path / "archive.db"
    service = Service(config, str(db), enqueuer=Enqueuer(pg_db).open())
    try:
        jobs = service.timetable.desired_jobs(config)
        for job_id, (_, _, args) in jobs.items():
            result = service.run_job(job_id, *args)
            assert result.ok, result
    finally:
        service.stop()
    assert news.calls == 0  # nothing collected here: a worker will
    with Store.open(db) as store:
        assert store.count("posts") == 0
    counts = queue_counts(pg_db)
    assert counts["collect"] == {"todo": 2 * len(BRANDS)}
    assert counts["process"] == {"todo": 2} and counts["deliver"] == {"todo": 1}
    assert counts["maintenance"] == {"todo": 5}  # repoll, retention, digest, anchor, optimize


def test_without_the_queue_database_limits_stay_local_and_run_refuses(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from monitor.cli import cli

    nowhere = "postgresql://groundswell@127.0.0.1:1/none"
    url = "https://news.example/rss"
    rule = HostRule(concurrency=1, limit=2, period=1.0, burst=1)
    waits: list[float] = []
    limiter = SharedHostLimiter(
        nowhere,
        connect_timeout=1,
        settings=CollectSettings(hosts={"news.example": rule}),
        sleep=waits.append,
    )
    for _ in range(3):
        with limiter.slot(url):
            pass
    limiter.close()
    # Paced in this process instead: the second and third requests wait their turn.
    assert len(waits) == 2 and waits[1] > waits[0] > 0
    config = tmp_path / "gs.toml"
    config.write_text(f'queue = "{nowhere}"\n[[brands]]\nname = "Acme"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", "-c", str(config), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 1 and "cannot reach the queue database" in result.output
