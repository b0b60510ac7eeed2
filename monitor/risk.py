"""Viral risk: harm × reach (lifted by spread and velocity) → a 0..1 score, a severity and reasons.

::

    reach_eff = 1 − (1 − reach) · (1 − spread_weight · spread) · (1 − velocity_weight · fast)
    risk      = harm^harm_exponent · reach_eff^reach_exponent   (× competitor_factor for rivals)

``harm`` comes from :mod:`monitor.harm`, ``reach`` from the forecast (:mod:`monitor.forecast`),
``spread`` from the story (:mod:`monitor.spread`), ``fast = 1 − exp(−units per hour /
velocity_reference)``. A harmless viral post and a harmful post nobody shares both stay low;
a specific, angry complaint that is starting to travel goes up. Every score carries reasons a
person can read, with the numbers: ``complaint (0.93, de)``, ``legal threat``, ``shares ×6 in
40 min``, ``forecast 12k engagement``, ``author 48k followers``, ``picked up by 2 news sites``.

The stage :func:`score_pending` rescoring posts whose snapshots, assessment or story changed, and
judging the brand-level bursts of the hours that ended, lives here too; its scores are stored in
``risk_scores`` (one row per change), its bursts in ``bursts``. It is incremental: a bounded
batch per run, the forecast calibration stored in ``risk_calibration`` and re-learned only when
its cutoff moves on, and hourly mention counts kept in ``burst_hours``, so a run costs what
changed since the last one, not what the archive holds.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from monitor.bursts import Burst, BurstMonitor, floor_hour
from monitor.events import EventKind, RiskEvent, Severity, severity_rank
from monitor.forecast import (
    Calibration,
    Forecast,
    SourceCalibration,
    describe,
    forecast,
    learn_calibration,
)
from monitor.harm import CUE_LABELS, HarmEstimate, LexiconHarm, combine_harm
from monitor.records import Snapshot, isoformat, parse_iso
from monitor.risk_settings import ForecastSettings, RiskSettings, risk_settings
from monitor.spread import Mention, Spread, spread_of

__all__ = [
    "PostFacts",
    "RiskScore",
    "burst_event",
    "burst_reasons",
    "calibration_cutoff",
    "combine",
    "render_reasons",
    "saturation_gap",
    "score_pending",
    "score_post",
    "severity_of",
    "stored_calibration",
    "to_event",
]


@dataclass(frozen=True, slots=True)
class PostFacts:
    """What scoring needs to know about a post besides its snapshots and text harm."""

    post_id: str
    brand: str
    source: str
    published_at: datetime | None
    author_followers: int | None = None
    lang: str | None = None
    story_id: str | None = None
    is_competitor: bool = False


@dataclass(frozen=True, slots=True)
class RiskScore:
    """One post's risk at one moment, with everything behind it."""

    risk: float
    severity: Severity | None  # None: below the info threshold
    reasons: tuple[str, ...]
    harm: HarmEstimate
    forecast: Forecast
    spread: Spread
    reach_effective: float

    def components(self) -> dict[str, Any]:
        f = self.forecast
        return {
            "harm": round(self.harm.harm, 4),
            "complaint": round(self.harm.complaint, 4),
            "negative": round(self.harm.negative, 4),
            "cues": list(self.harm.cues),
            "harm_method": self.harm.method,
            "reach": round(f.reach, 4),
            "reach_effective": round(self.reach_effective, 4),
            "engagement": round(f.current, 2),
            "forecast": round(f.final, 2),
            "forecast_loglinear": round(f.loglinear, 2),
            "forecast_hawkes": None if f.hawkes is None else round(f.hawkes, 2),
            "kappa": None if f.kappa is None else round(f.kappa, 4),
            "age_s": round(f.age, 1),
            "snapshots": f.snapshots,
            "spread": round(self.spread.score, 4),
            "mentions": self.spread.mentions,
            "sources": list(self.spread.sources),
            "news_sites": list(self.spread.news_sites),
        }


