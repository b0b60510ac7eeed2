"""The service's clock and timetable. The only module that imports APScheduler (3.x).

Every job calls a plain stage function from :mod:`monitor.stages`: each source (× brand for
search sources) at its interval with jitter, ``coalesce`` and ``max_instances=1``; the
classify → score → alert → deliver chain shortly after new items arrive; re-polling of young
posts; maintenance (retention, digests, audit anchors, optimize/backup).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import undefined

from monitor.config import Config, Problems, parse_interval
from sources.registry import collector_class

__all__ = ["SchedulerSettings", "Timetable", "parse_section", "settings_of"]

log = logging.getLogger("groundswell.scheduler")


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    """``[scheduler]``: how the service paces its work (durations in seconds)."""

    jitter_fraction: float = 0.1  # each poll moves by up to ±10 % of its interval …
    max_jitter: float = 60.0  # … but never more than a minute
    misfire_grace: float = 120.0  # a job late by more than this is skipped, not piled up
    process_interval: float = 15.0  # classify → score → alert → deliver
    repoll_interval: float = 60.0  # young posts' engagement
    retention_interval: float = 3600.0
    digest_interval: float = 900.0
    anchor_interval: float = 3600.0
    optimize_interval: float = 6 * 3600.0
    workers: int = 8
    backup_dir: str | None = None
    disabled: tuple[
        str, ...
    ] = ()  # job kinds not to run here, e.g. ["process"] on a collect-only node


_DURATIONS = (
    "misfire_grace",
    "process_interval",
    "repoll_interval",
    "retention_interval",
    "digest_interval",
    "anchor_interval",
    "optimize_interval",
    "max_jitter",
)


def parse_section(raw: Mapping[str, Any], problems: Problems, path: str) -> SchedulerSettings:
    known = {*_DURATIONS, "jitter_fraction", "workers", "backup_dir", "disabled"}
    problems.unknown_keys(raw, known, path)
    values: dict[str, Any] = {}
    for key in _DURATIONS:
        if key in raw:
            try:
                values[key] = parse_interval(raw[key])
            except ValueError as exc:
                problems.add(f"{path}.{key}", str(exc), "use e.g. '15s', '10m', '1h'")
    fraction = problems.expect(raw, "jitter_fraction", float, path)
    if fraction is not None:
        if 0 <= fraction < 1:
            values["jitter_fraction"] = float(fraction)
        else:
            problems.add(f"{path}.jitter_fraction", "must be between 0 and 1", "e.g. 0.1")
    workers = problems.expect(raw, "workers", int, path)
    if workers is not None:
        if workers >= 1:
            values["workers"] = workers
        else:
            problems.add(f"{path}.workers", "must be at least 1")
    disabled = problems.string_list(raw, "disabled", path)
    kinds = {"collect", "process", "repoll", "retention", "digest", "anchor", "optimize"}
    for kind in disabled:
        if kind not in kinds:
            problems.add(
                f"{path}.disabled",
                f"unknown job kind {kind!r}",
                f"known: {', '.join(sorted(kinds))}",
            )
    values["disabled"] = tuple(k for k in disabled if k in kinds)
    backup = problems.expect(raw, "backup_dir", str, path)
    if backup:
        values["backup_dir"] = backup
    return SchedulerSettings(**values)


def settings_of(config: Config) -> SchedulerSettings:
    section = config.section("scheduler")
    return section if isinstance(section, SchedulerSettings) else SchedulerSettings()


JobFunc = Callable[..., Any]


class Timetable:
    """Builds and updates APScheduler jobs from a config. ``speed`` > 1 compresses time (demo)."""

    def __init__(
        self, run_job: JobFunc, *, speed: float = 1.0, start_paused: bool = False, workers: int = 8
    ):
        self._run_job = run_job
        self.speed = speed
        # Stages and maintenance have their own threads: they never queue behind slow polls.
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max_workers=workers),
                "stages": ThreadPoolExecutor(max_workers=4),
            },
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        self.scheduler.add_listener(self._on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self._start_paused = start_paused
        self._params: dict[str, tuple[Any, ...]] = {}
        self._kicks: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        # Jobs running now, and those asked for while running: a kick for a running job is held
        # and honoured once it ends (APScheduler would otherwise skip it with a warning).
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._held: set[str] = set()
        self._kicker = threading.Thread(
            target=self._kick_loop, name="timetable-kicker", daemon=True
        )

    def _on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning(
                "job %s missed its run time (misfire grace exceeded); coalesced", event.job_id
            )
        else:
            log.error("job %s raised %r", event.job_id, event.exception)

    def _seconds(self, seconds: float) -> float:
        return max(0.05, seconds / self.speed)

    def _add(
        self,
        job_id: str,
        seconds: float,
        jitter: float,
        settings: SchedulerSettings,
        *args: Any,
        first_run: datetime | None = None,
    ) -> None:
        self.scheduler.add_job(
            self._invoke,
            IntervalTrigger(
                seconds=self._seconds(seconds), jitter=jitter / self.speed if jitter else None
            ),
            args=(job_id, *args),
            executor="default" if job_id.startswith("collect:") else "stages",
            id=job_id,
            name=job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(self._seconds(settings.misfire_grace))),
            next_run_time=first_run if first_run is not None else undefined,
        )

    def desired_jobs(self, config: Config) -> dict[str, tuple[float, float, tuple[Any, ...]]]:
        """job id → (interval s, jitter s, extra args) for this config."""
        settings = settings_of(config)
        jobs: dict[str, tuple[float, float, tuple[Any, ...]]] = {}
        for spec in config.sources:
            if not spec.enabled:
                continue
            jitter = min(settings.max_jitter, spec.interval * settings.jitter_fraction)
            if collector_class(spec.type).per_brand:
                wanted = {b.casefold() for b in spec.brands}
                for brand in config.brands:
                    if not wanted or brand.name.casefold() in wanted:
                        jobs[f"collect:{spec.name}|{brand.name}"] = (
                            spec.interval,
                            jitter,
                            (spec.name, brand.name),
                        )
            else:
                jobs[f"collect:{spec.name}"] = (spec.interval, jitter, (spec.name, None))
        jobs["process"] = (settings.process_interval, 0.0, ())
        jobs["repoll"] = (settings.repoll_interval, 0.0, ())
        jobs["retention"] = (settings.retention_interval, 0.0, ())
        jobs["digest"] = (settings.digest_interval, 0.0, ())
        jobs["anchor"] = (settings.anchor_interval, 0.0, ())
        jobs["optimize"] = (settings.optimize_interval, 0.0, ())
        return {
            job_id: job
            for job_id, job in jobs.items()
            if job_id.split(":")[0] not in settings.disabled
        }

    def apply(self, config: Config) -> tuple[list[str], list[str]]:
        """Add/replace/remove jobs to match ``config`` without touching jobs that run now."""
        settings = settings_of(config)
        wanted = self.desired_jobs(config)
        existing = {job.id for job in self.scheduler.get_jobs()}
        now = datetime.now(UTC)
        added: list[str] = []
        removed: list[str] = []
        for job_id, (interval, jitter, args) in wanted.items():
            params = (interval, jitter, args, settings.misfire_grace)
            if job_id in existing and self._params.get(job_id) == params:
                continue  # unchanged: keep its place in the timetable
            # New collect jobs start right away (staggered a little); maintenance waits one interval.
            first = None
            if job_id not in existing and job_id.startswith(("collect:", "process")):
                first = now + timedelta(seconds=0.05 * len(added))
            if job_id not in existing:
                added.append(job_id)
            self._add(job_id, interval, jitter, settings, *args, first_run=first)
            self._params[job_id] = params
        for job_id in existing - set(wanted):
            self.scheduler.remove_job(job_id)
            self._params.pop(job_id, None)
            removed.append(job_id)
        return added, removed

    def _invoke(self, job_id: str, *args: Any) -> Any:
        with self._lock:
            self._running.add(job_id)
        try:
            return self._run_job(job_id, *args)
        finally:
            with self._lock:
                self._running.discard(job_id)
                again = job_id in self._held
                self._held.discard(job_id)
            if again:
                self._kicks.put(job_id)

    def run_soon(self, job_id: str) -> None:
        """Ask for ``job_id`` to run now; if it is running, once more when it ends (many asks
        while it runs make one more run). Never blocks: jobs call this, and APScheduler's
        ``shutdown(wait=True)`` holds its job-store lock while it waits for running jobs, so a
        job touching the scheduler directly could deadlock a graceful stop."""
        with self._lock:
            if job_id in self._running:
                self._held.add(job_id)
                return
        self._kicks.put(job_id)

    def _kick_loop(self) -> None:
        while (job_id := self._kicks.get()) is not None:
            with self._lock:
                if job_id in self._running:
                    self._held.add(job_id)
                    continue
            job = self.scheduler.get_job(job_id)
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC))

    def start(self) -> None:
        self.scheduler.start(paused=self._start_paused)
        self._kicker.start()

    def shutdown(self, wait: bool = True) -> None:
        if self._kicker.is_alive():
            self._kicks.put(None)
            self._kicker.join(timeout=10)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self.scheduler.get_jobs())
