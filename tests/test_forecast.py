"""Reach forecast on synthetic curves with known answers, and on bad input."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.forecast import (
    clean_series,
    forecast,
    hawkes_forecast,
    kernel_cdf,
    learn_calibration,
    loglinear_ratio,
    reach_score,
)
from monitor.records import Snapshot
from monitor.risk_settings import ForecastSettings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# No shrinkage towards the prior: these tests check the estimators themselves.
RAW = ForecastSettings(extrapolation_noise=0.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def saturating(final: float, half_life: float, horizon: float, age: float) -> int:
    """The log-linear prior's own curve: N(t) = N(T)·(1−2^(−t/h)) / (1−2^(−T/h))."""
    return round(final * (1 - 2 ** (-age / half_life)) / (1 - 2 ** (-horizon / half_life)))


@pytest.mark.parametrize("final", [200, 5000, 80000])
@pytest.mark.parametrize("age_h", [1, 3, 12])
def test_loglinear_recovers_final_size_of_its_curve(final: int, age_h: int) -> None:
    settings = replace(RAW, hawkes_weight=0.0)
    half = settings.profile("reddit").half_life
    snaps = [
        Snapshot(at(a), likes=saturating(final, half, settings.horizon, a))
        for a in (600, age_h * 3600 / 2, age_h * 3600)
    ]
    result = forecast(
        snaps, source="reddit", published_at=T0, author_followers=None, settings=settings
    )
    assert result.final == pytest.approx(final, rel=0.05)  # counts are rounded
    assert result.hawkes is not None or result.current < settings.hawkes_min_units


def test_kernel_cdf_is_a_distribution_function() -> None:
    values = [kernel_cdf(s, 300.0, 0.242) for s in (0, 1, 150, 300, 301, 3600, 86400, 1e12)]
    assert values[0] == 0.0
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert values[-1] == pytest.approx(1.0, abs=0.01)
    # continuous at the plateau's end
    assert kernel_cdf(300.0, 300.0, 0.242) == pytest.approx(kernel_cdf(300.0001, 300.0, 0.242))


def test_hawkes_finished_cascade_forecasts_about_what_it_has() -> None:
    """Events long past: almost all of their children arrived, so little is left to come."""
    settings = replace(RAW, branching_cap=0.5)
    profile = settings.profile("default")
    snaps = [Snapshot(at(600), likes=100), Snapshot(at(1200), likes=200)]
    points = clean_series([*snaps, Snapshot(at(400 * 86400), likes=200)], T0)
    result = hawkes_forecast(points, profile, settings, author_followers=None)
    assert result is not None
    final, kappa = result
    assert kappa == pytest.approx(0.5)  # way supercritical raw estimate, clipped to the cap
    assert 200 <= final <= 200 * 1.2


def test_hawkes_known_infectiousness() -> None:
    """One burst of n events at t≈0 from a root of weight w: κ = total / Σ w Φ."""
    settings = replace(RAW, root_min_weight=10.0, root_follower_weight=0.0, branching_cap=0.99)
    profile = settings.profile("default")
    now = 3600.0
    points = clean_series([Snapshot(at(2.0), likes=5), Snapshot(at(now), likes=5)], T0)
    estimate = hawkes_forecast(points, profile, replace(settings, hawkes_min_units=1), None)
    assert estimate is not None
    final, kappa = estimate
    s0, theta = profile.time_scale, settings.kernel_theta
    seen = 10 * kernel_cdf(now, s0, theta) + 5 * kernel_cdf(now - 1.0, s0, theta)
    left = 10 * (1 - kernel_cdf(now, s0, theta)) + 5 * (1 - kernel_cdf(now - 1.0, s0, theta))
    expected_kappa = 5 / seen
    assert kappa == pytest.approx(expected_kappa, rel=1e-6)
    assert final == pytest.approx(5 + expected_kappa * left / (1 - expected_kappa), rel=1e-6)


