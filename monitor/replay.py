"""Replay: the scoring pipeline over recorded posts in simulated time.

Input and output follow ``replay-format.md`` (JSON Lines in, one JSON alert per line out). Each
post becomes visible at ``seen_at`` (else ``published_at``), each snapshot at its ``at`` (never
before its post is visible). At every visible change the post is matched with the brand queries
(:mod:`monitor.query`), scored (:mod:`monitor.risk`: harm, forecast, spread), brand-level hours
are judged for bursts (:mod:`monitor.bursts`) as the simulated clock passes each hour, and the
resulting RiskEvents go through the alert engine (``alerts.engine.AlertEngine`` with an in-memory
archive) when it is installed — else through a minimal grouping: one alert thread per story
(or burst) per brand, re-fired only when its severity escalates, route ``"default"``.

Everything runs in memory (no archive writes except the alert engine's own in-memory SQLite),
in a fixed order, so the same input gives the same output byte for byte.

Extension keys read from the input (optional; other unknown keys are ignored): ``story_id`` puts
posts into one story for spread (without it each post is its own story), ``site`` names the
publishing site of a news post.

Bad input: a line that is not JSON or lacks ``id``/``source``/``text``/``published_at`` (or has an
unreadable timestamp) is skipped and counted in the summary; a duplicated id keeps the first
line; a snapshot that is not an object or has no readable ``at`` is dropped; counts that are not
non-negative integers are treated as missing. Snapshot order, decreasing counts and clock skew
are handled by the forecast (see :mod:`monitor.forecast`).
"""

from __future__ import annotations

import heapq
import importlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.bursts import BurstMonitor, floor_hour
from monitor.config import Brand, Config, default_query_text
from monitor.events import RiskEvent, severity_rank
from monitor.forecast import Calibration
from monitor.harm import HarmEstimate, HarmEstimator
from monitor.query import Document, Query, parse
from monitor.records import Snapshot, parse_iso
from monitor.risk import PostFacts, burst_event, score_post, to_event
from monitor.risk_settings import RiskSettings
from monitor.spread import Mention, spread_of

__all__ = [
    "ReplayAlert",
    "ReplayError",
    "ReplayPost",
    "ReplaySummary",
    "brands_for",
    "read_posts",
    "replay",
]

_HARM_BATCH = 256


class ReplayError(ValueError):
    """The replay cannot start (no brand to match, unreadable file)."""


@dataclass(frozen=True, slots=True)
class ReplayPost:
    """One input line, validated."""

    id: str
    source: str
    text: str
    published_at: datetime
    visible_at: datetime
    title: str = ""
    url: str | None = None
    author: str | None = None
    author_followers: int | None = None
    lang: str | None = None
    brand: str | None = None
    story_id: str | None = None
    site: str | None = None
    snapshots: tuple[Snapshot, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplayAlert:
    """One alert as it fired in simulated time (the replay output format)."""

    post_id: str
    fired_at: datetime
    kind: str
    severity: str
    risk: float
    reasons: tuple[str, ...]
    route: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "post_id": self.post_id,
                "fired_at": self.fired_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kind": self.kind,
                "severity": self.severity,
                "risk": round(self.risk, 4),
                "reasons": list(self.reasons),
                "route": self.route,
            },
            ensure_ascii=False,
        )


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    lines: int
    posts: int
    bad_lines: int
    matched: int
    snapshots: int
    scored: int
    alerts: int
    by_kind: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    weeks: float = 0.0
    harm_method: str = "lexicon"
    grouping: str = "minimal"
    errors: tuple[str, ...] = ()

    @property
    def alerts_per_week(self) -> float:
        return self.alerts / self.weeks if self.weeks > 0 else float(self.alerts)

    def render(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.by_kind.items())) or "none"
        severities = ", ".join(f"{k} {v}" for k, v in sorted(self.by_severity.items())) or "none"
        lines = [
            f"replayed {self.posts} posts ({self.bad_lines} bad lines skipped), "
            f"{self.matched} brand mentions, {self.snapshots} snapshots, {self.scored} scorings",
            f"alerts: {self.alerts} ({kinds}; {severities})",
            f"simulated span: {self.weeks:.2f} weeks, {self.alerts_per_week:.2f} alerts per week",
            f"harm estimator: {self.harm_method}; grouping: {self.grouping}",
        ]
        lines.extend(f"  {error}" for error in self.errors[:10])
        if len(self.errors) > 10:
            lines.append(f"  … and {len(self.errors) - 10} more")
        return "\n".join(lines)


