"""Risk: combination, severity, reasons rendered with numbers, settings, and the score stage."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import ConfigError, parse_config
from monitor.forecast import Forecast, Velocity
from monitor.harm import LexiconHarm, combine_harm
from monitor.records import Post, Snapshot
from monitor.risk import combine, render_reasons, score_pending, severity_of
from monitor.risk_settings import HarmSettings, RiskSettings, risk_settings
from monitor.spread import Spread
from monitor.store import Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = RiskSettings()


def test_reasons_rendered_with_numbers() -> None:
    harm = combine_harm(0.93, 0.95, ["legal_threat"], SETTINGS.harm, lang="de")
    fc = Forecast(
        current=1200.0,
        loglinear=9000.0,
        hawkes=15000.0,
        kappa=0.8,
        final=12000.0,
        reach=0.8,
        age=2400.0,
        snapshots=5,
        from_prior=False,
        velocity=Velocity("shares", before=20, after=139, minutes=40.0, units_per_hour=600.0),
    )
    spread = Spread(
        0.7, 4, ("reddit", "news"), ("de", "en"), ("spiegel.example", "bbc.example"), True
    )
    reasons = render_reasons(harm, fc, spread, 48_000, source="reddit")
    assert reasons[:6] == (
        "complaint (0.93, de)",
        "legal threat",
        "shares ×7 in 40 min",
        "forecast 12k engagement (now 1.2k)",
        "author 48k followers",
        "picked up by 2 news sites",
    )
    assert "on 2 sources" in reasons and "in 2 languages" in reasons


def test_harmless_viral_and_lonely_complaint_stay_low() -> None:
    viral_praise, _ = combine(0.05, 1.0, 0.8, 5000.0, SETTINGS)
    lonely_complaint, _ = combine(0.97, 0.02, 0.0, 0.0, SETTINGS)
    spreading_complaint, _ = combine(0.9, 0.8, 0.5, 300.0, SETTINGS)
    assert severity_of(viral_praise, SETTINGS) is None
    assert severity_of(lonely_complaint, SETTINGS) is None
    assert severity_of(spreading_complaint, SETTINGS) == "critical"
    rival, _ = combine(0.9, 0.8, 0.5, 300.0, SETTINGS, is_competitor=True)
    assert rival < spreading_complaint


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 7.0])
def test_combine_never_returns_nan(bad: float) -> None:
    risk, reach = combine(bad, bad, bad, bad, SETTINGS)
    assert 0.0 <= risk <= 1.0 and 0.0 <= reach <= 1.0


def test_cues_raise_harm_only_for_negative_posts() -> None:
    settings = HarmSettings()
    angry = combine_harm(0.6, 0.7, ["legal_threat", "going_public"], settings)
    plain = combine_harm(0.6, 0.7, [], settings)
    happy = combine_harm(0.0, 0.05, ["going_public"], settings)
    assert angry.harm > plain.harm > happy.harm
    assert happy.harm == pytest.approx(settings.negative_weight * 0.05)  # the cue is ignored


@pytest.mark.parametrize(
    ("text", "lang", "cue"),
    [
        ("Skyline Air refuses to refund my ticket, talking to a lawyer", "en", "legal_threat"),
        ("Seit 5 Tagen kein Internet von Nordwave, ich kündige", "de", "outage_duration"),
        ("Brightcart zniszczył mój bagaż, idę do sądu. Skandal!", "pl", "legal_threat"),
        ("Nordwave разбили мой чемодан, пишу в прессу", "ru", "going_public"),
    ],
)
def test_lexicon_harm_is_labelled_and_finds_cues(text: str, lang: str, cue: str) -> None:
    estimate = LexiconHarm(HarmSettings()).assess([text], [lang])[0]
    assert estimate.method == "lexicon"
    assert cue in estimate.cues
    assert estimate.harm >= 0.5


def test_risk_section_parses_and_reports_problems() -> None:
    config = parse_config(
        {
            "risk": {
                "alert_min_severity": "critical",
                "severity": {"warning": 0.5},
                "forecast": {"horizon": "3d", "sources": {"youtube": {"viral": 50000}}},
                "harm": {"cues": {"legal_threat": 0.9}},
            }
        },
        validate_sources=False,
    )
    settings = risk_settings(config)
    assert settings.alert_min_severity == "critical"
    assert settings.severity.warning == 0.5
    assert settings.forecast.horizon == 3 * 86400
    assert settings.forecast.profile("youtube").viral == 50000
    assert (
        settings.forecast.profile("youtube").views
        == RiskSettings().forecast.profile("youtube").views
    )
    assert settings.harm.cues["legal_threat"] == 0.9 and "switching" in settings.harm.cues
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "risk": {
                    "severty": {},
                    "alert_min_severity": "loud",
                    "bursts": {"tail_probability": -1},
                    "harm": {"cues": {"legal_threat": "high"}},
                    "severity": {"info": 0.9, "warning": 0.5},
                }
            },
            validate_sources=False,
        )
    text = str(caught.value)
    for fragment in (
        "risk.severty: unknown key",
        "did you mean 'severity'",
        "risk.alert_min_severity",
        "risk.bursts.tail_probability",
        "risk.harm.cues.legal_threat",
        "info ≤ warning ≤ critical",
    ):
        assert fragment in text
    assert risk_settings(parse_config({}, validate_sources=False)) == RiskSettings()


def _config() -> object:
    return parse_config(
        {"brands": [{"name": "Skyline Air", "competitors": ["Bluejet"]}]}, validate_sources=False
    )


def test_score_pending_scores_stores_history_and_rescores_on_new_snapshots(store: Store) -> None:
    config = _config()
    post = Post(
        "reddit",
        "t3_1",
        text="Skyline Air smashed my guitar and refuses to pay, lawyer next",
        author_followers=5000,
        published_at=T0,
        lang="en",
        engagement=Snapshot(T0 + timedelta(minutes=20), likes=40, shares=10, comments=8),
    )
    calm = Post("reddit", "t3_2", text="Skyline Air lounge opens in Lisbon", published_at=T0)
    store.upsert_posts(
        [(post, ["Skyline Air"]), (calm, ["Skyline Air"])], seen_at=T0 + timedelta(minutes=20)
    )
    first = score_pending(store, config, T0 + timedelta(minutes=30))
    rows = store.conn.execute(
        "SELECT post_id, risk, severity, reasons, components FROM risk_scores"
    ).fetchall()
    assert {r[0] for r in rows} == {"reddit:t3_1", "reddit:t3_2"}
    scored = {r[0]: r for r in rows}
    assert json.loads(scored["reddit:t3_1"][3])[0].startswith("complaint")
    assert json.loads(scored["reddit:t3_1"][4])["harm_method"] == "lexicon"
    assert scored["reddit:t3_1"][1] > scored["reddit:t3_2"][1]
    assert [e.post_id for e in first if e.kind != "burst"] == ["reddit:t3_1"]
    # Nothing changed: nothing rescored.
    assert score_pending(store, config, T0 + timedelta(minutes=40)) == []
    assert store.count("risk_scores") == 2
    # Engagement took off: rescored, a new history row, a higher risk.
    store.add_snapshot(
        "reddit:t3_1", Snapshot(T0 + timedelta(hours=2), likes=900, shares=400, comments=120)
    )
    again = score_pending(store, config, T0 + timedelta(hours=2, minutes=5))
    history = store.conn.execute(
        "SELECT risk FROM risk_scores WHERE post_id = 'reddit:t3_1' ORDER BY at"
    ).fetchall()
    assert len(history) == 2 and history[1][0] > history[0][0]
    assert again and again[0].severity in ("warning", "critical")
    assert any("shares" in reason or "engagement" in reason for reason in again[0].reasons)


def test_score_pending_on_empty_archive_and_brand_without_history(tmp_path: object) -> None:
    with Store.open(":memory:") as archive:
        assert score_pending(archive, _config(), T0) == []
        post = Post("mastodon", "1", text="Bluejet is down again?", published_at=T0)
        archive.upsert_posts([(post, ["Bluejet"])], seen_at=T0)
        events = score_pending(archive, _config(), T0 + timedelta(hours=3))
        assert all(math.isfinite(e.risk) for e in events)
        assert archive.count("burst_state") >= 1
        assert archive.count("bursts") == 0


def test_rescored_post_is_not_pending_again_and_cli_shows_history(
    store: Store, tmp_path: object
) -> None:
    from click.testing import CliRunner

    from monitor.cli import cli

    config = _config()
    post = Post(
        "mastodon",
        "9",
        text="Skyline Air lost my bag, third time I call",
        published_at=T0,
        engagement=Snapshot(T0 + timedelta(minutes=5), likes=1),
    )
    store.upsert_posts([(post, ["Skyline Air"])], seen_at=T0 + timedelta(minutes=5))
    score_pending(store, config, T0 + timedelta(minutes=10))
    store.add_snapshot("mastodon:9", Snapshot(T0 + timedelta(minutes=20), likes=2))
    score_pending(store, config, T0 + timedelta(minutes=30))
    assert store.count("risk_scores") == 2  # history follows the data ...
    score_pending(store, config, T0 + timedelta(minutes=40))
    assert store.count("risk_scores") == 2  # ... and nothing is pending without new data
    result = CliRunner().invoke(cli, ["risk", "show", "mastodon:9", "--db", store.path])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2 and rows[0]["components"]["engagement"] == 1.0
    missing = CliRunner().invoke(cli, ["risk", "show", "nope", "--db", store.path])
    assert missing.exit_code == 1
    scored = CliRunner().invoke(cli, ["risk", "score", "--db", store.path])
    assert scored.exit_code == 0 and "event(s)" in scored.stderr
