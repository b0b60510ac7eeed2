"""Evaluate viral-risk alerting on simulated cascades, against three baselines in the same run.

Datasets (both from ``benchmarks/simulate.py``, seeded):

* ``templates`` — the simulator's multilingual template texts;
* ``labeled``  — texts drawn from the project's labeled multilingual set (held-out test split),
  so text harm is judged on posts the project labeled by hand.

Ground truth: an item is **harmful-viral** when its text is a complaint (simulated as harmful)
and its cascade reached ``--viral-min`` engagement events. Its peak is the hour with most
engagement; the oracle alerts the moment the post is first seen.

Methods, each scored per item (a story's news pickups count for their story):

* ``groundswell`` — the real replay (matching, harm, forecast, spread, bursts, alert grouping);
  its item score is the highest risk it gave the item at any time;
* ``engagement`` — rank by raw engagement (highest count observed);
* ``followers``  — rank by author followers;
* ``volume``     — "24 h count vs 7-day mean" per brand: an item's score is its brand's ratio when
  it was seen; as an alert rule it fires when the ratio crosses ``--volume-ratio``.

Reported per dataset: precision@k, recall of harmful-viral items, median lead before the peak
(and as a share of the oracle's), false alerts per brand per week (at groundswell's operating
point, and for each baseline at equal recall), PR-AUC. Ends with figures one per line.

Example::

    python benchmarks/eval_risk.py --posts 20000 --weeks 4 --plot docs/img/ubg_case.png
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.simulate import BRANDS, simulate
from monitor.config import parse_config
from monitor.events import RiskEvent
from monitor.harm import load_estimator
from monitor.records import parse_iso
from monitor.replay import ReplayAlert, parse_line, replay
from monitor.risk_settings import RiskSettings

HARMFUL_LABELS = {"harmful_viral", "complaint", "outage"}
LEXICON = "lexicon"  # --model lexicon: the lexicon-only harm estimator


@dataclass
class Item:
    id: str
    brand: str
    label: str
    harmful_viral: bool
    seen: datetime
    peak: datetime | None
    followers: int
    engagement: int


def pr_auc(scores: Sequence[float], truth: Sequence[bool]) -> float:
    """Average precision (area under the precision–recall curve, step-wise)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    positives = sum(truth)
    if positives == 0:
        return 0.0
    hits, total = 0, 0.0
    for rank, index in enumerate(order, 1):
        if truth[index]:
            hits += 1
            total += hits / rank
    return total / positives


def precision_at(scores: Sequence[float], truth: Sequence[bool], k: int) -> float:
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    return sum(truth[i] for i in order) / max(k, 1)


def false_at_recall(
    scores: Sequence[float], truth: Sequence[bool], recall: float
) -> tuple[int, float]:
    """Negatives ranked above the threshold that first reaches ``recall`` (and the recall reached)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    positives = sum(truth)
    hits = false = 0
    for index in order:
        if scores[index] <= 0:
            break
        if truth[index]:
            hits += 1
        else:
            false += 1
        if positives and hits / positives >= recall:
            return false, hits / positives
    return false, hits / positives if positives else 0.0


def volume_scores(
    items: list[Item], ratio_min: float
) -> tuple[dict[str, float], list[tuple[str, datetime]]]:
    """The "24 h count vs 7-day mean" rule: per-item brand ratio and the rule's alerts."""
    by_brand: dict[str, list[datetime]] = defaultdict(list)
    for item in items:
        by_brand[item.brand].append(item.seen)
    scores: dict[str, float] = {}
    alerts: list[tuple[str, datetime]] = []
    for brand, times in by_brand.items():
        times.sort()
        start = times[0]
        # Evaluate hourly: count of the last 24 h vs mean daily count of the 7 days before.
        hour = start + timedelta(days=7)
        ratios: list[tuple[datetime, float]] = []
        last_alert: datetime | None = None
        while hour <= times[-1] + timedelta(hours=1):
            day = bisect.bisect_right(times, hour) - bisect.bisect_right(
                times, hour - timedelta(days=1)
            )
            week = bisect.bisect_right(times, hour - timedelta(days=1)) - bisect.bisect_right(
                times, hour - timedelta(days=8)
            )
            ratio = day / max(week / 7.0, 1.0)
            ratios.append((hour, ratio))
            if ratio >= ratio_min and (
                last_alert is None or hour - last_alert >= timedelta(days=1)
            ):
                alerts.append((brand, hour))
                last_alert = hour
            hour += timedelta(hours=1)
        stamps = [h for h, _ in ratios]
        for item in items:
            if item.brand != brand:
                continue
            index = bisect.bisect_right(stamps, item.seen) - 1
            scores[item.id] = ratios[index][1] if index >= 0 else 0.0
    return scores, alerts


