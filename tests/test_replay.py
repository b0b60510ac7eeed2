"""groundswell replay: the format, determinism, bad input, and the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.simulate import simulate
from monitor.cli import cli
from monitor.harm import LexiconHarm
from monitor.replay import brands_for, parse_line, read_posts, replay
from monitor.risk_settings import RiskSettings

CONFIG = """
[[brands]]
name = "Skyline Air"
competitors = ["Bluejet"]

[[brands]]
name = "Nordwave"
competitors = ["Telvia"]

[[brands]]
name = "Brightcart"
"""


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = simulate(seed=11, posts=2500, weeks=1.0, harmful_per_brand=2, harmless_per_brand=1)
    path = tmp_path_factory.mktemp("replay") / "sim.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    (path.parent / "groundswell.toml").write_text(CONFIG, "utf-8")
    return path


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stdout, result.stderr


def test_replay_is_deterministic_and_follows_the_format(simulated: Path) -> None:
    config = str(simulated.parent / "groundswell.toml")
    first = _run(["replay", str(simulated), "--config", config, "--lexicon", "--no-progress"])
    second = _run(["replay", str(simulated), "--config", config, "--lexicon", "--no-progress"])
    assert first[0] == 0, first[2]
    assert first[1] == second[1]
    lines = [json.loads(line) for line in first[1].splitlines()]
    assert lines, "the simulation has harmful viral stories: replay must alert"
    for alert in lines:
        assert set(alert) == {"post_id", "fired_at", "kind", "severity", "risk", "reasons", "route"}
        assert alert["kind"] in ("post", "story", "burst")
        assert alert["severity"] in ("info", "warning", "critical")
        assert 0.0 <= alert["risk"] <= 1.0 and alert["reasons"]
        assert alert["fired_at"].endswith("Z")
    fired = [a["fired_at"] for a in lines]
    assert fired == sorted(fired)  # alerts come out as they fire in simulated time
    assert "alerts:" in first[2] and "per week" in first[2]
    truth = {
        json.loads(row)["id"]: json.loads(row) for row in simulated.read_text("utf-8").splitlines()
    }
    harmful = {a["post_id"] for a in lines if truth[a["post_id"]]["label"] == "harmful_viral"}
    assert harmful


def test_out_file_brand_and_query_options(simulated: Path, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    code, stdout, _ = _run(
        [
            "replay",
            str(simulated),
            "--brand",
            "Skyline Air",
            "--lexicon",
            "--no-engine",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0 and stdout == ""
    alerts = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert alerts and all(a["route"] == "default" for a in alerts)
    truth = {
        json.loads(row)["id"]: json.loads(row) for row in simulated.read_text("utf-8").splitlines()
    }
    assert all(
        "Skyline Air" in truth[a["post_id"]]["text"]
        or truth[a["post_id"]].get("title", "").find("Skyline Air") >= 0
        for a in alerts
    )
    code, _, stderr = _run(["replay", str(simulated), "--query", "Brightcart AND (", "--lexicon"])
    assert code == 1 and "--query" in stderr


BAD_LINES = [
    "not json at all",
    "[1, 2]",
    json.dumps({"id": "x1", "source": "reddit", "text": "Skyline Air"}),  # no published_at
    json.dumps(
        {"id": "x2", "source": "reddit", "text": "Skyline Air", "published_at": "yesterday"}
    ),
    json.dumps({"source": "reddit", "text": "Skyline Air", "published_at": "2026-03-01T10:00:00Z"}),
]
GOOD = {
    "id": "ok",
    "source": "reddit",
    "text": "Skyline Air smashed my guitar and refuses to refund. Lawyer and a song next.",
    "published_at": "2026-03-01T10:00:00Z",
    "snapshots": [
        {"at": "2026-03-01T13:00:00Z", "likes": 900, "shares": 300, "comments": None},
        {"at": "2026-03-01T09:58:00Z", "likes": 2, "shares": "x"},  # clock skew, bad count
        {"at": "2026-03-01T12:00:00Z", "likes": 500, "shares": 100, "comments": 40},
        {"at": "2026-03-01T14:00:00Z", "likes": 700, "shares": 290, "comments": 10},  # deleted
        {"at": "not a time", "likes": 5},
        "garbage",
    ],
}
NO_ENGAGEMENT = {
    "id": "quiet",
    "source": "news",
    "text": "Skyline Air opens a lounge",
    "published_at": "2026-03-01T10:00:00+01:00",
    "seen_at": "2026-03-01T11:00:00Z",
}


def test_bad_input_is_skipped_or_survived(tmp_path: Path) -> None:
    lines = [*BAD_LINES, json.dumps(GOOD), json.dumps(GOOD), json.dumps(NO_ENGAGEMENT), ""]
    posts, errors = read_posts(lines)
    assert [p.id for p in posts] == ["ok", "quiet"]
    assert len(errors) == len(BAD_LINES) + 1 and "duplicate id" in errors[-1]
    assert len(posts[0].snapshots) == 4
    alerts, summary = replay(
        posts,
        brands=brands_for(None, "Skyline Air", None),
        settings=RiskSettings(),
        estimator=LexiconHarm(RiskSettings().harm),
        use_engine=False,
        progress=False,
        errors=errors,
    )
    assert summary.bad_lines == 6 and summary.posts == 2
    assert alerts and {a.post_id for a in alerts} == {"ok"}
    severities = [a.severity for a in alerts]
    assert severities[-1] == "critical" and len(set(severities)) == len(
        severities
    )  # re-fire on escalation only
    assert all(0.0 <= a.risk <= 1.0 for a in alerts)


def test_posts_with_brand_key_need_no_query() -> None:
    post = parse_line(
        json.dumps({**GOOD, "brand": "Acme", "text": "no name in here, refund refused, lawyer"})
    )
    _alerts, summary = replay(
        [post],
        brands=(),
        settings=RiskSettings(),
        estimator=LexiconHarm(RiskSettings().harm),
        use_engine=False,
        progress=False,
    )
    assert summary.matched == 1


@pytest.mark.slow
def test_replay_100k_posts_in_minutes(tmp_path: Path) -> None:
    records = simulate(seed=3, posts=100_000, weeks=4.0)
    posts = [parse_line(json.dumps(r)) for r in records]
    started = time.perf_counter()
    _, summary = replay(
        posts,
        brands=brands_for(
            None, None, '"Skyline Air" OR Nordwave OR Brightcart OR Bluejet OR Telvia'
        ),
        settings=RiskSettings(),
        estimator=LexiconHarm(RiskSettings().harm),
        use_engine=False,
        progress=False,
    )
    seconds = time.perf_counter() - started
    assert summary.posts >= 100_000 and summary.snapshots > 100_000
    assert seconds < 300, f"replay of {summary.posts} posts took {seconds:.0f} s"