# -- input ----------------------------------------------------------------------------------------


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _snapshots(raw: Any) -> tuple[Snapshot, ...]:
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("at"), str):
            continue
        try:
            at = parse_iso(item["at"])
        except ValueError:
            continue
        found.append(
            Snapshot(
                at,
                _count(item.get("likes")),
                _count(item.get("shares")),
                _count(item.get("comments")),
                _count(item.get("views")),
            )
        )
    return tuple(found)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_line(line: str) -> ReplayPost:
    """One JSONL line → :class:`ReplayPost`; raises ``ValueError`` with the reason."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    for key in ("id", "source", "text", "published_at"):
        if not isinstance(raw.get(key), str) or (key != "text" and not raw[key]):
            raise ValueError(f"missing or non-string '{key}'")
    try:
        published = parse_iso(raw["published_at"])
    except ValueError:
        raise ValueError(f"unreadable published_at {raw['published_at']!r}") from None
    visible = published
    if isinstance(raw.get("seen_at"), str):
        try:
            visible = parse_iso(raw["seen_at"])
        except ValueError:
            raise ValueError(f"unreadable seen_at {raw['seen_at']!r}") from None
    story = raw.get("story_id")
    return ReplayPost(
        id=raw["id"],
        source=raw["source"],
        text=raw["text"],
        published_at=published,
        visible_at=visible,
        title=_text(raw.get("title")) or "",
        url=_text(raw.get("url")),
        author=_text(raw.get("author")),
        author_followers=_count(raw.get("author_followers")),
        lang=_text(raw.get("lang")),
        brand=_text(raw.get("brand")),
        story_id=str(story) if isinstance(story, str | int) and story != "" else None,
        site=_text(raw.get("site")),
        snapshots=_snapshots(raw.get("snapshots")),
    )


def read_posts(lines: Iterable[str]) -> tuple[list[ReplayPost], list[str]]:
    """Parse JSONL lines; returns the posts and one message per skipped line."""
    posts: list[ReplayPost] = []
    errors: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            post = parse_line(line)
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        if post.id in seen:
            errors.append(f"line {number}: duplicate id {post.id!r} (first one kept)")
            continue
        seen.add(post.id)
        posts.append(post)
    return posts, errors


def brands_for(config: Config | None, brand: str | None, query: str | None) -> tuple[Brand, ...]:
    """The brands to match: ``--brand``/``--query`` when given, else the config's brands."""
    if brand or query:
        name = brand or "brand"
        text = query or default_query_text(name, (), ())
        existing = None
        if config is not None and brand:
            try:
                existing = config.brand(brand)
            except KeyError:
                existing = None
        if existing is not None and not query:
            return (existing,)
        return (Brand(name=name, query=parse(text)),)
    return tuple(config.brands) if config is not None else ()


# -- alert grouping -------------------------------------------------------------------------------


class _MinimalGrouping:
    """One thread per story (or burst) per brand; re-fire only when severity escalates."""

    name = "minimal"

    def __init__(self, settings: RiskSettings) -> None:
        self.minimum = severity_rank(settings.alert_min_severity)
        self.fired: dict[str, int] = {}

    def process(self, events: Sequence[RiskEvent]) -> list[ReplayAlert]:
        out = []
        for event in events:
            rank = severity_rank(event.severity)
            if rank < self.minimum:
                continue
            key = event.group_key
            if key in self.fired and rank <= self.fired[key]:
                continue
            self.fired[key] = rank
            out.append(
                ReplayAlert(
                    event.post_id,
                    event.at,
                    event.kind,
                    event.severity,
                    event.risk,
                    event.reasons,
                    "default",
                )
            )
        return out

    def tick(self, now: datetime) -> list[ReplayAlert]:
        return []


class _EngineGrouping:
    """``alerts.engine.AlertEngine`` over an in-memory archive and the simulated clock.

    An alert fires when the engine opens a thread (``action == "fired"``) and again when an
    event joins an open thread with a higher severity than the thread had (escalation).
    Silenced, inhibited and merely grouped events do not fire.
    """

    name = "alerts.engine"

    def __init__(self, module: Any, config: Config, clock: Callable[[], datetime]) -> None:
        from monitor.store import Store

        self.store = Store.open(":memory:")
        self.engine = module.AlertEngine(config, self.store, clock)
        self.levels: dict[str, int] = {}

    def process(self, events: Sequence[RiskEvent]) -> list[ReplayAlert]:
        out = []
        for update in self.engine.process(list(events)):
            rank = severity_rank(update.severity)
            escalated = rank > self.levels.get(update.group_key, rank)
            if not (update.action == "fired" or (update.action == "grouped" and escalated)):
                continue
            self.levels[update.group_key] = rank
            out.append(
                ReplayAlert(
                    update.post_id,
                    update.at,
                    update.kind,
                    update.severity,
                    update.risk,
                    tuple(update.reasons),
                    update.route or "default",
                )
            )
        return out

    def tick(self, now: datetime) -> list[ReplayAlert]:
        self.engine.tick(now)
        return []