def severity_of(risk: float, settings: RiskSettings) -> Severity | None:
    """The highest severity whose threshold ``risk`` reaches, or None below ``info``."""
    thresholds = settings.severity
    if risk >= thresholds.critical:
        return "critical"
    if risk >= thresholds.warning:
        return "warning"
    if risk >= thresholds.info:
        return "info"
    return None


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def combine(
    harm: float,
    reach: float,
    spread: float,
    units_per_hour: float,
    settings: RiskSettings,
    *,
    is_competitor: bool = False,
) -> tuple[float, float]:
    """(risk, effective reach) from the components; the formula is in the module docstring."""
    c = settings.combine
    harm = min(1.0, max(0.0, _finite(harm)))
    reach = min(1.0, max(0.0, _finite(reach)))
    spread = min(1.0, max(0.0, _finite(spread)))
    fast = 1.0 - math.exp(-max(_finite(units_per_hour), 0.0) / max(c.velocity_reference, 1e-9))
    reach_eff = 1.0 - (1.0 - reach) * (1.0 - c.spread_weight * spread) * (
        1.0 - c.velocity_weight * fast
    )
    reach_eff = min(1.0, max(0.0, reach_eff))
    risk = (harm**c.harm_exponent) * (reach_eff**c.reach_exponent)
    if is_competitor:
        risk *= c.competitor_factor
    return min(1.0, max(0.0, _finite(risk))), reach_eff


def render_reasons(
    harm: HarmEstimate,
    fc: Forecast,
    spread: Spread,
    author_followers: int | None,
    *,
    source: str | None = None,
) -> tuple[str, ...]:
    """Reasons a person can read, strongest first, each with its numbers."""
    reasons: list[str] = []
    where = f", {harm.lang}" if harm.lang else ""
    if harm.complaint >= 0.5:
        reasons.append(f"complaint ({harm.complaint:.2f}{where})")
    elif harm.negative >= 0.5:
        reasons.append(f"negative ({harm.negative:.2f}{where})")
    reasons.extend(CUE_LABELS.get(cue, cue.replace("_", " ")) for cue in harm.cues)
    speed = fc.velocity
    if speed is not None and speed.after >= 5 and speed.factor >= 2.0:
        reasons.append(f"{speed.metric} ×{speed.factor:.0f} in {_minutes(speed.minutes)}")
    if not fc.from_prior and fc.final >= max(2.0 * fc.current, fc.current + 10):
        reasons.append(f"forecast {describe(fc.final)} engagement (now {describe(fc.current)})")
    elif fc.current >= 10:
        reasons.append(f"engagement {describe(fc.current)}" + (f" on {source}" if source else ""))
    if author_followers and author_followers >= 1000:
        reasons.append(f"author {describe(author_followers)} followers")
    if spread.news_sites and spread.mentions > 1:
        sites = len(spread.news_sites)
        reasons.append(f"picked up by {sites} news site{'s' if sites != 1 else ''}")
    if len(spread.sources) > 1:
        reasons.append(f"on {len(spread.sources)} sources")
    if len(spread.languages) > 1:
        reasons.append(f"in {len(spread.languages)} languages")
    if harm.method == "lexicon":
        reasons.append("harm from the lexicon (no model)")
    return tuple(reasons)


def _minutes(minutes: float) -> str:
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.0f} h"
    return f"{minutes / 1440:.0f} days"


def score_post(
    facts: PostFacts,
    harm: HarmEstimate,
    snapshots: Sequence[Snapshot],
    spread: Spread,
    settings: RiskSettings,
    *,
    calibration: Calibration | None = None,
    now: datetime | None = None,
) -> RiskScore:
    """Score one post at ``now`` from its visible snapshots, text harm and story spread."""
    fc = forecast(
        snapshots,
        source=facts.source,
        published_at=facts.published_at,
        author_followers=facts.author_followers,
        settings=settings.forecast,
        calibration=calibration,
        now=now,
    )
    speed = fc.velocity.units_per_hour if fc.velocity is not None else 0.0
    risk, reach_eff = combine(
        harm.harm, fc.reach, spread.score, speed, settings, is_competitor=facts.is_competitor
    )
    reasons = render_reasons(harm, fc, spread, facts.author_followers, source=facts.source)
    return RiskScore(risk, severity_of(risk, settings), reasons, harm, fc, spread, reach_eff)


def to_event(facts: PostFacts, score: RiskScore, at: datetime, settings: RiskSettings) -> RiskEvent:
    """The RiskEvent for a scored post (severity at least ``info`` for the record)."""
    kind: EventKind = "story" if score.spread.mentions > 1 else "post"
    return RiskEvent(
        kind=kind,
        brand=facts.brand,
        post_id=facts.post_id,
        at=at,
        risk=round(score.risk, 4),
        severity=score.severity or "info",
        reasons=score.reasons,
        story_id=facts.story_id,
        source=facts.source,
        lang=score.harm.lang or facts.lang,
        cues=score.harm.cues,
        is_competitor=facts.is_competitor,
    )


