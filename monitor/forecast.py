"""Reach forecast: how much engagement will this post end up with, judging from what we saw so far.

Two estimators, blended in log space:

* **Log-linear early-to-late** (Szabo & Huberman, 2010): ``ln N(T) = ln N(t) + β_s(t)``; the
  log-ratio ``β`` depends on the post's age and its source. The prior is a saturating curve
  ``N(t) = N(T)·(1 − 2^(−t/half_life))``; with enough finished posts in the archive, the mean
  log-ratio per source and age bucket is learned and shrunk towards that prior
  (:func:`learn_calibration`).
* **Self-exciting** (SEISMIC, Zhao et al. 2015): every engagement is an event that triggers
  further ones through a power-law memory kernel. With snapshots instead of per-event times, each
  increment is placed at the middle of its polling interval. Infectiousness is estimated as
  ``κ = N(t) / Σ wᵢ Φ(t − tᵢ)`` (events seen / events expected per unit of infectiousness), and
  the forecast is ``N(t) + κ Σ wᵢ (1 − Φ(t − tᵢ)) / (1 − κ)``. The original post weighs as
  ``root_min_weight + root_follower_weight × author followers`` events: a big author's post is
  expected to draw more.

Before any engagement is seen, the forecast is the author-reach prior
``followers_engagement × followers``, reduced by the share a typical post has already realized at
its age (followers who have not engaged after hours will not lift it). Early forecasts extrapolate a lot (1 like at 2 minutes); the
estimate is shrunk in log space towards the prior size (the source's ordinary size or the author
prior) with a variance that grows with the square of the extrapolation (``extrapolation_noise``,
``prior_log_sd``): a precision-weighted mean, so a long record of growth is trusted and a tiny
one is not.

Bad input, and what happens (never an exception, never NaN):

* snapshots out of order → sorted by time;
* decreasing counts (deleted votes) → the running maximum per metric is used;
* missing counts (``None``) → the last known count of that metric carries forward (0 before);
* a post with no engagement at all → the author-reach prior (0 when the author is unknown);
* clock skew (a snapshot before publication) → the snapshot is treated as taken at publication;
* a missing ``published_at`` → the first snapshot (or the time the post was seen) stands in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from monitor.records import Snapshot
from monitor.risk_settings import ForecastSettings, SourceProfile

__all__ = [
    "AGE_BUCKETS",
    "Calibration",
    "EngagementPoint",
    "Forecast",
    "SourceCalibration",
    "Velocity",
    "clean_series",
    "describe",
    "engagement_units",
    "forecast",
    "hawkes_forecast",
    "kernel_cdf",
    "learn_calibration",
    "loglinear_ratio",
    "prior_ratio",
    "reach_score",
    "velocity",
]

# Age buckets (upper bounds, seconds) for the learned log-linear ratios.
AGE_BUCKETS: tuple[float, ...] = (
    600.0,
    1800.0,
    3600.0,
    3 * 3600.0,
    6 * 3600.0,
    12 * 3600.0,
    86400.0,
    2 * 86400.0,
    4 * 86400.0,
    float("inf"),
)
_METRICS = ("likes", "shares", "comments", "views")


@dataclass(frozen=True, slots=True)
class EngagementPoint:
    """Clean cumulative counts at ``age`` seconds after publication."""

    age: float
    likes: int
    shares: int
    comments: int
    views: int

    def units(self, profile: SourceProfile) -> float:
        return engagement_units(profile, self.likes, self.shares, self.comments, self.views)


def engagement_units(
    profile: SourceProfile, likes: int, shares: int, comments: int, views: int
) -> float:
    """Counts weighted into one number comparable within a source."""
    return (
        profile.likes * likes
        + profile.shares * shares
        + profile.comments * comments
        + profile.views * views
    )


def clean_series(
    snapshots: Iterable[Snapshot], published_at: datetime | None, now: datetime | None = None
) -> list[EngagementPoint]:
    """Sorted, monotone, complete series of the snapshots visible at ``now``.

    See the module docstring for how each kind of bad input is handled.
    """
    visible = sorted((s for s in snapshots if now is None or s.at <= now), key=lambda s: s.at)
    if not visible:
        return []
    origin = published_at or visible[0].at
    last = [0, 0, 0, 0]
    points: list[EngagementPoint] = []
    for snap in visible:
        for index, value in enumerate(snap.counts()):
            if value is not None and value > last[index]:
                last[index] = int(value)
        age = max(0.0, (snap.at - origin).total_seconds())
        point = EngagementPoint(age, *last)
        if points and points[-1].age == age:
            points[-1] = point
        else:
            points.append(point)
    return points


def kernel_cdf(elapsed: float, time_scale: float, theta: float) -> float:
    """Share of an event's children that have arrived ``elapsed`` seconds after it (SEISMIC kernel).

    The kernel is flat up to ``time_scale`` then decays as a power law with exponent ``1+θ``.
    """
    if elapsed <= 0.0:
        return 0.0
    s0 = max(time_scale, 1e-9)
    theta = max(theta, 1e-6)
    if elapsed <= s0:
        return (theta / (1.0 + theta)) * (elapsed / s0)
    return 1.0 - (1.0 / (1.0 + theta)) * (elapsed / s0) ** (-theta)


def prior_ratio(age: float, profile: SourceProfile, settings: ForecastSettings) -> float:
    """Prior log-ratio ``ln((N(T)+1)/(N(t)+1))`` at ``age`` from the saturating curve."""
    age = max(age, settings.min_age)
    if age >= settings.horizon:
        return 0.0
    half = max(profile.half_life, 1.0)
    realized = 1.0 - 2.0 ** (-age / half)
    horizon_realized = 1.0 - 2.0 ** (-settings.horizon / half)
    return max(0.0, math.log(horizon_realized / max(realized, 1e-9)))


@dataclass(frozen=True, slots=True)
class SourceCalibration:
    """What the archive taught about one source: log-ratios per age bucket and size quantiles."""

    ratios: tuple[float | None, ...] = ()  # per AGE_BUCKETS entry; None = use the prior
    ordinary: float | None = None
    viral: float | None = None
    posts: int = 0


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per-source calibration learned from the archive (empty = priors only)."""

    sources: Mapping[str, SourceCalibration] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, source: str) -> SourceCalibration | None:
        return self.sources.get(source)


