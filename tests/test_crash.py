"""kill -9 at any point, restart: no post, assessment or alert is lost or duplicated.

``groundswell run`` runs in a subprocess against loopback fake sources (the demo's scripted day,
compressed to ~30 s and ending at "now"), a tiny local model and a signed webhook. It is killed
with SIGKILL twice at different moments — whatever stage was running — restarted each time,
and finally stopped with SIGTERM, which flushes the outbox.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.demo import DEMO_ENV
from monitor.demo_script import build_scenario
from monitor.fakes import FakeSources, SimulatedClock
from monitor.mailbox import WebhookLog
from monitor.store import Store
from tests.nlp_support import make_tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

DAY_SECONDS = 30.0


def write_config(path: Path, urls: dict[str, str], webhook: str, model: Path) -> None:
    path.write_text(
        f"""
[[brands]]
name = "Aurora Air"
query = '("aurora air" OR auroraair) NOT "aurora borealis"'
competitors = ["Nimbus Airlines"]

[[brands]]
name = "Nimbus Airlines"
query = '"nimbus airlines"'

[[sources]]
name = "news"
type = "rss"
interval = "1s"
params = {{ url = "{urls["news"]}" }}

[[sources]]
name = "reddit"
type = "reddit"
interval = "1s"
params = {{ client_id_env = "DEMO_REDDIT_CLIENT_ID", client_secret_env = "DEMO_REDDIT_CLIENT_SECRET", api_url = "{urls["reddit_api"]}", token_url = "{urls["reddit_token"]}", web_url = "{urls["reddit_web"]}" }}

[[sources]]
name = "mastodon"
type = "mastodon"
interval = "1s"
params = {{ servers = ["{urls["mastodon"]}"] }}

[[sources]]
name = "bluesky"
type = "bluesky"
interval = "1s"
params = {{ handle_env = "DEMO_BSKY_HANDLE", app_password_env = "DEMO_BSKY_APP_PASSWORD", service = "{urls["bluesky"]}" }}

[model]
name = "{model}"
quantize = "none"

[risk.bursts]
warmup_hours = 0

[scheduler]
process_interval = "1s"
repoll_interval = "2s"
disabled = ["retention", "digest", "anchor", "optimize"]

[alerts]
route = {{ receiver = "pr", group_wait = "0s", group_interval = "1s" }}
receivers = [{{ name = "pr", webhooks = [{{ url = "{webhook}", secret_env = "DEMO_WEBHOOK_SECRET" }}] }}]
""",
        encoding="utf-8",
    )


def start(workdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **DEMO_ENV, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_kill_9_and_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    model = make_tiny_model(tmp_path / "tiny", ("negative", "neutral", "positive", "complaint"))
    now = datetime.now(UTC)
    scenario = build_scenario(start=now - timedelta(days=1))
    clock = SimulatedClock(scenario.start, speed=86400 / DAY_SECONDS)
    wait = threading.Event()
    with (
        WebhookLog(tmp_path / "hooks.jsonl", DEMO_ENV["DEMO_WEBHOOK_SECRET"]) as webhook,
        FakeSources(scenario, clock) as fakes,
    ):
        write_config(tmp_path / "groundswell.toml", fakes.urls, webhook.url, model)
        for kill_after in (6.0, 7.0):
            proc = start(tmp_path)
            wait.wait(kill_after)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        proc = start(tmp_path)
        while clock() < scenario.end + timedelta(hours=1):  # past the end: everything visible
            wait.wait(0.5)
        wait.wait(4)  # a few more rounds to store, score and deliver the last posts
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        served = {key for keys in fakes.served.values() for key in keys}

    with Store.open(tmp_path / "groundswell.db") as store:
        posts = store.count("posts")
        dup_assessments = store.conn.execute(
            "SELECT post_id, model_version, count(*) FROM assessments GROUP BY 1, 2 HAVING count(*) > 1"
        ).fetchall()
        unassessed = store.conn.execute(
            "SELECT count(*) FROM posts WHERE id NOT IN (SELECT post_id FROM assessments)"
        ).fetchone()[0]
        open_threads = store.conn.execute(
            "SELECT group_key, count(*) FROM alerts WHERE status != 'resolved' GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        outbox = dict(
            store.conn.execute("SELECT status, count(*) FROM outbox GROUP BY 1").fetchall()
        )
        alerts = store.count("alerts")
    assert posts == len(served), "a post the sources served is missing from the archive"
    assert dup_assessments == []
    assert unassessed == 0
    assert open_threads == []
    assert alerts >= 1
    assert outbox.get("pending", 0) == 0 and outbox.get("dead", 0) == 0
    keys = Counter(p["idempotency_key"] for p in webhook.payloads)
    assert [k for k, n in keys.items() if n > 1] == [], "a webhook delivery was sent twice"
    assert sum(keys.values()) == outbox.get("sent", 0)


def big_feed(items: int) -> bytes:
    body = "".join(
        f"<item><title>Aurora Air item {n}</title><guid>g-{n}</guid><link>https://n.example/{n}</link>"
        f"<description>Aurora Air lost bag number {n}, refund refused, third call today.</description></item>"
        for n in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{body}</channel></rss>'.encode()


def _wait_for_rows(db: Path, table: str, timeout: float = 120.0) -> None:
    """Until the stage has committed some rows (so the kill lands part-way through it)."""
    pause = threading.Event()
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while datetime.now(UTC) < deadline:
        if db.exists():
            with Store.open(db, readonly=True) as store:
                if store.db[table].exists() and store.count(table) > 0:
                    return
        pause.wait(0.02)


@pytest.mark.parametrize(
    ("stage", "items"), [("collect", 3000), ("classify", 1500), ("score", 600)]
)
def test_kill_9_inside_one_stage_then_rerun(tmp_path: Path, stage: str, items: int) -> None:
    """Each stage run alone, killed part-way, then run again to the end: every item exactly once."""
    from monitor.loopback import LoopbackServer, Reply

    model = make_tiny_model(tmp_path / "tiny", ("negative", "neutral", "positive", "complaint"))
    with LoopbackServer({"/feed": Reply(200, big_feed(items), etag=False)}) as server:
        (tmp_path / "groundswell.toml").write_text(
            f'[[brands]]\nname = "Aurora Air"\n[[sources]]\nname = "news"\ntype = "rss"\n'
            f'params = {{ url = "{server.url("/feed")}" }}\n[model]\nname = "{model}"\nquantize = "none"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}

        def stage_run(name: str) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, "-m", "monitor.cli", "stage", name],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
            )

        for before in ("collect", "classify")[: ("collect", "classify", "score").index(stage)]:
            assert stage_run(before).wait(timeout=240) == 0
        victim = stage_run(stage)
        if stage == "collect":
            threading.Event().wait(1.5)  # one transaction: kill it while the feed is being stored
        else:
            _wait_for_rows(
                tmp_path / "groundswell.db", "assessments" if stage == "classify" else "risk_scores"
            )
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        assert stage_run(stage).wait(timeout=240) == 0
    with Store.open(tmp_path / "groundswell.db") as store:
        assert store.count("posts") == items
        if stage == "collect":
            state = store.get_state("news")
            assert state is not None and state.items_total == items
        if stage in ("classify", "score"):
            per_post = store.conn.execute(
                "SELECT count(*), count(DISTINCT post_id) FROM assessments"
            ).fetchone()
            assert per_post == (items, items)
        if stage == "score":
            unscored = store.conn.execute(
                "SELECT count(*) FROM posts WHERE id NOT IN (SELECT post_id FROM risk_scores)"
            ).fetchone()[0]
            assert unscored == 0