def _grouping(
    settings: RiskSettings, config: Config | None, clock: Callable[[], datetime], use_engine: bool
) -> Any:
    if use_engine:
        try:
            module = importlib.import_module("alerts.engine")
        except ImportError:
            module = None
        if module is not None and hasattr(module, "AlertEngine"):
            return _EngineGrouping(module, config or Config(), clock)
    return _MinimalGrouping(settings)


# -- the replay loop ------------------------------------------------------------------------------

_VISIBLE = 0
_SNAPSHOT = 1


@dataclass(slots=True)
class _State:
    post: ReplayPost
    brands: tuple[str, ...]
    harm: HarmEstimate | None = None
    seen: list[Snapshot] = field(default_factory=list)
    visible: bool = False


def _harm_all(
    states: Sequence[_State], estimator: HarmEstimator, progress: Callable[[int], None]
) -> None:
    cache: dict[tuple[str, str | None], HarmEstimate] = {}
    todo: list[tuple[str, str | None]] = []
    for state in states:
        key = (_full_text(state.post), state.post.lang)
        if key not in cache:
            cache[key] = None  # type: ignore[assignment]
            todo.append(key)
    for start in range(0, len(todo), _HARM_BATCH):
        batch = todo[start : start + _HARM_BATCH]
        for key, estimate in zip(
            batch, estimator.assess([k[0] for k in batch], [k[1] for k in batch]), strict=True
        ):
            cache[key] = estimate
        progress(len(batch))
    for state in states:
        state.harm = cache[(_full_text(state.post), state.post.lang)]


def _full_text(post: ReplayPost) -> str:
    return f"{post.title}\n{post.text}" if post.title else post.text


