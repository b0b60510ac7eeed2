"""Both ends of the queue: the scheduler's :class:`Enqueuer` and ``groundswell worker``'s loop.

The scheduler (``groundswell run`` with a ``queue``) keeps its APScheduler timetable and hands
each due job to :meth:`Enqueuer.dispatch` instead of running it. Workers (:func:`run_worker`)
take jobs from the same PostgreSQL database, on any number of machines.

A worker that dies mid-job (killed, machine lost) stops sending heartbeats; after
``stalled_after`` seconds any worker puts its jobs back in the queue (:func:`recover_stalled`,
run at start and then every minute), and they run again from the start. Every stage is written
to be re-run: a collect job commits its posts and its cursor together, classification skips
what is assessed, the outbox skips what is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.config import Config
from monitor.records import isoformat, utcnow
from monitor.stages import StageContext, StageResult
from monitor.store import Store
from monitor.workers.limits import BUDGET_TABLE_SQL, SharedHostLimiter
from monitor.workers.settings import QueueNotConfigured, QueueSettings, queue_settings
from monitor.workers.tasks import (
    MAINTENANCE_STAGES,
    QUEUES,
    RUNTIME_KEY,
    Runtime,
    build_app,
    collect_lock,
    defer_quietly,
)

__all__ = [
    "Enqueuer",
    "QueueNotConfigured",
    "WorkerOptions",
    "ensure_schema",
    "queue_counts",
    "recover_stalled",
    "run_worker",
    "settings_or_raise",
]

log = logging.getLogger("groundswell.workers")


def settings_or_raise(config: Config) -> QueueSettings:
    """The config's ``queue`` settings; :class:`QueueNotConfigured` when there are none."""
    settings = queue_settings(config)
    if settings is None:
        raise QueueNotConfigured(
            'no queue configured: add queue = "postgresql://..." to the config'
        )
    return settings


def ensure_schema(dsn: str) -> bool:
    """Create the queue's tables when missing (safe when many processes start at once).

    Returns True when the schema was created now.
    """
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('groundswell-queue-schema'))")
        try:
            row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            created = row is None or row[0] is None
            if created:
                conn.execute(SchemaManager.get_schema())
            conn.execute(BUDGET_TABLE_SQL)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('groundswell-queue-schema'))")
    return created


def queue_counts(dsn: str) -> dict[str, dict[str, int]]:
    """Jobs per queue and status (for ``groundswell worker --status`` and the tests)."""
    import psycopg

    counts: dict[str, dict[str, int]] = {}
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        for queue, status, count in conn.execute(
            "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
            "GROUP BY queue_name, status ORDER BY 1, 2"
        ):
            counts.setdefault(queue, {})[status] = int(count)
    return counts


async def recover_stalled(app: Any, stalled_after: float) -> int:
    """Put back in the queue the jobs of workers silent for ``stalled_after`` seconds."""
    await app.job_manager.prune_stalled_workers(stalled_after)
    jobs = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after))
    for job in jobs:
        log.warning("job %s (%s) lost its worker; running it again", job.id, job.task_name)
        await app.job_manager.retry_job(job)
    return len(jobs)