def _bucket(age: float) -> int:
    for index, bound in enumerate(AGE_BUCKETS):
        if age <= bound:
            return index
    return len(AGE_BUCKETS) - 1


def loglinear_ratio(
    age: float,
    source: str,
    profile: SourceProfile,
    settings: ForecastSettings,
    calibration: Calibration | None = None,
) -> float:
    """The log-ratio β to apply at ``age``: learned for the source when known, else the prior."""
    prior = prior_ratio(age, profile, settings)
    learned = calibration.get(source) if calibration else None
    if learned is None or not learned.ratios:
        return prior
    value = learned.ratios[_bucket(max(age, settings.min_age))]
    return prior if value is None else value


def hawkes_forecast(
    points: Sequence[EngagementPoint],
    profile: SourceProfile,
    settings: ForecastSettings,
    author_followers: int | None,
) -> tuple[float, float] | None:
    """SEISMIC-style final-size estimate and infectiousness κ, or None when data is too thin."""
    if len(points) < settings.hawkes_min_snapshots:
        return None
    now = points[-1].age
    total = points[-1].units(profile)
    if total < settings.hawkes_min_units or now <= 0:
        return None
    scale, theta = profile.time_scale, settings.kernel_theta
    root = settings.root_min_weight + settings.root_follower_weight * max(author_followers or 0, 0)
    seen_weight = root * kernel_cdf(now, scale, theta)
    remaining_weight = root * (1.0 - kernel_cdf(now, scale, theta))
    previous_age, previous_units = 0.0, 0.0
    for point in points:
        units = point.units(profile)
        increment = units - previous_units
        if increment > 0:
            mid = (previous_age + point.age) / 2.0
            done = kernel_cdf(now - mid, scale, theta)
            seen_weight += increment * done
            remaining_weight += increment * (1.0 - done)
        previous_age, previous_units = point.age, units
    if seen_weight <= 0:
        return None
    kappa = min(total / seen_weight, settings.branching_cap)
    future = kappa * remaining_weight / (1.0 - kappa)
    return min(total + future, settings.forecast_cap), kappa


@dataclass(frozen=True, slots=True)
class Velocity:
    """Recent growth of the dominant metric, for reasons like "shares ×6 in 40 min"."""

    metric: str
    before: int
    after: int
    minutes: float
    units_per_hour: float

    @property
    def factor(self) -> float:
        return (self.after + 1) / (self.before + 1)