def burst_reasons(burst: Burst, settings: RiskSettings) -> tuple[str, ...]:
    what = "negative mentions" if burst.series == "negative" else "mentions"
    if burst.kind == "spike":
        return (
            f"{what} burst: {burst.count} in 1 h vs {burst.expected:.1f} expected "
            f"(×{burst.ratio:.1f}, p={burst.p_value:.1g})",
        )
    return (
        f"{what} rising for hours: {burst.count} in the last hour vs {burst.expected:.1f} "
        f"expected (CUSUM {burst.cusum:.1f} > {settings.bursts.cusum_h:g})",
    )


def burst_event(burst: Burst, post_id: str, at: datetime, settings: RiskSettings) -> RiskEvent:
    """A brand-level burst as a RiskEvent (kind ``burst``)."""
    b = settings.bursts
    risk = b.burst_risk if burst.kind == "spike" else b.ramp_risk
    if burst.series == "negative":
        risk += b.negative_bonus
    if burst.is_competitor:
        risk *= settings.combine.competitor_factor
    risk = min(1.0, max(0.0, risk))
    return RiskEvent(
        kind="burst",
        brand=burst.brand,
        post_id=post_id,
        at=at,
        risk=round(risk, 4),
        severity=severity_of(risk, settings) or "info",
        reasons=burst_reasons(burst, settings),
        story_id=f"burst:{burst.brand}:{burst.series}:{isoformat(burst.hour)}",
        is_competitor=burst.is_competitor,
        extra_labels=MappingProxyType({"series": burst.series, "burst": burst.kind}),
    )


# -- the stage ------------------------------------------------------------------------------------

_CALIBRATION_NAME = "forecast"
_CHUNK = 500  # ids per IN (...) lookup


def _table_exists(store: Any, name: str) -> bool:
    row = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def calibration_cutoff(now: datetime, settings: ForecastSettings) -> datetime:
    """Posts published up to this moment teach the calibration used at ``now``.

    Half a horizon back, floored to a multiple of ``calibration_refresh`` (counted from the
    Unix epoch), so consecutive runs share one cutoff and the stored calibration is reused
    until the cutoff moves on.
    """
    raw = now - timedelta(seconds=settings.horizon / 2)
    step = settings.calibration_refresh
    if step <= 0:
        return raw
    return datetime.fromtimestamp(math.floor(raw.timestamp() / step) * step, UTC)


def _fingerprint(settings: ForecastSettings) -> str:
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:20]


def _dump_calibration(calibration: Calibration) -> str:
    return json.dumps(
        {
            source: {
                "ratios": list(c.ratios),
                "ordinary": c.ordinary,
                "viral": c.viral,
                "posts": c.posts,
            }
            for source, c in sorted(calibration.sources.items())
        },
        sort_keys=True,
    )


def _load_calibration(text: str) -> Calibration | None:
    try:
        raw = json.loads(text)
        learned = {
            str(source): SourceCalibration(
                tuple(None if r is None else float(r) for r in item["ratios"]),
                None if item["ordinary"] is None else float(item["ordinary"]),
                None if item["viral"] is None else float(item["viral"]),
                int(item["posts"]),
            )
            for source, item in raw.items()
        }
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return Calibration(MappingProxyType(learned))


def _learn_calibration(store: Any, fs: ForecastSettings, cutoff: str) -> tuple[Calibration, int]:
    rows = store.conn.execute(
        "SELECT id, source, published_at FROM posts WHERE published_at IS NOT NULL "
        "AND published_at <= ? ORDER BY published_at DESC, id DESC LIMIT ?",
        (cutoff, fs.calibration_sample),
    ).fetchall()
    if len(rows) < fs.calibration_min_posts:
        return Calibration(), len(rows)
    by_post = _snapshots_of(store, [row[0] for row in rows])
    histories = (
        (source, parse_iso(published), by_post[post_id])
        for post_id, source, published in rows
        if by_post.get(post_id)
    )
    return learn_calibration(histories, fs), len(rows)