def replay(
    posts: Sequence[ReplayPost],
    *,
    brands: Sequence[Brand],
    settings: RiskSettings,
    estimator: HarmEstimator,
    config: Config | None = None,
    calibration: Calibration | None = None,
    use_engine: bool = True,
    on_alert: Callable[[ReplayAlert], None] | None = None,
    on_event: Callable[[RiskEvent], None] | None = None,
    progress: bool | None = None,
    errors: Sequence[str] = (),
    lines: int | None = None,
) -> tuple[list[ReplayAlert], ReplaySummary]:
    """Play ``posts`` through matching, scoring, bursts and alerting in simulated time.

    ``on_alert`` receives each alert as it fires, ``on_event`` every RiskEvent scored at or
    above ``info`` (for evaluation and backtests that need the full ranking).
    """
    from tqdm import tqdm

    names = {b.name.casefold(): b for b in brands}
    competitor = {b.name: b.is_competitor for b in brands}
    queries = [(b.name, b.query) for b in brands if b.query is not None]
    states: list[_State] = []
    for post in posts:
        if post.brand is not None:
            known = names.get(post.brand.casefold())
            matched: tuple[str, ...] = (known.name if known else post.brand,)
            competitor.setdefault(matched[0], False)
        else:
            if not queries:
                raise ReplayError(
                    f"post {post.id!r} has no 'brand' and there is no brand query: "
                    "give --brand/--query or a config with [[brands]]"
                )
            prepared = Query.prepare(
                Document(
                    post.title,
                    post.text,
                    post.author or "",
                    post.site or "",
                    post.lang or "",
                    post.source,
                )
            )
            matched = tuple(name for name, query in queries if query.matches_prepared(prepared))
        if matched:
            states.append(_State(post, matched))

    events: list[tuple[float, int, int, int, int]] = []
    for index, state in enumerate(states):
        visible = state.post.visible_at
        events.append((visible.timestamp(), _VISIBLE, index, -1, len(events)))
        for snap_index, snap in enumerate(state.post.snapshots):
            at = max(snap.at, visible)
            events.append((at.timestamp(), _SNAPSHOT, index, snap_index, len(events)))
    heapq.heapify(events)

    clock_now = [states[0].post.visible_at if states else datetime(1970, 1, 1, tzinfo=UTC)]
    grouping = _grouping(settings, config, lambda: clock_now[0], use_engine)
    monitor = BurstMonitor(settings.bursts, competitor)
    floor = settings.severity.info
    alerts: list[ReplayAlert] = []
    stories: dict[str, list[int]] = defaultdict(list)
    mentions: dict[str, list[Mention]] = defaultdict(list)
    best: dict[tuple[str, datetime, str], tuple[float, str]] = {}
    scored = 0
    tick = timedelta(seconds=settings.replay_tick)
    next_tick: datetime | None = None

    def emit(found: list[ReplayAlert]) -> None:
        for alert in found:
            alerts.append(alert)
            if on_alert is not None:
                on_alert(alert)

    def judge_bursts(now: datetime) -> None:
        for burst in monitor.advance(now):
            pick = best.get((burst.brand, burst.hour, burst.series))
            if pick is None:
                continue
            at = burst.hour + timedelta(hours=1)
            clock_now[0] = at
            event = burst_event(burst, pick[1], at, settings)
            if on_event is not None:
                on_event(event)
            emit(grouping.process([event]))

    total = len(events) + len(states)
    disable = None if progress is None else not progress
    with tqdm(
        total=total, desc="replay", unit="ev", disable=disable, leave=False, mininterval=0.5
    ) as bar:
        _harm_all(states, estimator, bar.update)
        while events:
            stamp, kind, index, snap_index, _ = heapq.heappop(events)
            bar.update(1)
            now = datetime.fromtimestamp(stamp, UTC)
            judge_bursts(now)
            clock_now[0] = now
            if next_tick is None:
                next_tick = now + tick
            elif now >= next_tick:
                emit(grouping.tick(now))
                next_tick = now + tick
            state = states[index]
            post = state.post
            harm = state.harm
            if harm is None:  # cannot happen: _harm_all fills every state
                continue
            story = post.story_id or post.id
            rescore = [index]
            if kind == _VISIBLE:
                state.visible = True
                negative = harm.harm >= settings.bursts.negative_threshold
                for brand in state.brands:
                    monitor.add(brand, now, negative)
                    for series in ("all", "negative") if negative else ("all",):
                        key = (brand, floor_hour(now), series)
                        rank = (harm.harm, post.id)
                        if key not in best or rank > best[key]:
                            best[key] = rank
                mentions[story].append(Mention(post.source, harm.lang or post.lang, post.site, now))
                if stories[story]:
                    rescore.append(stories[story][0])
                stories[story].append(index)
            else:
                state.seen.append(post.snapshots[snap_index])
            batch: list[RiskEvent] = []
            for target in dict.fromkeys(rescore):
                target_state = states[target]
                target_harm = target_state.harm
                if target_harm is None or not target_state.visible:
                    continue
                # risk ≤ harm^exponent: posts that cannot reach "info" are never scored.
                if target_harm.harm**settings.combine.harm_exponent < floor:
                    continue
                spread = spread_of(
                    mentions[target_state.post.story_id or target_state.post.id], settings.spread
                )
                for brand in target_state.brands:
                    facts = PostFacts(
                        target_state.post.id,
                        brand,
                        target_state.post.source,
                        target_state.post.published_at,
                        target_state.post.author_followers,
                        target_state.post.lang,
                        target_state.post.story_id or target_state.post.id,
                        competitor.get(brand, False),
                    )
                    score = score_post(
                        facts,
                        target_harm,
                        target_state.seen,
                        spread,
                        settings,
                        calibration=calibration,
                        now=now,
                    )
                    scored += 1
                    if score.severity is not None:
                        batch.append(to_event(facts, score, now, settings))
            if batch:
                if on_event is not None:
                    for event in batch:
                        on_event(event)
                emit(grouping.process(batch))
        if states:
            end = max(s.post.visible_at for s in states)
            last = max([end, *(s.at for st in states for s in st.post.snapshots)])
            judge_bursts(last + timedelta(hours=1))
            emit(grouping.tick(last + timedelta(hours=1)))

    start = min((s.post.visible_at for s in states), default=None)
    finish = max((a.fired_at for a in alerts), default=start)
    span_end = max(
        [s.post.visible_at for s in states]
        + [snap.at for s in states for snap in s.post.snapshots]
        + ([finish] if finish else []),
        default=None,
    )
    weeks = (span_end - start).total_seconds() / (7 * 86400) if start and span_end else 0.0
    summary = ReplaySummary(
        lines=lines if lines is not None else len(posts) + len(errors),
        posts=len(posts),
        bad_lines=len(errors),
        matched=sum(len(s.brands) for s in states),
        snapshots=sum(len(s.post.snapshots) for s in states),
        scored=scored,
        alerts=len(alerts),
        by_kind=dict(Counter(a.kind for a in alerts)),
        by_severity=dict(Counter(a.severity for a in alerts)),
        weeks=weeks,
        harm_method=getattr(estimator, "method", "unknown"),
        grouping=grouping.name,
        errors=tuple(errors),
    )
    return alerts, summary