def run_dataset(
    name: str,
    records: list[dict],
    settings: RiskSettings,
    model: str | None,
    viral_min: int,
    volume_ratio: float,
) -> tuple[dict[str, float], dict]:
    config = parse_config(
        {
            "brands": [
                {
                    "name": b,
                    **(
                        {"competitors": [r for r, of in BRANDS if of == b]}
                        if any(of == b for _, of in BRANDS)
                        else {}
                    ),
                }
                for b, rival in BRANDS
                if rival is None
            ]
        },
        origin=f"<eval {name}>",
        validate_sources=False,
    )
    brands = config.brands
    posts = [parse_line(json.dumps(r)) for r in records]
    truth_of: dict[str, dict] = {r["id"]: r for r in records}
    estimator = load_estimator(settings.harm, model=model, lexicon_only=model == LEXICON)
    events: list[RiskEvent] = []
    alerts: list[ReplayAlert] = []
    started = time.perf_counter()
    _, summary = replay(
        posts,
        brands=brands,
        settings=settings,
        estimator=estimator,
        config=config,
        on_event=events.append,
        on_alert=alerts.append,
        progress=False,
    )
    seconds = time.perf_counter() - started

    def brand_of(record: dict) -> str:
        if record.get("brand"):
            return str(record["brand"])
        text = f"{record.get('title', '')} {record['text']}"
        return next((b for b, _ in BRANDS if b in text), BRANDS[0][0])

    items: dict[str, Item] = {}
    for record in records:
        if record["label"] == "news_pickup":
            continue
        peak = parse_iso(record["peak_at"]) if record.get("peak_at") else None
        snaps = record.get("snapshots") or []
        engagement = max(
            (
                (s.get("likes") or 0) + (s.get("shares") or 0) + (s.get("comments") or 0)
                for s in snaps
            ),
            default=0,
        )
        items[record["id"]] = Item(
            record["id"],
            brand_of(record),
            record["label"],
            record["label"] in HARMFUL_LABELS and record.get("final", 0) >= viral_min,
            parse_iso(record.get("seen_at") or record["published_at"]),
            peak,
            int(record.get("author_followers") or 0),
            engagement,
        )

    def item_of(post_id: str) -> str | None:
        record = truth_of.get(post_id)
        if record is None:
            return None
        root = record.get("story_id") or post_id
        return root if root in items else None

    # groundswell's item scores: the highest risk it gave the item (post and story events).
    ours: dict[str, float] = defaultdict(float)
    for event in events:
        if event.kind == "burst":
            continue
        key = item_of(event.post_id)
        if key is not None:
            ours[key] = max(ours[key], event.risk)
    ids = sorted(items)
    truth = [items[i].harmful_viral for i in ids]
    positives = [i for i in ids if items[i].harmful_viral]
    brands_n = len(BRANDS)
    span = max(i.seen for i in items.values()) - min(i.seen for i in items.values())
    weeks = max(span.total_seconds() / (7 * 86400), 1e-9)
    outage = [i for i in items.values() if i.label == "outage"]
    outage_start = min((i.seen for i in outage), default=None)
    outage_end = max((i.seen for i in outage), default=None)
    outage_brand = outage[0].brand if outage else None

    # The operating point: the alerts replay actually fired.
    first_alert: dict[str, datetime] = {}
    false_alerts = 0
    burst_true = 0
    for alert in alerts:
        if alert.kind == "burst":
            record = truth_of.get(alert.post_id)
            brand = brand_of(record) if record else None
            hit = (
                outage_start is not None
                and brand == outage_brand
                and outage_start - timedelta(hours=1)
                <= alert.fired_at
                <= outage_end + timedelta(hours=1)
            )
            if hit:
                burst_true += 1
            else:
                false_alerts += 1
            continue
        key = item_of(alert.post_id)
        if key is None:
            continue
        if items[key].harmful_viral:
            first_alert.setdefault(key, alert.fired_at)
        elif items[key].label != "outage" or alert.severity == "critical":
            false_alerts += 1
    recalled = [i for i in positives if i in first_alert]
    recall = len(recalled) / max(len(positives), 1)
    leads = [
        (items[i].peak - first_alert[i]).total_seconds() / 3600 for i in recalled if items[i].peak
    ]
    oracle = [
        (items[i].peak - items[i].seen).total_seconds() / 3600 for i in positives if items[i].peak
    ]
    ratios = [
        (items[i].peak - first_alert[i]) / (items[i].peak - items[i].seen)
        for i in recalled
        if items[i].peak and items[i].peak > items[i].seen
    ]
    before_peak = sum(1 for i in recalled if items[i].peak and first_alert[i] <= items[i].peak)

    methods = {
        "groundswell": [ours.get(i, 0.0) for i in ids],
        "engagement": [float(items[i].engagement) for i in ids],
        "followers": [float(items[i].followers) for i in ids],
    }
    vol_scores, vol_alerts = volume_scores(list(items.values()), volume_ratio)
    methods["volume"] = [vol_scores.get(i, 0.0) for i in ids]
    k = max(len(positives), 1)
    table = {}
    target_recall = recall if recall > 0 else 0.8
    for method, scores in methods.items():
        false, reached = false_at_recall(scores, truth, target_recall)
        table[method] = {
            "pr_auc": pr_auc(scores, truth),
            f"precision@{k}": precision_at(scores, truth, k),
            "precision@20": precision_at(scores, truth, 20),
            "false_per_brand_week_at_equal_recall": false / brands_n / weeks,
            "recall_reached": reached,
        }
    # The volume rule as an alert rule: which positives it covered, how many alerts were false.
    vol_hits = set()
    vol_false = 0
    for brand, at in vol_alerts:
        covered = [
            i
            for i in positives
            if items[i].brand == brand and items[i].seen <= at <= (items[i].peak or at)
        ]
        vol_hits.update(covered)
        near_outage = (
            brand == outage_brand
            and outage_start
            and outage_start <= at <= outage_end + timedelta(days=1)
        )
        if not covered and not near_outage:
            vol_false += 1
    report = {
        "dataset": name,
        "posts": summary.posts,
        "snapshots": summary.snapshots,
        "replay_seconds": seconds,
        "posts_per_second": summary.posts / seconds if seconds else 0.0,
        "harm_method": summary.harm_method,
        "grouping": summary.grouping,
        "weeks": weeks,
        "brands": brands_n,
        "positives": len(positives),
        "recall": recall,
        "alerted_before_peak": before_peak,
        "median_lead_h": statistics.median(leads) if leads else 0.0,
        "oracle_median_lead_h": statistics.median(oracle) if oracle else 0.0,
        "median_lead_share_of_oracle": statistics.median(ratios) if ratios else 0.0,
        "false_alerts_per_brand_week": false_alerts / brands_n / weeks,
        "alerts_total": len(alerts),
        "burst_alerts_on_outage": burst_true,
        "volume_rule": {
            "ratio": volume_ratio,
            "alerts": len(vol_alerts),
            "recall": len(vol_hits) / max(len(positives), 1),
            "false_per_brand_week": vol_false / brands_n / weeks,
        },
        "methods": table,
    }
    return {i: ours.get(i, 0.0) for i in ids}, report