def stored_calibration(store: Any, settings: RiskSettings, now: datetime) -> Calibration:
    """The forecast calibration for ``now``: the stored one while its cutoff and settings still
    apply, else learned again from the archive (up to ``calibration_sample`` finished posts)
    and stored.

    The result depends only on the archive and the cutoff, never on when the service started:
    a restarted service reuses the stored row, and a replay of the same calls learns the same.
    """
    fs = settings.forecast
    cutoff = isoformat(calibration_cutoff(now, fs))
    fingerprint = _fingerprint(fs)
    row = store.conn.execute(
        "SELECT settings, cutoff, data FROM risk_calibration WHERE name = ?", (_CALIBRATION_NAME,)
    ).fetchone()
    if row is not None and row[0] == fingerprint and row[1] == cutoff:
        cached = _load_calibration(row[2])
        if cached is not None:
            return cached
    calibration, posts = _learn_calibration(store, fs, cutoff)
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO risk_calibration (name, settings, cutoff, learned_at, posts, "
            "data) VALUES (?, ?, ?, ?, ?, ?)",
            (
                _CALIBRATION_NAME,
                fingerprint,
                cutoff,
                isoformat(now),
                posts,
                _dump_calibration(calibration),
            ),
        )
    return calibration


def saturation_gap(settings: RiskSettings) -> float:
    """How far below 1 a story's spread must be for its growth to still matter to a mention.

    Spread lifts effective reach by at most ``spread_weight · Δspread``, and risk grows with
    effective reach ``r`` by ``r^b``, whose slope is at most ``b`` for ``b ≥ 1`` and, for
    ``b < 1``, at most ``b · (spread_weight / 2)^(b − 1)`` once spread is past ½ (``r`` is at
    least ``spread_weight · spread``). So a mention scored at spread ``s`` is within
    ``rescore_min_change`` of its exact risk whatever its story does next when
    ``1 − s`` is below the gap returned here (at most ½).
    """
    c = settings.combine
    w = max(c.spread_weight, 1e-9)
    b = max(c.reach_exponent, 1e-9)
    slope = b if b >= 1.0 else b * (w / 2.0) ** (b - 1.0)
    lift = max(c.competitor_factor, 1.0) * w * slope
    return min(0.5, settings.rescore_min_change / lift)


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _snapshots_of(store: Any, post_ids: Sequence[str]) -> dict[str, list[Snapshot]]:
    """Snapshots per post, in time order, for many posts at once."""
    by_post: dict[str, list[Snapshot]] = defaultdict(list)
    for chunk in _chunks(post_ids):
        marks = ",".join("?" * len(chunk))
        for post_id, at, likes, shares, comments, views in store.conn.execute(
            f"SELECT post_id, at, likes, shares, comments, views FROM snapshots "
            f"WHERE post_id IN ({marks}) ORDER BY post_id, at",
            list(chunk),
        ):
            by_post[post_id].append(Snapshot(parse_iso(at), likes, shares, comments, views))
    return by_post


def _assessments_of(
    store: Any, post_ids: Sequence[str]
) -> dict[str, tuple[float, float, list[str], str | None]]:
    """The latest assessment per post (complaint, negative, cue names, lang)."""
    found: dict[str, tuple[float, float, list[str], str | None]] = {}
    for chunk in _chunks(post_ids):
        marks = ",".join("?" * len(chunk))
        rows = store.conn.execute(
            f"SELECT post_id, complaint, p_negative, cues, lang FROM assessments "
            f"WHERE post_id IN ({marks}) "
            f"ORDER BY post_id, assessed_at, model_id, model_version",
            list(chunk),
        )
        for post_id, complaint, negative, cues_json, lang in rows:
            try:
                raw = json.loads(cues_json) if cues_json else []
            except ValueError:
                raw = []
            cues = [c if isinstance(c, str) else str(c.get("name", "")) for c in raw if c]
            # Rows come oldest first: the last one per post wins.
            found[post_id] = (
                float(complaint or 0.0),
                float(negative or 0.0),
                [c for c in cues if c],
                lang,
            )
    return found


def _story_mentions_of(store: Any, story_ids: Sequence[str]) -> dict[str, list[Mention]]:
    """Every post of these stories as a Mention, per story."""
    found: dict[str, list[Mention]] = defaultdict(list)
    for chunk in _chunks(story_ids):
        marks = ",".join("?" * len(chunk))
        for story_id, source, lang, site, seen in store.conn.execute(
            f"SELECT story_id, source, lang, site, first_seen_at FROM posts "
            f"WHERE story_id IN ({marks}) ORDER BY story_id, id",
            list(chunk),
        ):
            found[story_id].append(Mention(source, lang, site, parse_iso(seen)))
    return found