def test_calibration_learns_the_archive_ratio() -> None:
    """Every finished post ends at 3× its count at one hour: the learned ratio is ln 3."""
    settings = replace(RAW, calibration_min_posts=10, calibration_prior_posts=0.0)
    histories = []
    for n in range(40):
        base = 10 + n
        histories.append(
            (
                "mastodon",
                T0,
                [
                    Snapshot(at(3000), likes=base),
                    Snapshot(at(settings.horizon + 10), likes=3 * base + 2),
                ],
            )
        )
    calibration = learn_calibration(histories, settings)
    learned = calibration.get("mastodon")
    assert learned is not None and learned.posts == 40
    ratio = loglinear_ratio(3000, "mastodon", settings.profile("mastodon"), settings, calibration)
    assert ratio == pytest.approx(math.log(3), rel=1e-6)
    # an unknown source keeps the prior
    assert loglinear_ratio(3000, "reddit", settings.profile("reddit"), settings, calibration) > 0


def test_reach_is_scaled_per_source() -> None:
    settings = ForecastSettings()
    # 3,000 units is a crisis on the news scale and ordinary-ish on YouTube.
    assert reach_score(3000, "news", settings.profile("news")) == 1.0
    assert reach_score(3000, "youtube", settings.profile("youtube")) < 0.8
    assert reach_score(0, "reddit", settings.profile("reddit")) == 0.0


BAD_INPUTS = {
    "out of order": [Snapshot(at(7200), likes=50), Snapshot(at(600), likes=5)],
    "decreasing counts": [Snapshot(at(600), likes=50), Snapshot(at(1200), likes=20)],
    "missing counts": [
        Snapshot(at(600), likes=None, shares=None),
        Snapshot(at(1200), likes=7, shares=None, comments=None, views=None),
    ],
    "no engagement": [],
    "only empty snapshots": [Snapshot(at(600)), Snapshot(at(900))],
    "clock skew": [Snapshot(at(-3600), likes=3), Snapshot(at(-60), likes=4)],
    "same instant twice": [Snapshot(at(600), likes=3), Snapshot(at(600), likes=9)],
    "huge counts": [Snapshot(at(60), likes=10**15, views=10**18), Snapshot(at(120), likes=10**16)],
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
@pytest.mark.parametrize("published", [T0, None])
def test_bad_input_never_crashes_nor_nans(name: str, published: datetime | None) -> None:
    result = forecast(
        BAD_INPUTS[name],
        source="reddit",
        published_at=published,
        author_followers=1000,
        settings=ForecastSettings(),
    )
    for value in (result.current, result.final, result.loglinear, result.reach, result.age):
        assert math.isfinite(value)
    assert 0.0 <= result.reach <= 1.0
    assert result.final >= result.current


def test_bad_input_documented_behaviour() -> None:
    settings = ForecastSettings()
    decreasing = clean_series(BAD_INPUTS["decreasing counts"], T0)
    assert [p.likes for p in decreasing] == [50, 50]  # running maximum
    ordered = clean_series(BAD_INPUTS["out of order"], T0)
    assert [p.age for p in ordered] == [600, 7200]
    skewed = clean_series(BAD_INPUTS["clock skew"], T0)
    assert skewed[-1].age == 0.0  # a snapshot before publication counts as taken at publication
    missing = clean_series(BAD_INPUTS["missing counts"], T0)
    assert missing[-1].likes == 7 and missing[-1].shares == 0
    empty = forecast(
        [], source="reddit", published_at=T0, author_followers=50000, settings=settings
    )
    assert empty.from_prior and empty.final == pytest.approx(
        settings.profile("reddit").followers_engagement * 50000
    )


def test_snapshots_after_now_are_invisible() -> None:
    snaps = [Snapshot(at(600), likes=5), Snapshot(at(7200), likes=5000)]
    early = forecast(
        snaps,
        source="reddit",
        published_at=T0,
        author_followers=None,
        settings=ForecastSettings(),
        now=at(700),
    )
    assert early.current == 5
