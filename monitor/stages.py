"""The pipeline's stages as plain functions over a :class:`StageContext`.

collect → classify → score → alert → deliver, plus re-polling and maintenance. The scheduler,
the CLI (``groundswell stage NAME``) and the tests all call these. A stage whose feature package is
not installed reports itself unavailable instead of failing the others.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from monitor.config import Config
from monitor.records import isoformat, utcnow
from monitor.risk_settings import risk_settings
from monitor.store import Store
from sources.http import HttpClient

__all__ = [
    "STAGES",
    "StageContext",
    "StageResult",
    "StageUnavailable",
    "collect_stage",
    "run_stage",
]

log = logging.getLogger("groundswell.stages")

TRIAGE_WINDOW = 86400.0  # seconds: lexicon-flagged posts this recent are classified first


class StageUnavailable(RuntimeError):
    """The feature behind a stage is not installed in this build."""


@dataclass
class StageContext:
    """What a stage needs. One per service; stages open their own archive connection."""

    config: Config
    db_path: str
    client: HttpClient
    clock: Callable[[], datetime] = utcnow
    model: str | None = None
    busy_timeout: float = 10.0  # seconds a stage waits for a locked archive before failing
    max_items: int = 2000  # posts one classify run takes on; the next run continues
    process_items: int = 250  # the same inside ``process``, so scoring follows within seconds
    on_open: Callable[[Store], None] | None = None  # e.g. limits for fault tests
    _classifier: Any = field(default=None, repr=False)
    _engine: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def open_store(self) -> Store:
        store = Store.open(self.db_path, timeout=self.busy_timeout)
        if self.on_open is not None:
            self.on_open(store)
        return store

    def classifier(self) -> Any:
        """The sentiment model, loaded once on first use and shared by every later run."""
        with self._lock:
            if self._classifier is None:
                nlp = _feature("monitor.nlp")
                started = time.perf_counter()
                section = self.config.section("model")
                settings = section if isinstance(section, nlp.ModelSettings) else None
                self._classifier = nlp.load_classifier(self.model, settings)
                log.info("model loaded in %.1fs", time.perf_counter() - started)
            return self._classifier

    def alert_engine(self, store: Store) -> Any:
        engine_module = _feature("alerts.engine")
        return engine_module.AlertEngine(self.config, store, self.clock)


@dataclass(frozen=True, slots=True)
class StageResult:
    stage: str
    ok: bool
    count: int = 0
    detail: str = ""
    seconds: float = 0.0
    at: str = ""
    data: Any = None


def _feature(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise StageUnavailable(f"{module} is not installed") from None
        raise


def collect_stage(
    ctx: StageContext, only: Sequence[str] | None = None, brand: str | None = None
) -> StageResult:
    from monitor.pipeline import poll

    with ctx.open_store() as store:
        report = poll(ctx.config, store, ctx.client, only=only, brand=brand, clock=ctx.clock)
    failed = [r for r in report.sources if not r.ok]
    detail = "; ".join(f"{r.key}: {r.error}" for r in failed)
    return StageResult("collect", not report.all_failed, report.new, detail, data=report)


def _classify(ctx: StageContext, limit: int | None = None) -> StageResult:
    stage = _feature("monitor.nlp.stage")
    classifier = ctx.classifier()
    # Posts the lexicon already scored at info or above in the last day go to the model first.
    risk = risk_settings(ctx.config)
    since = isoformat(ctx.clock() - timedelta(seconds=TRIAGE_WINDOW))
    with ctx.open_store() as store:
        # Bounded per run: the next run takes the rest, so a backlog never holds up a graceful stop.
        count = stage.classify_pending(
            store,
            classifier,
            limit=limit or ctx.max_items,
            first_risk=risk.severity.info,
            first_since=since,
        )
    return StageResult("classify", True, int(count))


def _score(ctx: StageContext) -> StageResult:
    risk = _feature("monitor.risk")
    with ctx.open_store() as store:
        events = risk.score_pending(store, ctx.config, ctx.clock())
    return StageResult("score", True, len(events), data=events)


def _alert(ctx: StageContext, events: Sequence[Any] = ()) -> StageResult:
    with ctx.open_store() as store:
        engine = ctx.alert_engine(store)
        updates = list(engine.process(events)) if events else []
        updates += list(engine.tick(ctx.clock()) or [])
    return StageResult("alert", True, len(updates), data=updates)


def _deliver(ctx: StageContext) -> StageResult:
    delivery = _feature("alerts.delivery")
    with ctx.open_store() as store:
        report = delivery.deliver_pending(store, ctx.config, ctx.clock())
    sent = getattr(report, "sent", 0)
    failed = getattr(report, "failed", 0)
    return StageResult(
        "deliver", True, int(sent), f"{failed} failed" if failed else "", data=report
    )


def _process(ctx: StageContext) -> StageResult:
    """classify → score → alert → deliver, each skipped when its feature is absent."""
    results = []
    events: Sequence[Any] = ()

    def classify(c: StageContext) -> StageResult:
        return _classify(c, c.process_items)

    for name, func in (("classify", classify), ("score", _score)):
        result = run_stage(ctx, name, func)
        results.append(result)
        if name == "score" and result.ok and result.data:
            events = result.data
    results.append(run_stage(ctx, "alert", lambda c: _alert(c, events)))
    results.append(run_stage(ctx, "deliver", _deliver))
    detail = ", ".join(f"{r.stage} {r.count}" if r.ok else f"{r.stage} {r.detail}" for r in results)
    return StageResult(
        "process",
        all(r.ok or "not installed" in r.detail for r in results),
        sum(r.count for r in results),
        detail,
        data=results,
    )


def _repoll(ctx: StageContext) -> StageResult:
    repoll = _feature("monitor.repoll")
    with ctx.open_store() as store:
        report = repoll.repoll_due(store, ctx.config, ctx.client, ctx.clock())
    return StageResult("repoll", True, int(getattr(report, "refreshed", 0) or 0), str(report))


def _retention(ctx: StageContext) -> StageResult:
    retention = _feature("monitor.retention")
    with ctx.open_store() as store:
        report = retention.run_retention(store, ctx.config, ctx.clock())
    return StageResult("retention", True, int(getattr(report, "purged", 0) or 0), str(report))


def _digest(ctx: StageContext) -> StageResult:
    digest = _feature("alerts.digest")
    with ctx.open_store() as store:
        sent = digest.send_due_digests(store, ctx.config, ctx.clock())
    return StageResult("digest", True, int(sent or 0))


def _anchor(ctx: StageContext) -> StageResult:
    """Copy the audit chain head to the anchor file (``[retention] anchor_file``) when configured."""
    retention = _feature("monitor.retention")
    with ctx.open_store() as store:
        head = retention.write_anchor_if_configured(store, ctx.config)
    return StageResult("anchor", True, 1 if head else 0, head or "no anchor_file configured")


def _optimize(ctx: StageContext) -> StageResult:
    """PRAGMA optimize, a WAL checkpoint, and a consistent backup with SQLite's backup API."""
    settings = ctx.config.section("scheduler")
    backup_dir = getattr(settings, "backup_dir", None)
    with ctx.open_store() as store:
        store.conn.execute("PRAGMA optimize")
        store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        if backup_dir:
            target = Path(backup_dir) / f"groundswell-{ctx.clock().strftime('%Y%m%dT%H%M%SZ')}.db"
            target.parent.mkdir(parents=True, exist_ok=True)
            import sqlite3

            with sqlite3.connect(target) as copy:
                store.conn.backup(copy)
            copy.close()
            return StageResult("optimize", True, 1, f"backup {target}")
    return StageResult("optimize", True, 0)


STAGES: MappingProxyType[str, Callable[[StageContext], StageResult]] = MappingProxyType(
    {
        "collect": collect_stage,
        "classify": _classify,
        "score": _score,
        "alert": _alert,
        "deliver": _deliver,
        "process": _process,
        "repoll": _repoll,
        "retention": _retention,
        "digest": _digest,
        "anchor": _anchor,
        "optimize": _optimize,
    }
)


def run_stage(
    ctx: StageContext, name: str, func: Callable[[StageContext], StageResult] | None = None
) -> StageResult:
    """Run one stage, turning failures into a result (a stage never takes the service down)."""
    func = func or STAGES[name]
    started = time.perf_counter()
    at = isoformat(utcnow())
    try:
        result = func(ctx)
    except StageUnavailable as exc:
        return StageResult(
            name, False, 0, f"{exc}: not installed", time.perf_counter() - started, at
        )
    except Exception as exc:  # the boundary: record and keep the service running
        log.exception("stage %s failed", name)
        return StageResult(
            name, False, 0, f"{type(exc).__name__}: {exc}", time.perf_counter() - started, at
        )
    return replace(result, seconds=time.perf_counter() - started, at=at)