_PENDING = """
    SELECT pb.post_id, pb.brand, last.at, last.risk, last.severity,
           p.source, p.published_at, p.author_followers, p.lang, p.story_id, p.title, p.text,
           p.site, p.first_seen_at
    FROM post_brands pb JOIN posts p ON p.id = pb.post_id
    LEFT JOIN risk_scores last ON last.post_id = pb.post_id AND last.brand = pb.brand
         AND last.at = (SELECT max(x.at) FROM risk_scores x
                        WHERE x.post_id = pb.post_id AND x.brand = pb.brand)
    WHERE coalesce(p.published_at, p.first_seen_at) >= ?
      AND (last.at IS NULL
           OR EXISTS (SELECT 1 FROM snapshots s WHERE s.post_id = pb.post_id AND s.at > last.at)
           OR (p.story_id IS NOT NULL AND last.harm >= ? AND coalesce(last.spread, 0) < ? AND EXISTS (
               SELECT 1 FROM posts o WHERE o.story_id = p.story_id AND o.first_seen_at > last.at))
           {assessed})
    ORDER BY last.at IS NOT NULL, last.risk DESC, coalesce(p.published_at, p.first_seen_at) DESC,
             pb.post_id, pb.brand
    {limit}
"""


def score_pending(
    store: Any, config: Any, now: datetime, *, limit: int | None = None
) -> list[RiskEvent]:
    """Score brand mentions whose snapshots, assessment or story changed since their last score.

    Every rescoring is stored in ``risk_scores`` (the score history: one row per new snapshot,
    assessment or story mention); an event is returned when risk moved by at least
    ``rescore_min_change`` or the severity changed. One run takes on at most ``limit`` (default
    ``[risk] score_batch``) mentions: never-scored ones first (newest first), then rescorings,
    the riskiest first (a complaint closing in on a severity is rescored with its new
    engagement before chatter that cannot alert), then the youngest; the next run continues.
    Hours that ended since the last run are judged for brand-level bursts (stored in
    ``bursts``). Returns the RiskEvents at or above ``event_min_severity``,
    bursts included, for the alert engine.

    Harm comes from the model's stored assessment when there is one, else from the lexicon.
    The forecast calibration is the stored one while its cutoff holds (:func:`stored_calibration`).
    """
    settings = risk_settings(config)
    competitors = {b.name: b.is_competitor for b in getattr(config, "brands", ())}
    calibration = stored_calibration(store, settings, now)
    lexicon = LexiconHarm(settings.harm)
    has_assessments = _table_exists(store, "assessments")
    horizon = isoformat(now - timedelta(seconds=settings.forecast.horizon))
    now_text = isoformat(now)
    assessed = (
        " OR EXISTS (SELECT 1 FROM assessments a "
        "WHERE a.post_id = pb.post_id AND a.assessed_at > last.at)"
        if has_assessments
        else ""
    )
    batch = settings.score_batch if limit is None else limit
    # A story's growth changes only spread, and risk = harm^a x reach^b with reach <= 1: a
    # mention whose harm keeps it below the lowest severity whatever the spread is not
    # rescored for its story alone, nor one whose story's spread is so close to 1 that no
    # growth can move its risk by rescore_min_change (big syndicated stories would otherwise
    # rescore every mention on every new copy). Its own snapshots or a new assessment still
    # rescore it.
    ceiling = settings.severity.info / max(settings.combine.competitor_factor, 1.0)
    story_harm = ceiling ** (1.0 / max(settings.combine.harm_exponent, 1e-9))
    pending = store.conn.execute(
        _PENDING.format(assessed=assessed, limit=f"LIMIT {int(batch)}" if batch > 0 else ""),
        (horizon, story_harm, 1.0 - saturation_gap(settings)),
    ).fetchall()
    post_ids = sorted({row[0] for row in pending})
    snapshots = _snapshots_of(store, post_ids)
    assessments = _assessments_of(store, post_ids) if has_assessments else {}
    stories = _story_mentions_of(store, sorted({row[9] for row in pending if row[9]}))
    # One story's spread is the same for each of its mentions: summarised once a run.
    spreads = {story: spread_of(mentions, settings.spread) for story, mentions in stories.items()}
    events: list[RiskEvent] = []
    minimum = severity_rank(settings.event_min_severity)
    rows_out: list[tuple[Any, ...]] = []
    for row in pending:
        (post_id, brand, last_at, last_risk, last_severity, source, published_text) = row[:7]
        followers, lang, story_id, title, text, site, first_seen = row[7:]
        published = parse_iso(published_text) if published_text else None
        facts = PostFacts(
            post_id,
            brand,
            source,
            published,
            followers,
            lang,
            story_id,
            competitors.get(brand, False),
        )
        found = assessments.get(post_id)
        if found is not None:
            complaint, negative, cues, assessed_lang = found
            harm = combine_harm(
                complaint,
                negative,
                cues,
                settings.harm,
                lang=assessed_lang or lang,
                method="assessment",
            )
        else:
            harm = lexicon.assess([" ".join(filter(None, [title, text]))], [lang])[0]
        spread = spreads.get(story_id) if story_id else None
        if spread is None:
            spread = spread_of(
                [Mention(source, lang, site, parse_iso(first_seen))], settings.spread
            )
        score = score_post(
            facts,
            harm,
            snapshots.get(post_id, []),
            spread,
            settings,
            calibration=calibration,
            now=now,
        )
        changed = (
            last_at is None
            or abs(score.risk - (last_risk or 0.0)) >= settings.rescore_min_change
            or score.severity != last_severity
        )
        # Every rescoring is stored (it follows new data), so the post is not pending again.
        rows_out.append(
            (
                post_id,
                brand,
                now_text,
                "story" if spread.mentions > 1 else "post",
                round(score.risk, 4),
                score.severity,
                round(harm.harm, 4),
                round(score.forecast.reach, 4),
                round(spread.score, 4),
                round(score.forecast.final, 2),
                json.dumps(list(score.reasons), ensure_ascii=False),
                json.dumps(score.components(), sort_keys=True),
            )
        )
        if score.severity is not None and severity_rank(score.severity) >= minimum and changed:
            events.append(to_event(facts, score, now, settings))
    if rows_out:
        with store.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO risk_scores (post_id, brand, at, kind, risk, severity, "
                "harm, reach, spread, forecast, reasons, components) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows_out,
            )
    events.extend(_store_bursts(store, settings, competitors, now))
    return events