def velocity(
    points: Sequence[EngagementPoint], profile: SourceProfile, settings: ForecastSettings
) -> Velocity | None:
    """Growth over roughly the last ``velocity_window`` seconds (None with < 2 points)."""
    if len(points) < 2:
        return None
    last = points[-1]
    # The latest point at least a window back (or the first point).
    earlier = points[0]
    for point in points[:-1]:
        if last.age - point.age >= settings.velocity_window:
            earlier = point
    span = max(last.age - earlier.age, settings.min_age)
    metric = max(
        _METRICS,
        key=lambda m: (getattr(last, m) - getattr(earlier, m)) * getattr(profile, m),
    )
    gained = last.units(profile) - earlier.units(profile)
    return Velocity(
        metric,
        int(getattr(earlier, metric)),
        int(getattr(last, metric)),
        span / 60.0,
        max(0.0, gained) * 3600.0 / span,
    )


@dataclass(frozen=True, slots=True)
class Forecast:
    """The forecast for one post at one moment."""

    current: float  # engagement units now
    loglinear: float  # Szabo–Huberman estimate of the final units
    hawkes: float | None  # self-exciting estimate, when timestamps allow
    kappa: float | None  # estimated infectiousness
    final: float  # blended forecast of the final units
    reach: float  # 0..1 on the source's ordinary..viral log scale
    age: float  # seconds since publication at the last snapshot
    snapshots: int
    from_prior: bool  # no engagement yet: author-reach prior only
    velocity: Velocity | None = None


def reach_score(
    units: float, source: str, profile: SourceProfile, calibration: Calibration | None = None
) -> float:
    """Final engagement → 0..1 between the source's ordinary and viral sizes (log scale)."""
    learned = calibration.get(source) if calibration else None
    low = learned.ordinary if learned and learned.ordinary is not None else profile.ordinary
    high = learned.viral if learned and learned.viral is not None else profile.viral
    low_log, high_log = math.log1p(max(low, 0.0)), math.log1p(max(high, 0.0))
    if high_log <= low_log:
        high_log = low_log + 1.0
    value = (math.log1p(max(units, 0.0)) - low_log) / (high_log - low_log)
    return min(1.0, max(0.0, value))


def forecast(
    snapshots: Iterable[Snapshot],
    *,
    source: str,
    published_at: datetime | None,
    author_followers: int | None,
    settings: ForecastSettings,
    calibration: Calibration | None = None,
    now: datetime | None = None,
) -> Forecast:
    """Forecast final engagement from the snapshots visible at ``now``."""
    profile = settings.profile(source)
    points = clean_series(snapshots, published_at, now)
    # The author-reach prior is what the followers would still add: a post whose followers have
    # not engaged after hours is not going to be lifted by them.
    age_now = points[-1].age if points else 0.0
    if now is not None and published_at is not None:
        age_now = max(age_now, (now - published_at).total_seconds())
    prior = (
        profile.followers_engagement
        * max(author_followers or 0, 0)
        * (1.0 - _realized(age_now, profile, settings))
    )
    if not points or points[-1].units(profile) <= 0:
        final = min(prior, settings.forecast_cap)
        return Forecast(
            0.0,
            final,
            None,
            None,
            final,
            reach_score(final, source, profile, calibration),
            points[-1].age if points else 0.0,
            len(points),
            True,
        )
    last = points[-1]
    current = last.units(profile)
    ratio = loglinear_ratio(last.age, source, profile, settings, calibration)
    loglinear = min((current + 1.0) * math.exp(ratio) - 1.0, settings.forecast_cap)
    hawkes = hawkes_forecast(points, profile, settings, author_followers)
    if hawkes is None:
        final = loglinear
        estimate, kappa = None, None
    else:
        estimate, kappa = hawkes
        weight = min(max(settings.hawkes_weight, 0.0), 1.0)
        final = math.expm1((1.0 - weight) * math.log1p(loglinear) + weight * math.log1p(estimate))
    final = _shrink_extrapolation(final, current, max(profile.ordinary, prior), settings)
    # Never below what is already there, never above the cap unless the count itself is.
    final = max(min(final, settings.forecast_cap), current)
    return Forecast(
        current,
        loglinear,
        estimate,
        kappa,
        final,
        reach_score(final, source, profile, calibration),
        last.age,
        len(points),
        False,
        velocity(points, profile, settings),
    )


def _realized(age: float, profile: SourceProfile, settings: ForecastSettings) -> float:
    """Share of the final engagement a typical post has at ``age`` (the prior curve), 0..1."""
    if age <= 0:
        return 0.0
    half = max(profile.half_life, 1.0)
    total = 1.0 - 2.0 ** (-settings.horizon / half)
    return min(1.0, (1.0 - 2.0 ** (-age / half)) / total)