def _add_maintenance(app: Any, settings: QueueSettings) -> None:
    """Every minute one worker recovers stalled jobs; hourly it deletes old finished jobs."""

    @app.periodic(cron="* * * * *", periodic_id="recover")
    @app.task(name="recover_stalled", queue="maintenance", queueing_lock="recover_stalled")
    async def recover(timestamp: int) -> int:
        if timestamp % 3600 < 60:
            await app.job_manager.delete_old_jobs(
                nb_hours=max(1, int(settings.job_retention // 3600)), include_failed=True
            )
        return await recover_stalled(app, settings.stalled_after)


class _Tally:
    """Stage runs this worker finished (for its exit summary)."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.runs = 0
        self._lock = threading.Lock()

    def record(self, job_id: str, result: StageResult) -> None:
        with self._lock:
            self.runs += 1
        _record(self.db_path, job_id, result)


def _record(db_path: str, job_id: str, result: StageResult) -> None:
    from monitor.service import record_stage_run

    try:
        with Store.open(db_path) as store:
            record_stage_run(store, job_id, result)
    except Exception:  # status bookkeeping must never fail a job
        log.exception("could not record the run of %s", job_id)


class Enqueuer:
    """The scheduler's side: turns timetable jobs into queue jobs."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.app = build_app(dsn, pool_size=4)
        self._open = False

    def open(self) -> Enqueuer:
        ensure_schema(self.dsn)
        self.app.open()
        self._open = True
        return self

    def close(self) -> None:
        if self._open:
            self.app.close()
            self._open = False

    def __enter__(self) -> Enqueuer:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self, source: str, brand: str | None) -> int | None:
        key = collect_lock(source, brand)
        return defer_quietly(
            self.app, "collect", lock=key, queueing=key, source=source, brand=brand
        )

    def dispatch(self, job_id: str, *args: Any) -> StageResult:
        """Enqueue the work of one timetable job; ``count`` is how many jobs were added."""
        at = isoformat(utcnow())
        if job_id.startswith("collect:"):
            source, brand = args
            added = [self.collect(source, brand)]
        elif job_id in ("process", "classify"):
            added = [
                defer_quietly(
                    self.app,
                    "classify",
                    lock="classify-sweep",
                    queueing="classify-sweep",
                    post_ids=None,
                ),
                defer_quietly(self.app, "alert", lock="score-alert", queueing="alert"),
                defer_quietly(self.app, "deliver", lock="deliver", queueing="deliver"),
            ]
        elif job_id in ("score", "alert", "deliver"):
            lock = "deliver" if job_id == "deliver" else "score-alert"
            added = [defer_quietly(self.app, job_id, lock=lock, queueing=job_id)]
        elif job_id in MAINTENANCE_STAGES:
            key = f"stage:{job_id}"
            added = [defer_quietly(self.app, "stage", lock=key, queueing=key, name=job_id)]
        else:
            return StageResult(job_id, False, 0, f"no queue task for {job_id!r}", at=at)
        count = sum(1 for job in added if job is not None)
        detail = "enqueued" if count else "already waiting"
        return StageResult(job_id, True, count, detail, at=at)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How one ``groundswell worker`` runs."""

    concurrency: int | None = None  # None: [queue] concurrency
    queues: Sequence[str] | None = None  # None: every queue
    model: str | None = None
    until_idle: bool = False  # exit once no job is waiting or running (batch runs, tests)
    install_signals: bool = True
    idle_check: float = 0.5  # seconds between idle checks with until_idle
    name: str | None = None
    preload_model: bool = True  # load the model before taking jobs (fails fast, first job fast)


def run_worker(config: Config, db_path: str, options: WorkerOptions = WorkerOptions()) -> int:
    """Run one worker until SIGTERM/SIGINT (or until the queue is idle).

    Returns how many stage runs it finished.
    """
    settings = settings_or_raise(config)
    dsn = settings.dsn()
    concurrency = options.concurrency or settings.concurrency
    queues = list(options.queues) if options.queues else None
    for queue in queues or ():
        if queue not in QUEUES:
            raise ValueError(f"unknown queue {queue!r}; known: {', '.join(QUEUES)}")
    ensure_schema(dsn)
    with Store.open(db_path):
        pass  # create and migrate the archive before any job runs
    app = build_app(dsn, pool_size=concurrency + 3)
    _add_maintenance(app, settings)
    limiter = SharedHostLimiter(dsn)
    from sources.http import HttpClient

    with HttpClient(limiter=limiter) as client:
        ctx = StageContext(config, db_path, client, model=options.model)
        if options.preload_model and (queues is None or "process" in queues):
            _preload(ctx)
        tally = _Tally(db_path)
        runtime = Runtime(ctx, tally.record)
        try:
            asyncio.run(_serve(app, runtime, settings, concurrency, queues, options))
        finally:
            limiter.close()
    return tally.runs


def _preload(ctx: StageContext) -> None:
    from monitor.stages import StageUnavailable

    try:
        ctx.classifier()
    except StageUnavailable:
        log.info("no sentiment model in this build; classify jobs will say so")


async def _idle(app: Any, queues: list[str] | None) -> bool:
    row = await app.connector.execute_query_one_async(
        "SELECT count(*) AS busy FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
        "AND queue_name <> 'maintenance' "
        "AND (%(queues)s::varchar[] IS NULL OR queue_name = ANY(%(queues)s::varchar[]))",
        queues=queues,
    )
    return int(row["busy"]) == 0


async def _serve(
    app: Any,
    runtime: Runtime,
    settings: QueueSettings,
    concurrency: int,
    queues: list[str] | None,
    options: WorkerOptions,
) -> None:
    name = options.name or f"{socket.gethostname()}:{os.getpid()}"
    async with app.open_async():
        recovered = await recover_stalled(app, settings.stalled_after)
        if recovered:
            log.warning("%d job(s) of stalled workers put back in the queue", recovered)
        worker = asyncio.create_task(
            app.run_worker_async(
                queues=queues,
                concurrency=concurrency,
                name=name,
                wait=True,
                additional_context={RUNTIME_KEY: runtime},
                install_signal_handlers=options.install_signals,
                update_heartbeat_interval=max(1.0, min(10.0, settings.stalled_after / 4)),
                stalled_worker_timeout=settings.stalled_after,
                fetch_job_polling_interval=1.0,
            )
        )
        if options.until_idle:
            quiet = 0
            while not worker.done():
                await asyncio.wait({worker}, timeout=options.idle_check)
                quiet = quiet + 1 if await _idle(app, queues) else 0
                if quiet >= 2:
                    worker.cancel()
                    break
        try:
            await worker
        except asyncio.CancelledError:
            if not options.until_idle:
                raise
    log.info("worker %s stopped", name)