def _hour_counts(
    store: Any, since: datetime, until: datetime, threshold: float
) -> dict[str, dict[datetime, tuple[int, int]]]:
    """Per brand and hour of first sight in [since, until): (mentions, negative mentions).

    A mention is negative when the highest harm any of its scores had reaches ``threshold``;
    a mention not scored yet counts as not negative.
    """
    counts: dict[str, dict[datetime, list[int]]] = defaultdict(dict)
    rows = store.conn.execute(
        """
        SELECT pb.brand, p.first_seen_at,
               coalesce((SELECT max(r.harm) FROM risk_scores r
                         WHERE r.post_id = pb.post_id AND r.brand = pb.brand), 0)
        FROM posts p CROSS JOIN post_brands pb ON pb.post_id = p.id
        WHERE p.first_seen_at >= ? AND p.first_seen_at < ?
        """,
        (isoformat(since), isoformat(until)),
    )
    hours: dict[str, datetime] = {}
    for brand, seen, harm in rows:
        key = seen[:13]  # stored as isoformat(): the hour is the first 13 characters
        hour = hours.get(key)
        if hour is None:
            hour = hours[key] = floor_hour(parse_iso(seen))
        slot = counts[brand].setdefault(hour, [0, 0])
        slot[0] += 1
        slot[1] += int(float(harm) >= threshold)
    return {
        brand: {hour: (c[0], c[1]) for hour, c in by_hour.items()}
        for brand, by_hour in counts.items()
    }


