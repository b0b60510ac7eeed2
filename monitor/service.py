"""``groundswell run``: the long-running service around the scheduler.

It owns the stage context (config, HTTP client, model), runs jobs from :mod:`monitor.scheduler`,
records each stage run for ``status``, reloads the config on SIGHUP or when the file changes
(an invalid new config keeps the old one running), and shuts down gracefully on SIGTERM/SIGINT:
running jobs finish (each stage commits or rolls back whole batches) and the outbox is flushed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from monitor.config import Config, ConfigError, load_config
from monitor.records import isoformat, utcnow
from monitor.scheduler import Timetable, settings_of
from monitor.stages import StageContext, StageResult, collect_stage, run_stage
from monitor.store import Store
from sources.http import HttpClient

__all__ = ["Service", "record_stage_run"]

log = logging.getLogger("groundswell.service")

ResultHook = Callable[[str, StageResult], None]


def record_stage_run(store: Store, job_id: str, result: StageResult) -> None:
    """Upsert the last outcome of a job into ``stage_runs``."""
    with store.transaction() as conn:
        conn.execute(
            """
            INSERT INTO stage_runs (stage, last_run_at, last_ok_at, last_error, last_count, last_seconds, runs, failures)
            VALUES (?1, ?2, CASE WHEN ?3 THEN ?2 END, CASE WHEN ?3 THEN NULL ELSE ?4 END, ?5, ?6, 1, CASE WHEN ?3 THEN 0 ELSE 1 END)
            ON CONFLICT(stage) DO UPDATE SET
                last_run_at = excluded.last_run_at,
                last_ok_at = coalesce(excluded.last_ok_at, last_ok_at),
                last_error = excluded.last_error,
                last_count = excluded.last_count,
                last_seconds = excluded.last_seconds,
                runs = runs + 1,
                failures = failures + excluded.failures
            """,
            (
                job_id,
                result.at or isoformat(utcnow()),
                result.ok,
                result.detail or None,
                result.count,
                result.seconds,
            ),
        )


class Service:
    """The scheduler plus its stages. ``start()``/``stop()`` for embedding; ``run()`` blocks."""

    def __init__(
        self,
        config: Config,
        db_path: str,
        *,
        config_path: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        speed: float = 1.0,
        client: HttpClient | None = None,
        model: str | None = None,
        on_result: ResultHook | None = None,
        enqueuer: Any = None,
    ):
        self.config = config
        self.enqueuer = enqueuer  # monitor.workers.runner.Enqueuer: jobs go to the queue
        self.config_path = config_path
        self.db_path = db_path
        self.clock = clock
        self._own_client = client is None
        self.client = client or HttpClient()
        self.ctx = StageContext(config, db_path, self.client, clock, model)
        self.timetable = Timetable(self.run_job, speed=speed, workers=settings_of(config).workers)
        self.on_result = on_result
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._config_mtime = self._mtime()
        with Store.open(db_path):
            pass  # create and migrate the archive before any job runs

    # -- jobs ----------------------------------------------------------------------------

    def run_job(self, job_id: str, *args: Any) -> StageResult:
        if self.enqueuer is not None:  # a worker runs the job and records its outcome
            result: StageResult = self.enqueuer.dispatch(job_id, *args)
            if self.on_result is not None:
                self.on_result(job_id, result)
            return result
        if job_id.startswith("collect:"):
            source, brand = args
            result = run_stage(self.ctx, "collect", lambda ctx: collect_stage(ctx, [source], brand))
            if result.ok and result.count:
                self.timetable.run_soon("process")
        else:
            result = run_stage(self.ctx, job_id)
        self._record(job_id, result)
        if self.on_result is not None:
            self.on_result(job_id, result)
        return result

    def _record(self, job_id: str, result: StageResult) -> None:
        try:
            with Store.open(self.db_path) as store:
                record_stage_run(store, job_id, result)
        except Exception:  # status bookkeeping must never break a job
            log.exception("could not record the run of %s", job_id)

    # -- configuration ---------------------------------------------------------------------

    def _mtime(self) -> float | None:
        if not self.config_path:
            return None
        try:
            return Path(self.config_path).stat().st_mtime
        except OSError:
            return None

    def reload(self) -> bool:
        """Re-read the config file; on errors keep the running config and report them."""
        if not self.config_path:
            return False
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("config reload refused, keeping the running config:\n%s", exc)
            return False
        self.config = new
        self.ctx.config = new
        added, removed = self.timetable.apply(new)
        log.warning("config reloaded: %d job(s) added, %d removed", len(added), len(removed))
        return True

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.timetable.apply(self.config)
        self.timetable.start()

    def stop(self, flush: bool = True) -> None:
        """Let running jobs finish, then flush the outbox once."""
        self.timetable.shutdown(wait=True)
        if self.enqueuer is not None:
            self.enqueuer.close()  # the workers flush the outbox
        elif flush:
            result = run_stage(self.ctx, "deliver")
            if result.ok:
                log.info("outbox flushed: %d delivered", result.count)
        if self._own_client:
            self.client.close()

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def request_reload(self, *_: Any) -> None:
        self._reload.set()

    def run(
        self,
        install_signals: bool = True,
        watch_interval: float = 2.0,
        until: Callable[[], bool] | None = None,
    ) -> None:
        """Run until SIGTERM/SIGINT (or ``until()`` is true); reload on SIGHUP or file change."""
        if install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
            signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        self.start()
        log.warning(
            "groundswell running (pid %d): %d job(s)", os.getpid(), len(self.timetable.job_ids())
        )
        try:
            while not self._stop.wait(watch_interval):
                if until is not None and until():
                    break
                mtime = self._mtime()
                if self._reload.is_set() or (mtime is not None and mtime != self._config_mtime):
                    self._reload.clear()
                    self._config_mtime = mtime
                    self.reload()
        finally:
            log.warning("groundswell stopping: finishing running jobs, flushing the outbox")
            self.stop()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()