def plot_case(records: list[dict], settings: RiskSettings, model: str | None, out: Path) -> str:
    """Score over time vs engagement for the largest harmful-viral (UBG-like) case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from monitor.replay import brands_for

    case = max(
        (r for r in records if r["label"] == "harmful_viral"), key=lambda r: r.get("final", 0)
    )
    story = [r for r in records if r["id"] == case["id"] or r.get("story_id") == case["id"]]
    brand = next(b for b, _ in BRANDS if b in case["text"] or b == case.get("brand"))
    events: list[RiskEvent] = []
    alerts: list[ReplayAlert] = []
    replay(
        [parse_line(json.dumps(r)) for r in story],
        brands=brands_for(None, brand, None),
        settings=settings,
        estimator=load_estimator(settings.harm, model=model, lexicon_only=model == LEXICON),
        on_event=events.append,
        on_alert=alerts.append,
        progress=False,
    )
    seen = parse_iso(case["seen_at"])
    hours = lambda t: (t - seen).total_seconds() / 3600  # noqa: E731
    snaps = sorted(case["snapshots"], key=lambda s: s["at"])
    fig, axis = plt.subplots(figsize=(9, 4.5))
    axis.plot(
        [hours(parse_iso(s["at"])) for s in snaps],
        [(s["likes"] or 0) + (s["shares"] or 0) + (s["comments"] or 0) for s in snaps],
        color="tab:blue",
        marker=".",
        label="engagement (likes+shares+comments)",
    )
    axis.set_xlabel("hours since first seen")
    axis.set_ylabel("cumulative engagement", color="tab:blue")
    risk_axis = axis.twinx()
    mine = [e for e in events if e.post_id == case["id"]]
    risk_axis.step(
        [hours(e.at) for e in mine],
        [e.risk for e in mine],
        where="post",
        color="tab:red",
        label="groundswell risk",
    )
    risk_axis.set_ylim(0, 1)
    risk_axis.set_ylabel("risk", color="tab:red")
    for threshold, style in ((settings.severity.warning, ":"), (settings.severity.critical, "--")):
        risk_axis.axhline(threshold, color="tab:red", linestyle=style, linewidth=0.8)
    peak = hours(parse_iso(case["peak_at"]))
    axis.axvline(peak, color="black", linestyle="--", linewidth=0.8)
    axis.text(peak, axis.get_ylim()[1] * 0.95, " peak", va="top")
    if alerts:
        first = hours(alerts[0].fired_at)
        axis.axvline(first, color="tab:red", linewidth=1.2)
        axis.text(
            first,
            axis.get_ylim()[1] * 0.8,
            f" first alert ({alerts[0].severity})",
            va="top",
            color="tab:red",
        )
    axis.set_title(f"UBG-like case: {case['text'][:70]}…", fontsize=9)
    fig.legend(loc="upper left", bbox_to_anchor=(0.08, 0.88), fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    lead = peak - hours(alerts[0].fired_at) if alerts else 0.0
    return f"case {case['id']} ({case['final']} engagements): first alert {lead:.1f} h before the peak, oracle {peak:.1f} h"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--weeks", type=float, default=4.0)
    parser.add_argument("--harmful-per-brand", type=int, default=5)
    parser.add_argument("--viral-min", type=int, default=1000)
    parser.add_argument("--volume-ratio", type=float, default=1.5)
    parser.add_argument(
        "--model", default=None, help="model id/folder (default: the project's); 'lexicon' = none"
    )
    parser.add_argument("--datasets", default="templates,labeled")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    args = parser.parse_args(argv)
    settings = RiskSettings()
    reports = []
    for dataset in args.datasets.split(","):
        started = time.perf_counter()
        records = simulate(args.seed, args.posts, args.weeks, dataset, args.harmful_per_brand)
        simulated = time.perf_counter() - started
        _, report = run_dataset(
            dataset, records, settings, args.model, args.viral_min, args.volume_ratio
        )
        report["simulate_seconds"] = simulated
        reports.append(report)
        if args.plot and dataset == "templates":
            report["plot"] = plot_case(records, settings, args.model, args.plot)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, default=str), encoding="utf-8")
    for report in reports:
        name = report["dataset"]
        print(
            f"== {name}: {report['posts']} posts, {report['snapshots']} snapshots, "
            f"{report['weeks']:.1f} weeks, {report['brands']} brands, harm by {report['harm_method']}, "
            f"grouping {report['grouping']}"
        )
        print(
            f"{name} replay {report['posts_per_second']:.0f} posts/s ({report['replay_seconds']:.1f} s)"
        )
        print(f"{name} harmful-viral items {report['positives']}")
        print(
            f"{name} recall {report['recall']:.2f} ({report['alerted_before_peak']} alerted before the peak)"
        )
        print(
            f"{name} median lead {report['median_lead_h']:.1f} h (oracle {report['oracle_median_lead_h']:.1f} h)"
        )
        print(f"{name} median lead share of oracle {report['median_lead_share_of_oracle']:.2f}")
        print(f"{name} false alerts {report['false_alerts_per_brand_week']:.2f} per brand per week")
        print(f"{name} outage burst alerts {report['burst_alerts_on_outage']}")
        vol = report["volume_rule"]
        print(
            f"{name} volume rule (×{vol['ratio']}): recall {vol['recall']:.2f}, "
            f"false {vol['false_per_brand_week']:.2f} per brand per week"
        )
        for method, numbers in report["methods"].items():
            cells = ", ".join(f"{key} {value:.3f}" for key, value in numbers.items())
            print(f"{name} {method}: {cells}")
        best = max(v["pr_auc"] for m, v in report["methods"].items() if m != "groundswell")
        ours = report["methods"]["groundswell"]["pr_auc"]
        print(f"{name} PR-AUC ratio to best baseline {ours / best if best else float('inf'):.1f}x")
        if "plot" in report:
            print(f"{name} plot: {report['plot']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
