"""The queue's tasks: the pipeline's stages as procrastinate jobs.

One job per unit of work, each calling the same stage functions as ``groundswell run``:

=============  ===========  ====================  =======================================
task           queue        lock (one at a time)   queueing lock (one waiting at most)
=============  ===========  ====================  =======================================
collect        collect      collect:SOURCE|BRAND  collect:SOURCE|BRAND
classify ids   process      none                  none (each job owns the posts it names)
classify all   process      classify-sweep        classify-sweep
score          process      score-alert           score
alert          process      score-alert           alert
deliver        deliver      deliver               deliver
stage NAME     maintenance  stage:NAME            stage:NAME
=============  ===========  ====================  =======================================

* ``collect`` for one source × brand is serialised, so its cursor in ``source_state`` moves
  forward exactly once per poll; a job with new posts defers ``classify`` jobs for exactly those
  posts, which can run on any number of workers at once (the CPU-heavy part scales out).
* ``score`` waits ``SCORE_DELAY`` seconds after the classify job that asks for it, and the
  classify jobs that finish meanwhile find it waiting (its queueing lock): one scoring pass per
  burst of new posts instead of one per classify job. It reads every mention whose inputs
  changed and hands its events to the alert engine in the same job; it and the alert engine's
  timers share one lock, since both rewrite alert groups.
* ``deliver`` is serialised cluster-wide, and each outbox row is claimed with a lease before it is
  sent, so two workers never send the same idempotency key.
* A worker takes the job furthest down the pipeline first (priorities: deliver 30, score and
  alert 20, classify 10, collect 0, maintenance -10), so a new post reaches an alert before the
  next round of polls is worked through.
* Infrastructure errors (archive locked, queue database gone) raise and are retried with
  backoff; a source that fails is recorded in ``source_state`` and its circuit breaker, as in
  ``groundswell run``, and is not retried here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import procrastinate
from procrastinate import exceptions as queue_errors

from monitor.records import isoformat, utcnow
from monitor.stages import STAGES, StageContext, StageResult, StageUnavailable, collect_stage

__all__ = [
    "CLASSIFY_CHUNK",
    "MAINTENANCE_STAGES",
    "QUEUES",
    "RUNTIME_KEY",
    "Runtime",
    "build_app",
    "classify_posts",
    "collect_lock",
    "defer_quietly",
    "sweep",
]

log = logging.getLogger("groundswell.workers")

QUEUES = ("collect", "process", "deliver", "maintenance")
MAINTENANCE_STAGES = ("repoll", "retention", "digest", "anchor", "optimize")
CLASSIFY_CHUNK = 256  # posts per classify job: big enough for full model batches
SCORE_DELAY = 2.0  # seconds a score job waits, so the classify jobs finishing meanwhile share it
SWEEP_AGE = 600.0  # seconds: an unassessed post this old has lost its classify job
RUNTIME_KEY = "groundswell"


@dataclass(frozen=True, slots=True)
class Runtime:
    """What one worker process gives its jobs: the stage context and a result hook."""

    ctx: StageContext
    record: Callable[[str, StageResult], None]


def collect_lock(source: str, brand: str | None) -> str:
    """The lock of one source × brand (the same key as its row in ``source_state``)."""
    return f"collect:{source}|{brand}" if brand else f"collect:{source}"


def _runtime(context: procrastinate.JobContext) -> Runtime:
    runtime = context.additional_context.get(RUNTIME_KEY)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("this worker was started without a groundswell runtime")
    return runtime


def defer_quietly(
    app: procrastinate.App,
    task: str,
    *,
    lock: str | None,
    queueing: str | None,
    delay: float = 0.0,
    **kwargs: Any,
) -> int | None:
    """Defer a job (``delay`` seconds from now); ``None`` when an identical one is already
    waiting (its queueing lock)."""
    options: dict[str, Any] = {"lock": lock, "queueing_lock": queueing}
    if delay:
        options["schedule_in"] = {"seconds": delay}
    try:
        return app.tasks[task].configure(**options).defer(**kwargs)
    except queue_errors.AlreadyEnqueued:
        return None


def _run(runtime: Runtime, job_id: str, func: Callable[[StageContext], StageResult]) -> StageResult:
    """Run a stage; record its outcome; let infrastructure errors reach the retry strategy."""
    started = time.perf_counter()
    at = isoformat(utcnow())
    try:
        result = func(runtime.ctx)
    except StageUnavailable as exc:
        result = StageResult(job_id, False, 0, f"{exc}: not installed")
    except Exception as exc:
        failed = StageResult(
            job_id, False, 0, f"{type(exc).__name__}: {exc}", time.perf_counter() - started, at
        )
        runtime.record(job_id, failed)
        raise
    result = replace(result, seconds=time.perf_counter() - started, at=at)
    runtime.record(job_id, result)
    return result


def classify_posts(store: Any, classifier: Any, post_ids: Sequence[str], batch: int = 64) -> int:
    """Assess the given posts that this model version has not assessed yet."""
    from monitor.nlp.stage import save_assessments

    if not post_ids:
        return 0
    marks = ",".join("?" * len(post_ids))
    rows = store.conn.execute(
        f"SELECT p.id, p.title, p.text, p.lang FROM posts p WHERE p.id IN ({marks}) "
        "AND NOT EXISTS (SELECT 1 FROM assessments a WHERE a.post_id = p.id "
        "AND a.model_id = ? AND a.model_version = ?) ORDER BY p.first_seen_at, p.id",
        (*post_ids, classifier.model_id, classifier.model_version),
    ).fetchall()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        texts = ["\n".join(p.strip() for p in (r[1], r[2]) if p and p.strip()) for r in chunk]
        results = classifier.classify(texts, [r[3] for r in chunk])
        save_assessments(store, [(r[0], r[3], a) for r, a in zip(chunk, results, strict=True)])
    return len(rows)


def sweep(ctx: StageContext) -> StageResult:
    """Classify posts whose classify job was lost: unassessed and first seen SWEEP_AGE ago.

    Younger posts belong to classify jobs still in the queue, which would otherwise do the same
    work twice.
    """
    classifier = ctx.classifier()
    cutoff = isoformat(ctx.clock() - timedelta(seconds=SWEEP_AGE))
    with ctx.open_store() as store:
        ids = [
            row[0]
            for row in store.conn.execute(
                "SELECT p.id FROM posts p WHERE p.first_seen_at <= ? AND NOT EXISTS ("
                "SELECT 1 FROM assessments a WHERE a.post_id = p.id AND a.model_id = ? "
                "AND a.model_version = ?) ORDER BY p.first_seen_at LIMIT ?",
                (cutoff, classifier.model_id, classifier.model_version, ctx.max_items),
            )
        ]
        count = classify_posts(store, classifier, ids)
    return StageResult("classify", True, count)


def build_app(dsn: str, *, pool_size: int = 4) -> procrastinate.App:
    """The procrastinate app on the queue database ``dsn``, with groundswell's tasks."""
    connector = procrastinate.PsycopgConnector(
        conninfo=dsn,
        min_size=1,
        max_size=max(2, pool_size),
        kwargs={"connect_timeout": 10},
    )
    app = procrastinate.App(connector=connector)
    retry = procrastinate.RetryStrategy(max_attempts=3, exponential_wait=2)

    @app.task(name="collect", queue="collect", priority=0, pass_context=True, retry=retry)
    def collect(context: procrastinate.JobContext, source: str, brand: str | None = None) -> int:
        runtime = _runtime(context)
        job_id = collect_lock(source, brand)
        result = _run(runtime, job_id, lambda ctx: collect_stage(ctx, [source], brand))
        new_ids = list(result.data.new_ids) if result.data is not None else []
        for start in range(0, len(new_ids), CLASSIFY_CHUNK):
            defer_quietly(
                context.app,
                "classify",
                lock=None,
                queueing=None,
                post_ids=new_ids[start : start + CLASSIFY_CHUNK],
            )
        return len(new_ids)

    @app.task(name="classify", queue="process", priority=10, pass_context=True, retry=retry)
    def classify(context: procrastinate.JobContext, post_ids: list[str] | None = None) -> int:
        runtime = _runtime(context)

        def by_ids(ctx: StageContext) -> StageResult:
            classifier = ctx.classifier()
            with ctx.open_store() as store:
                count = classify_posts(store, classifier, post_ids or [])
            return StageResult("classify", True, count)

        stage = by_ids if post_ids is not None else sweep
        result = _run(runtime, "classify", stage)
        if result.ok or "not installed" in result.detail:
            defer_quietly(
                context.app, "score", lock="score-alert", queueing="score", delay=SCORE_DELAY
            )
        return result.count

    @app.task(name="score", queue="process", priority=20, pass_context=True, retry=retry)
    def score(context: procrastinate.JobContext) -> int:
        runtime = _runtime(context)
        scored = _run(runtime, "score", STAGES["score"])
        events = scored.data or []

        def alert(ctx: StageContext) -> StageResult:
            with ctx.open_store() as store:
                engine = ctx.alert_engine(store)
                updates = list(engine.process(events)) if events else []
                updates += list(engine.tick(ctx.clock()) or [])
            return StageResult("alert", True, len(updates), data=updates)

        alerted = _run(runtime, "alert", alert)
        if alerted.count:
            defer_quietly(context.app, "deliver", lock="deliver", queueing="deliver")
        return scored.count

    @app.task(name="alert", queue="process", priority=20, pass_context=True, retry=retry)
    def alert_tick(context: procrastinate.JobContext) -> int:
        result = _run(_runtime(context), "alert", STAGES["alert"])
        if result.count:
            defer_quietly(context.app, "deliver", lock="deliver", queueing="deliver")
        return result.count

    @app.task(name="deliver", queue="deliver", priority=30, pass_context=True, retry=retry)
    def deliver(context: procrastinate.JobContext) -> int:
        return _run(_runtime(context), "deliver", STAGES["deliver"]).count

    @app.task(name="stage", queue="maintenance", priority=-10, pass_context=True, retry=retry)
    def stage(context: procrastinate.JobContext, name: str) -> int:
        if name not in MAINTENANCE_STAGES:
            raise ValueError(f"not a maintenance stage: {name!r}")
        return _run(_runtime(context), name, STAGES[name]).count

    del collect, classify, score, alert_tick, deliver, stage  # registered on the app by name
    return app
