"""The ``[risk]`` configuration section: every weight and threshold of viral-risk scoring.

All numbers the scorer uses live here with a documented default, so a team can tune scoring in
``groundswell.toml`` and backtest the change with ``groundswell replay``. Nothing in
``monitor/forecast.py``, ``harm.py``, ``spread.py``, ``bursts.py`` or ``risk.py`` hard-codes a
weight. Example::

    [risk]
    alert_min_severity = "warning"

    [risk.severity]
    warning = 0.45

    [risk.forecast]
    hawkes_weight = 0.5

    [risk.forecast.sources.youtube]      # a YouTube view is not a Reddit upvote
    views = 0.01
    ordinary = 50
    viral = 20000

    [risk.harm.cues]
    legal_threat = 0.5

    [risk.bursts]
    tail_probability = 1e-4
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from monitor.config import Problems, parse_interval

__all__ = [
    "BurstSettings",
    "CombineSettings",
    "ForecastSettings",
    "HarmSettings",
    "RiskSettings",
    "SeveritySettings",
    "SourceProfile",
    "SpreadSettings",
    "parse_section",
    "risk_settings",
]


def _duration(doc: str) -> Any:
    """A field holding seconds, written in TOML as ``"15m"`` or a number of seconds."""
    return {"duration": True, "doc": doc}


@dataclass(frozen=True, slots=True)
class SourceProfile:
    """How engagement on one source type is weighed and what counts as big there.

    ``likes``/``shares``/``comments``/``views`` turn counts into *engagement units*;
    ``ordinary`` and ``viral`` are the final engagement (in units) of a typical post and of a
    post that would be a crisis if it were a complaint; reach is scaled between them on a log
    axis. They are priors: the archive's own quantiles replace them as history accumulates.
    ``time_scale`` is the SEISMIC kernel's plateau (seconds) and ``half_life`` the time by
    which a typical post has half of its final engagement (Szabo–Huberman prior).
    """

    likes: float = 1.0
    shares: float = 3.0
    comments: float = 2.0
    views: float = 0.01
    ordinary: float = 5.0
    viral: float = 3000.0
    time_scale: float = 300.0
    half_life: float = 4 * 3600.0
    followers_engagement: float = 0.002  # expected final units per author follower (prior)


_DEFAULT_PROFILES: Mapping[str, SourceProfile] = MappingProxyType(
    {
        "default": SourceProfile(),
        "reddit": SourceProfile(likes=1.0, shares=3.0, comments=2.0, ordinary=10, viral=5000),
        "hackernews": SourceProfile(likes=1.0, comments=2.0, ordinary=5, viral=1500),
        "mastodon": SourceProfile(ordinary=3, viral=1500, followers_engagement=0.004),
        "bluesky": SourceProfile(ordinary=4, viral=3000),
        "youtube": SourceProfile(
            likes=1.0, comments=2.0, views=0.02, ordinary=30, viral=20000, half_life=24 * 3600.0
        ),
        "news": SourceProfile(ordinary=1, viral=100, half_life=12 * 3600.0),
        "rss": SourceProfile(ordinary=1, viral=100, half_life=12 * 3600.0),
        "appstore": SourceProfile(ordinary=1, viral=200),
        "lemmy": SourceProfile(ordinary=3, viral=1000),
    }
)


@dataclass(frozen=True, slots=True)
class ForecastSettings:
    """Reach forecast (``monitor/forecast.py``)."""

    horizon: float = field(
        default=7 * 86400.0, metadata=_duration("age at which a post's engagement is 'final'")
    )
    min_age: float = field(
        default=60.0, metadata=_duration("ages below this are treated as this (no division by 0)")
    )
    # SEISMIC-style self-exciting estimate (power-law memory kernel).
    kernel_theta: float = 0.242  # power-law tail exponent of the memory kernel (SEISMIC paper)
    hawkes_weight: float = 0.5  # weight of the self-exciting estimate in the log-space blend
    hawkes_min_units: float = 15.0  # below this many engagement units only the log-linear model
    hawkes_min_snapshots: int = 2
    branching_cap: float = 0.9  # infectiousness is clipped here so forecasts stay finite
    root_min_weight: float = 5.0  # the original post counts as this many events at least ...
    root_follower_weight: float = 0.002  # ... plus this many per author follower
    # Log-linear (Szabo–Huberman) calibration from the archive.
    calibration_min_posts: int = 30  # per source before the archive's numbers are used
    calibration_prior_posts: float = 20.0  # pseudo-posts of the prior in the shrinkage
    calibration_sample: int = 20000  # most recent finished posts read per calibration
    calibration_refresh: float = field(
        default=3600.0,
        metadata=_duration("the stored calibration is re-learned when its cutoff moves this far"),
    )
    ordinary_quantile: float = 0.5
    viral_quantile: float = 0.995
    forecast_cap: float = 1e9  # no forecast exceeds this many units
    # Early forecasts extrapolate a lot; they are shrunk in log space towards the source's
    # ordinary size (or the author-reach prior) with variance extrapolation_noise × ln(ratio)²
    # against a prior of sd prior_log_sd, so "1 like at 2 minutes" does not forecast 600.
    extrapolation_noise: float = 0.25
    prior_log_sd: float = 1.4
    velocity_window: float = field(
        default=3600.0, metadata=_duration("look-back window for the 'shares ×6 in 40 min' reason")
    )
    sources: Mapping[str, SourceProfile] = field(default_factory=lambda: _DEFAULT_PROFILES)

    def profile(self, source: str) -> SourceProfile:
        return self.sources.get(source) or self.sources.get("default") or SourceProfile()


_DEFAULT_CUES: Mapping[str, float] = MappingProxyType(
    {
        "legal_threat": 0.5,
        "refund_refused": 0.35,
        "outage_duration": 0.35,
        "going_public": 0.5,
        "switching": 0.3,
        "damaged_property": 0.4,
        "rude_staff": 0.3,
        "repeat_contact": 0.25,
    }
)


@dataclass(frozen=True, slots=True)
class HarmSettings:
    """Harm (``monitor/harm.py``): how complaint probability and cues make a post harmful."""

    complaint_weight: float = 1.0  # harm starts at complaint probability × this
    negative_weight: float = 0.3  # a negative but non-complaint post counts this much
    cue_gate: float = 0.3  # cues only add harm when the text is at least this negative
    cues: Mapping[str, float] = field(default_factory=lambda: _DEFAULT_CUES)
    unknown_cue_weight: float = 0.2
    # The lexicon-only estimator (used without a model): negativity per hit, first-person bonus.
    lexicon_hit_weight: float = 0.55
    lexicon_positive_weight: float = 0.6
    lexicon_first_person: float = 0.35
    lexicon_cue_complaint: float = 0.6  # a cue alone makes a post this likely a complaint


@dataclass(frozen=True, slots=True)
class SpreadSettings:
    """Spread (``monitor/spread.py``): a story seen on more sources, languages, in the news."""

    source_weight: float = 0.35  # per extra source type
    language_weight: float = 0.25  # per extra language
    news_weight: float = 0.4  # per news/RSS site carrying the story
    news_after_social: float = 0.6  # news pickup after social posts (the classic escalation)
    mention_weight: float = 0.02  # per extra mention in the story
    news_sources: tuple[str, ...] = ("news", "rss", "google_news", "googlenews", "gdelt", "newsapi")


@dataclass(frozen=True, slots=True)
class BurstSettings:
    """Brand-level bursts (``monitor/bursts.py``)."""

    tail_probability: float = 1e-4  # alert when P(X ≥ count) under the expectation is below
    min_count: int = 8  # never alert on fewer mentions in an hour than this
    min_ratio: float = 2.0  # … nor on fewer than this × the expected count
    default_rate: float = 2.0  # expected mentions per hour while there is no history at all
    default_negative_share: float = 0.2  # expected share of negative mentions with no history
    prior_hours: float = 1.0  # pseudo-hours of the default rate in the brand's overall rate
    prior_shape: float = 0.5  # Gamma shape of the rate prior: tiny = wide while history is short
    slot_weight: float = 2.0  # pseudo-observations of the pooled rate in each hour-of-week slot
    hour_of_day_weight: float = 0.7  # pooled hour-of-day vs flat rate in the shrinkage target
    dispersion: float = 5.0  # negative-binomial size r (smaller = more overdispersed) prior
    dispersion_prior_hours: float = 168.0  # pseudo-hours of that prior in the learned dispersion
    min_dispersion: float = 0.5
    history_weeks: int = 8  # history used for the expectation
    cusum_k: float = 0.5  # CUSUM allowance in standard deviations
    cusum_h: float = 8.0  # CUSUM decision threshold in standard deviations
    min_history_hours: int = 24  # CUSUM only runs once this much history exists
    warmup_hours: int = 6  # a brand with less history than this never alerts: it learns first
    negative_threshold: float = 0.5  # a mention is negative when its harm/negativity ≥ this
    cooldown: float = field(default=6 * 3600.0, metadata=_duration("no repeat burst alert within"))
    burst_risk: float = 0.7  # risk of a tail-probability burst (severity from the thresholds)
    ramp_risk: float = 0.5  # risk of a CUSUM ramp
    negative_bonus: float = 0.15  # extra risk when the burst is in negative mentions


@dataclass(frozen=True, slots=True)
class SeveritySettings:
    """Risk → severity thresholds (inclusive lower bounds)."""

    info: float = 0.25
    warning: float = 0.45
    critical: float = 0.7


@dataclass(frozen=True, slots=True)
class CombineSettings:
    """How harm, reach and spread combine into one 0..1 risk (``monitor/risk.py``)."""

    harm_exponent: float = 1.0
    reach_exponent: float = 1.0
    spread_weight: float = 0.5  # spread lifts effective reach: 1-(1-reach)(1-w·spread)
    velocity_weight: float = 0.15  # fast early growth lifts effective reach the same way
    velocity_reference: float = 20.0  # engagement units per hour that count as "fast"
    competitor_factor: float = 0.8  # competitors' posts are watched, slightly lower priority


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """The whole ``[risk]`` section."""

    alert_min_severity: str = "warning"  # replay's own grouping fires from this severity up
    event_min_severity: str = "info"  # score_pending returns events from this severity up
    rescore_min_change: float = (
        0.02  # a rescored post is a new event only when risk moved this much
    )
    score_batch: int = 1000  # post×brand pairs one score run takes on (0: all); the next continues
    replay_tick: float = field(
        default=60.0, metadata=_duration("how often replay lets the alert engine's timers run")
    )
    forecast: ForecastSettings = ForecastSettings()
    harm: HarmSettings = HarmSettings()
    spread: SpreadSettings = SpreadSettings()
    bursts: BurstSettings = BurstSettings()
    severity: SeveritySettings = SeveritySettings()
    combine: CombineSettings = CombineSettings()


def risk_settings(config: Any) -> RiskSettings:
    """The parsed ``[risk]`` section of a Config, or the defaults when it is absent."""
    section = config.section("risk") if config is not None else None
    return section if isinstance(section, RiskSettings) else RiskSettings()


_SEVERITIES = ("info", "warning", "critical")


def _parse_flat(
    cls: Any, raw: Mapping[str, Any], problems: Problems, path: str, **extra: Any
) -> Any:
    """Fill a flat settings dataclass from ``raw``: numbers, strings, durations, string lists."""
    values: dict[str, Any] = {}
    nested = set(extra)
    known = {f.name for f in dataclasses.fields(cls)}
    problems.unknown_keys(raw, known, path)
    for spec in dataclasses.fields(cls):
        if spec.name in nested or spec.name not in raw:
            continue
        default = getattr(cls(), spec.name)
        key_path = f"{path}.{spec.name}"
        value = raw[spec.name]
        if spec.metadata.get("duration"):
            try:
                values[spec.name] = parse_interval(value)
            except ValueError as exc:
                problems.add(key_path, str(exc), "use e.g. '90s', '15m', '2h', '7d'")
            continue
        if isinstance(default, tuple):
            values[spec.name] = problems.string_list(raw, spec.name, path)
            continue
        kind: type = type(default)
        got = problems.expect(raw, spec.name, kind, path, default)
        if isinstance(got, int | float) and not isinstance(got, bool) and got < 0:
            problems.add(key_path, f"must not be negative, got {got!r}")
            continue
        values[spec.name] = float(got) if kind is float else got
    values.update(extra)
    return cls(**values)


def _weights(raw: Any, defaults: Mapping[str, float], problems: Problems, path: str) -> Any:
    if not isinstance(raw, dict):
        problems.add(path, "expected a table of name = weight")
        return defaults
    merged = dict(defaults)
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.add(f"{path}.{key}", f"expected a weight ≥ 0, got {value!r}")
            continue
        merged[key] = float(value)
    return MappingProxyType(merged)


def _profiles(raw: Any, problems: Problems, path: str) -> Mapping[str, SourceProfile]:
    if not isinstance(raw, dict):
        problems.add(path, "expected a table of source tables")
        return _DEFAULT_PROFILES
    merged = dict(_DEFAULT_PROFILES)
    for name, table in raw.items():
        if not isinstance(table, dict):
            problems.add(f"{path}.{name}", "expected a table")
            continue
        base = merged.get(name, merged["default"])
        parsed = _parse_flat(SourceProfile, table, problems, f"{path}.{name}")
        changed = {k: getattr(parsed, k) for k in table if hasattr(parsed, k)}
        merged[name] = dataclasses.replace(base, **changed)
    return MappingProxyType(merged)


def parse_section(raw: Mapping[str, Any], problems: Problems, path: str) -> RiskSettings:
    """Parse ``[risk]`` into :class:`RiskSettings`; every problem is added to ``problems``."""
    tables = {
        "forecast": ForecastSettings,
        "harm": HarmSettings,
        "spread": SpreadSettings,
        "bursts": BurstSettings,
        "severity": SeveritySettings,
        "combine": CombineSettings,
    }
    parsed: dict[str, Any] = {}
    for name, cls in tables.items():
        sub = raw.get(name, {})
        if not isinstance(sub, dict):
            problems.add(f"{path}.{name}", "expected a table")
            continue
        extra: dict[str, Any] = {}
        if name == "forecast" and "sources" in sub:
            extra["sources"] = _profiles(sub["sources"], problems, f"{path}.forecast.sources")
        if name == "harm" and "cues" in sub:
            extra["cues"] = _weights(sub["cues"], _DEFAULT_CUES, problems, f"{path}.harm.cues")
        parsed[name] = _parse_flat(cls, sub, problems, f"{path}.{name}", **extra)
    top = {k: v for k, v in raw.items() if k not in tables}
    settings = _parse_flat(RiskSettings, top, problems, path, **parsed)
    for key in ("alert_min_severity", "event_min_severity"):
        if getattr(settings, key) not in _SEVERITIES:
            problems.add(
                f"{path}.{key}",
                f"unknown severity {getattr(settings, key)!r}",
                "use info, warning or critical",
            )
    sev = settings.severity
    if not sev.info <= sev.warning <= sev.critical <= 1.0:
        problems.add(f"{path}.severity", "thresholds must satisfy info ≤ warning ≤ critical ≤ 1")
    return settings