def _shrink_extrapolation(
    estimate: float, current: float, prior: float, settings: ForecastSettings
) -> float:
    """Precision-weighted mix (log space) of an extrapolated estimate and the prior size."""
    extrapolation = math.log1p(max(estimate, 0.0)) - math.log1p(max(current, 0.0))
    noise = settings.extrapolation_noise * extrapolation * extrapolation
    if noise <= 0.0:
        return estimate
    prior_var = max(settings.prior_log_sd, 1e-6) ** 2
    log_prior = math.log1p(max(prior, 0.0))
    mixed = (log_prior / prior_var + math.log1p(max(estimate, 0.0)) / noise) / (
        1.0 / prior_var + 1.0 / noise
    )
    return math.expm1(mixed)


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = min(max(q, 0.0), 1.0) * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def learn_calibration(
    histories: Iterable[tuple[str, datetime | None, Sequence[Snapshot]]],
    settings: ForecastSettings,
) -> Calibration:
    """Learn per-source log-ratios and size quantiles from finished posts.

    ``histories`` yields ``(source, published_at, snapshots)``; a post counts as finished when
    its last snapshot is at least ``horizon`` after publication or it stopped growing for half
    the horizon. Per source and age bucket the mean log-ratio is shrunk towards the prior with
    ``calibration_prior_posts`` pseudo-posts; sources with fewer than ``calibration_min_posts``
    finished posts keep the priors.
    """
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(AGE_BUCKETS))
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(AGE_BUCKETS))
    finals: dict[str, list[float]] = defaultdict(list)
    for source, published_at, snapshots in histories:
        points = clean_series(snapshots, published_at)
        if not points:
            continue
        profile = settings.profile(source)
        final_point = points[-1]
        final = final_point.units(profile)
        finished = final_point.age >= settings.horizon or (
            len(points) >= 2
            and final_point.age - _last_growth_age(points, profile) >= settings.horizon / 2
        )
        if not finished:
            continue
        finals[source].append(final)
        seen: set[int] = set()
        for point in points[:-1]:
            bucket = _bucket(max(point.age, settings.min_age))
            if bucket in seen:
                continue
            seen.add(bucket)
            sums[source][bucket] += math.log((final + 1.0) / (point.units(profile) + 1.0))
            counts[source][bucket] += 1
    learned: dict[str, SourceCalibration] = {}
    for source, values in finals.items():
        if len(values) < settings.calibration_min_posts:
            continue
        profile = settings.profile(source)
        weight = settings.calibration_prior_posts
        ratios: list[float | None] = []
        for index, bound in enumerate(AGE_BUCKETS):
            n = counts[source][index]
            if n == 0:
                ratios.append(None)
                continue
            lower = AGE_BUCKETS[index - 1] if index else settings.min_age
            mid_age = lower if math.isinf(bound) else (lower + bound) / 2.0
            prior = prior_ratio(mid_age, profile, settings)
            ratios.append((sums[source][index] + weight * prior) / (n + weight))
        ordinary = _quantile(values, settings.ordinary_quantile)
        viral = _quantile(values, settings.viral_quantile)
        n = len(values)
        learned[source] = SourceCalibration(
            tuple(ratios),
            _shrink(ordinary, profile.ordinary, n, weight),
            max(
                _shrink(viral, profile.viral, n, weight),
                _shrink(ordinary, profile.ordinary, n, weight) + 1.0,
            ),
            n,
        )
    return Calibration(MappingProxyType(learned))


def _shrink(value: float, prior: float, n: int, weight: float) -> float:
    """Geometric shrinkage of a learned size towards its prior."""
    mixed = (n * math.log1p(max(value, 0.0)) + weight * math.log1p(max(prior, 0.0))) / (n + weight)
    return math.expm1(mixed)


def _last_growth_age(points: Sequence[EngagementPoint], profile: SourceProfile) -> float:
    final = points[-1].units(profile)
    for point in points:
        if point.units(profile) >= final:
            return point.age
    return points[-1].age


def describe(value: Any) -> str:
    """Compact human number: 950, 12k, 3.4M."""
    number = float(value)
    if not math.isfinite(number):
        return "?"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= limit:
            scaled = number / limit
            return f"{scaled:.1f}{suffix}" if scaled < 10 else f"{scaled:.0f}{suffix}"
    return f"{number:.0f}"
