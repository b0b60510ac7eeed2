"""Brand-level bursts: many separate posts about one problem (an outage, a scandal).

Per brand (competitors too) and per series — all mentions, negative mentions — hourly counts are
compared with what is expected for that hour of the week:

* **Expectation.** The brand's overall rate (with a weak ``default_rate`` prior), pooled into an
  hour-of-day profile and then into a per hour-of-week mean by shrinkage (``slot_weight``
  pseudo-observations), over the last ``history_weeks``.
* **Tail probability.** Counts are negative binomial (overdispersed Poisson). The size parameter
  adds two variances: the series' own overdispersion (``dispersion``, learned by moments from
  the history, shrunk to the prior) and the uncertainty of the mean itself (Gamma posterior of
  the rate, whose shape grows with history). With no history the predictive distribution is
  very wide, and a brand with less than ``warmup_hours`` of history never alerts — it learns
  first.
  A burst fires when ``P(X ≥ count) < tail_probability``, the count is at least ``min_count``
  and ``min_ratio`` × the expectation, and no burst fired in the last ``cooldown``.
* **CUSUM** on standardised counts catches slow ramps the tail test misses:
  ``S = max(0, S + z − k)``, alarm when ``S > h``, then reset.

Hours with a burst enter the history winsorised (at mean + 3 sd), so one outage does not
raise next week's expectation.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.risk_settings import BurstSettings

__all__ = ["Burst", "BurstDetector", "BurstMonitor", "floor_hour", "hour_of_week", "nb_tail"]

_HOUR = timedelta(hours=1)
_WEEK_HOURS = 168
_WINSOR_SD = 3.0  # burst hours enter the history capped at mean + this many sd


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hour_of_week(moment: datetime) -> int:
    return moment.weekday() * 24 + moment.hour


def nb_tail(count: int, mean: float, size: float) -> float:
    """P(X ≥ count) for a negative binomial with this mean and size r (exact sum, never NaN)."""
    if count <= 0:
        return 1.0
    mean = max(mean, 1e-9)
    size = max(size, 1e-9)
    p = size / (size + mean)  # success probability in the (r, p) parameterisation
    log_p, log_q = math.log(p), math.log1p(-p) if p < 1.0 else -math.inf

    def log_pmf(x: int) -> float:
        if math.isinf(log_q):
            return 0.0 if x == 0 else -math.inf
        return (
            math.lgamma(x + size)
            - math.lgamma(size)
            - math.lgamma(x + 1)
            + size * log_p
            + x * log_q
        )

    mode = max(0, int((size - 1) * (1 - p) / p)) if size > 1 else 0
    if count <= mode + 1:
        cdf = sum(math.exp(log_pmf(x)) for x in range(count))
        return min(1.0, max(0.0, 1.0 - cdf))
    # Above the mode the terms decrease: sum the tail directly, so tiny tails keep precision.
    total = 0.0
    term = math.exp(log_pmf(count))
    x = count
    while term > 0.0 and x < count + 100_000:
        total += term
        ratio = (x + size) / (x + 1) * (1 - p)
        if term < total * 1e-15 and ratio < 1.0:
            break
        term *= ratio
        x += 1
    return min(1.0, max(total, 0.0))


@dataclass(frozen=True, slots=True)
class Burst:
    """One detection: an hour whose count is improbably high (spike) or a sustained ramp."""

    brand: str
    series: str  # "all" or "negative"
    hour: datetime  # start of the hour
    count: int
    expected: float
    p_value: float
    kind: str  # "spike" or "ramp"
    cusum: float
    is_competitor: bool = False

    @property
    def ratio(self) -> float:
        return self.count / max(self.expected, 1e-9)


class BurstDetector:
    """Streaming detector for one brand × series; feed it consecutive hours with :meth:`observe`."""

    def __init__(
        self,
        settings: BurstSettings,
        brand: str,
        series: str = "all",
        *,
        default_rate: float | None = None,
        is_competitor: bool = False,
    ) -> None:
        self.settings = settings
        self.brand = brand
        self.series = series
        self.is_competitor = is_competitor
        self.default_rate = settings.default_rate if default_rate is None else default_rate
        self._history: deque[tuple[int, float, float, float]] = deque()
        self._slot_sum = [0.0] * _WEEK_HOURS
        self._slot_n = [0] * _WEEK_HOURS
        self._hod_sum = [0.0] * 24
        self._hod_n = [0] * 24
        self._all_sum = 0.0
        self._disp_num = 0.0
        self._disp_den = 0.0
        self._cusum = 0.0
        self._last_alert: datetime | None = None
        self.observed = 0

    @property
    def history_hours(self) -> int:
        return len(self._history)

    def expectation(self, hour: datetime) -> tuple[float, float]:
        """(expected count, negative-binomial size) for the hour starting at ``hour``."""
        s = self.settings
        n_all = len(self._history)
        overall = (self._all_sum + s.prior_hours * self.default_rate) / (n_all + s.prior_hours)
        hod = hour.hour
        hod_mean = (self._hod_sum[hod] + s.slot_weight * overall) / (
            self._hod_n[hod] + s.slot_weight
        )
        target = s.hour_of_day_weight * hod_mean + (1.0 - s.hour_of_day_weight) * overall
        slot = hour_of_week(hour)
        mean = (self._slot_sum[slot] + s.slot_weight * target) / (
            self._slot_n[slot] + s.slot_weight
        )
        mean = max(mean, 1e-6)
        # Evidence behind the mean: the slot's own hours plus the pooled hours' share.
        evidence = self._slot_n[slot] + s.slot_weight * min(1.0, n_all / 24.0)
        shape = mean * evidence + s.prior_shape
        inverse_r = self._inverse_dispersion() + 1.0 / shape
        return mean, max(1.0 / inverse_r, 1e-6)

    def _inverse_dispersion(self) -> float:
        s = self.settings
        n = len(self._history)
        learned = max(self._disp_num, 0.0) / self._disp_den if self._disp_den > 0 else 0.0
        prior = 1.0 / max(s.dispersion, s.min_dispersion)
        value = (n * learned + s.dispersion_prior_hours * prior) / (n + s.dispersion_prior_hours)
        return min(value, 1.0 / s.min_dispersion)

    def observe(self, hour: datetime, count: int) -> list[Burst]:
        """Judge the finished hour starting at ``hour`` with ``count`` mentions; then learn it."""
        s = self.settings
        count = max(int(count), 0)
        mean, size = self.expectation(hour)
        p_value = nb_tail(count, mean, size)
        sd = math.sqrt(mean + mean * mean / size)
        found: list[Burst] = []
        cooled = self._last_alert is None or (hour - self._last_alert).total_seconds() >= s.cooldown
        spike = (
            p_value < s.tail_probability and count >= s.min_count and count >= s.min_ratio * mean
        )
        if len(self._history) >= s.min_history_hours:
            self._cusum = max(0.0, self._cusum + (count - mean) / sd - s.cusum_k)
        ramp = self._cusum > s.cusum_h and count >= s.min_count
        warm = len(self._history) >= s.warmup_hours
        if (spike or ramp) and cooled and warm:
            found.append(
                Burst(
                    self.brand,
                    self.series,
                    hour,
                    count,
                    mean,
                    p_value,
                    "spike" if spike else "ramp",
                    self._cusum,
                    self.is_competitor,
                )
            )
            self._last_alert = hour
        if ramp or spike:
            self._cusum = 0.0
        learned = min(float(count), mean + _WINSOR_SD * sd) if (spike or ramp) else float(count)
        self._learn(hour, learned, mean)
        self.observed += 1
        return found

    def _learn(self, hour: datetime, count: float, mean: float) -> None:
        slot, hod = hour_of_week(hour), hour.hour
        if self.observed >= 24:  # dispersion is learned once the mean means something
            num, den = (count - mean) ** 2 - mean, mean * mean
        else:
            num, den = 0.0, 0.0
        self._history.append((slot, count, num, den))
        self._slot_sum[slot] += count
        self._slot_n[slot] += 1
        self._hod_sum[hod] += count
        self._hod_n[hod] += 1
        self._all_sum += count
        self._disp_num += num
        self._disp_den += den
        if len(self._history) > self.settings.history_weeks * _WEEK_HOURS:
            old_slot, old_count, old_num, old_den = self._history.popleft()
            self._slot_sum[old_slot] -= old_count
            self._slot_n[old_slot] -= 1
            self._hod_sum[old_slot % 24] -= old_count
            self._hod_n[old_slot % 24] -= 1
            self._all_sum -= old_count
            self._disp_num -= old_num
            self._disp_den -= old_den


class BurstMonitor:
    """Hourly counting and detection for many brands, driven by a (possibly simulated) clock.

    Call :meth:`add` for every mention as it is seen and :meth:`advance` with the current time;
    every hour that has finished is judged, including hours with no mentions at all.
    """

    def __init__(self, settings: BurstSettings, competitors: Mapping[str, bool] | None = None):
        self.settings = settings
        self.competitors = dict(competitors or {})
        self._detectors: dict[tuple[str, str], BurstDetector] = {}
        self._counts: dict[tuple[str, str, datetime], int] = {}
        self._next_hour: datetime | None = None

    def _detector(self, brand: str, series: str) -> BurstDetector:
        key = (brand, series)
        if key not in self._detectors:
            s = self.settings
            rate = s.default_rate * (s.default_negative_share if series == "negative" else 1.0)
            self._detectors[key] = BurstDetector(
                s,
                brand,
                series,
                default_rate=rate,
                is_competitor=self.competitors.get(brand, False),
            )
        return self._detectors[key]

    def add(self, brand: str, at: datetime, negative: bool) -> None:
        hour = floor_hour(at)
        if self._next_hour is None:
            self._next_hour = hour
        if hour < self._next_hour:
            hour = self._next_hour  # late arrival: counted in the hour still open
        # Both series exist from a brand's first mention: hours without negatives are history too.
        self._detector(brand, "negative")
        for series in ("all", "negative") if negative else ("all",):
            self._detector(brand, series)
            key = (brand, series, hour)
            self._counts[key] = self._counts.get(key, 0) + 1

    def advance(self, now: datetime) -> list[Burst]:
        """Judge every hour that ended at or before ``now``."""
        if self._next_hour is None:
            return []
        found: list[Burst] = []
        while self._next_hour + _HOUR <= now:
            hour = self._next_hour
            for (brand, series), detector in sorted(self._detectors.items()):
                count = self._counts.pop((brand, series, hour), 0)
                found.extend(detector.observe(hour, count))
            self._next_hour = hour + _HOUR
        return found

    def feed_history(self, counts: Iterable[tuple[str, str, datetime, int]]) -> None:
        """Seed counts (brand, series, hour, count) before the first :meth:`advance`."""
        for brand, series, hour, count in counts:
            self._detector(brand, series)
            hour = floor_hour(hour)
            if self._next_hour is None or hour < self._next_hour:
                self._next_hour = hour
            key = (brand, series, hour)
            self._counts[key] = self._counts.get(key, 0) + count