def _store_bursts(
    store: Any,
    settings: RiskSettings,
    competitors: Mapping[str, bool],
    now: datetime,
) -> list[RiskEvent]:
    """Judge the hours that ended since the last run, per brand, against the brand's history.

    Hourly counts of judged hours are kept in ``burst_hours``, so judging a new hour reads only
    that hour's posts plus at most ``history_weeks`` of hourly counts; a brand's counts are
    rebuilt from the posts once (first run, or an archive from before ``burst_hours``). A judged
    hour's counts are final: a mention that turns negative later does not change them.
    """
    b = settings.bursts
    end = floor_hour(now)
    start = end - timedelta(hours=b.history_weeks * 168)
    state = {
        brand: (parse_iso(until), bool(counted))
        for brand, until, counted in store.conn.execute(
            "SELECT brand, evaluated_until, counted FROM burst_state"
        )
    }
    if (
        state
        and all(name in state for name in competitors)
        and all(until >= end for until, _ in state.values())
    ):
        return []  # every known brand is judged up to this hour: nothing to read
    brands = sorted(
        {row[0] for row in store.conn.execute("SELECT DISTINCT brand FROM post_brands")}
        | set(competitors)
    )
    due = [name for name in brands if name not in state or state[name][0] < end]
    if not due:
        return []

    def since_of(name: str) -> datetime:
        until, counted = state.get(name, (None, False))
        return max(until, start) if counted and until is not None else start

    fresh_counts = _hour_counts(
        store, min(since_of(name) for name in due), end, b.negative_threshold
    )
    events: list[RiskEvent] = []
    for brand in due:
        evaluated, counted = state.get(brand, (None, False))
        since = since_of(brand)
        new = {h: c for h, c in fresh_counts.get(brand, {}).items() if h >= since}
        history: dict[datetime, tuple[int, int]] = {}
        if counted and since > start:
            history = {
                parse_iso(hour): (total, negative)
                for hour, total, negative in store.conn.execute(
                    "SELECT hour, total, negative FROM burst_hours "
                    "WHERE brand = ? AND hour >= ? AND hour < ?",
                    (brand, isoformat(start), isoformat(since)),
                )
            }
        counts = {**history, **new}
        fresh: list[Burst] = []
        if counts:
            monitor = BurstMonitor(b, {brand: competitors.get(brand, False)})
            monitor.feed_history(
                [(brand, "all", hour, total) for hour, (total, _) in sorted(counts.items())]
                + [(brand, "negative", hour, neg) for hour, (_, neg) in sorted(counts.items())]
            )
            judged = monitor.advance(end)
            fresh = [x for x in judged if evaluated is None or x.hour >= evaluated]
            # On the very first run only the last finished hour may alert; older hours are history.
            if evaluated is None:
                fresh = [x for x in fresh if x.hour >= end - timedelta(hours=1)]
        with store.transaction() as conn:
            for burst in fresh:
                post_id = _representative(store, burst)
                conn.execute(
                    "INSERT OR IGNORE INTO bursts (brand, series, hour, kind, count, expected, "
                    "p_value, cusum, is_competitor, post_id, detected_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        burst.brand,
                        burst.series,
                        isoformat(burst.hour),
                        burst.kind,
                        burst.count,
                        burst.expected,
                        burst.p_value,
                        burst.cusum,
                        int(burst.is_competitor),
                        post_id,
                        isoformat(now),
                    ),
                )
                if post_id is not None:
                    events.append(burst_event(burst, post_id, now, settings))
            conn.executemany(
                "INSERT OR REPLACE INTO burst_hours (brand, hour, total, negative) "
                "VALUES (?, ?, ?, ?)",
                [(brand, isoformat(h), c[0], c[1]) for h, c in sorted(new.items())],
            )
            conn.execute(
                "DELETE FROM burst_hours WHERE brand = ? AND hour < ?", (brand, isoformat(start))
            )
            conn.execute(
                "INSERT OR REPLACE INTO burst_state (brand, evaluated_until, counted) "
                "VALUES (?, ?, 1)",
                (brand, isoformat(end)),
            )
    return events


def _representative(store: Any, burst: Burst) -> str | None:
    hour = burst.hour
    row = store.conn.execute(
        """
        SELECT pb.post_id FROM posts p CROSS JOIN post_brands pb
               ON pb.post_id = p.id AND pb.brand = ?
        WHERE p.first_seen_at >= ? AND p.first_seen_at < ?
        ORDER BY coalesce((SELECT max(r.harm) FROM risk_scores r WHERE r.post_id = pb.post_id), 0)
                 DESC,
                 coalesce((SELECT max(r.forecast) FROM risk_scores r
                           WHERE r.post_id = pb.post_id), 0) DESC,
                 pb.post_id
        LIMIT 1
        """,
        (burst.brand, isoformat(hour), isoformat(hour + timedelta(hours=1))),
    ).fetchone()
    return row[0] if row else None
