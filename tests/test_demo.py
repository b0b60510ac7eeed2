"""The demo (README command 1) in fast mode: the cello story must become exactly one critical
alert thread, delivered to the local SMTP mailbox and the signed webhook, and visible in the UI."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from monitor.demo import DEMO_USER, demo_config, play
from monitor.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def email_texts(path: Path, subject: str) -> list[str]:
    """Decoded text of every message in the mbox whose subject mentions ``subject``."""
    box = mailbox.mbox(str(path))
    try:
        messages = [email.message_from_bytes(bytes(m), policy=email.policy.default) for m in box]
    finally:
        box.close()
    texts = []
    for message in messages:
        if subject in str(message["Subject"]):
            parts = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
            texts.append("\n".join(str(p) for p in parts))
    return texts


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], object]:
    workdir = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    outcome = play(workdir / "groundswell.db", fast=True, echo=lines.append)
    return workdir, lines, outcome


def test_ubg_story_is_one_critical_thread_delivered_everywhere(
    demo_run: tuple[Path, list[str], object],
) -> None:
    workdir, lines, _ = demo_run
    with Store.open(workdir / "groundswell.db") as store:
        story = store.conn.execute(
            "SELECT story_id FROM posts WHERE source = 'reddit' AND title LIKE '%smashed my cello%'"
        ).fetchone()[0]
        assert story, "the cello post was not collected or not clustered"
        members = {
            r[0]
            for r in store.conn.execute("SELECT source FROM posts WHERE story_id = ?", (story,))
        }
        threads = store.conn.execute(
            "SELECT id, severity, receiver FROM alerts WHERE story_id = ?", (story,)
        ).fetchall()
        assert len(threads) == 1, f"expected one alert thread for the story, got {threads}"
        alert_id, severity, receiver = threads[0]
        assert severity == "critical" and receiver == "pr-oncall"
        criticals = store.conn.execute(
            "SELECT count(*) FROM alerts WHERE severity = 'critical' AND brand = 'Aurora Air'"
        ).fetchone()[0]
        assert criticals == 1
        channels = {
            r[0]
            for r in store.conn.execute(
                "SELECT channel_kind FROM outbox WHERE alert_id = ? AND status = 'sent'",
                (alert_id,),
            )
        }
        assert {"apprise", "webhook"} <= channels
        assert (
            store.conn.execute("SELECT count(*) FROM outbox WHERE status = 'dead'").fetchone()[0]
            == 0
        )
    assert {"reddit", "mastodon", "bluesky"} <= members  # the story spread and stayed one story
    assert any("cello" in text for text in email_texts(workdir / "demo-mailbox.mbox", "Aurora Air"))
    hooks = [
        json.loads(line) for line in (workdir / "demo-webhooks.jsonl").read_text().splitlines()
    ]
    assert any(h["alert"]["id"] == alert_id and h["alert"]["severity"] == "critical" for h in hooks)
    assert any("ALERT CRITICAL" in line for line in lines)


def test_alert_visible_in_the_review_ui(demo_run: tuple[Path, list[str], object]) -> None:
    from monitor.config import parse_config
    from monitor.web.app import create_app
    from monitor.web.auth import ensure_user

    workdir, _, _ = demo_run
    db = workdir / "groundswell.db"
    with Store.open(db) as store:
        ensure_user(store, DEMO_USER[0], DEMO_USER[1], "admin")
    urls = {
        k: "http://127.0.0.1:9/x"
        for k in (
            "news",
            "reddit_api",
            "reddit_token",
            "reddit_web",
            "bluesky",
            "hn_api",
            "hn_items",
        )
    }
    urls["mastodon"] = "http://127.0.0.1:9"
    config = parse_config(
        demo_config(urls, str(db), 2525, "http://127.0.0.1:9/hook", "http://127.0.0.1:8080")
    )
    with TestClient(create_app(config, db, secret="test"), base_url="https://testserver") as client:
        login = client.get("/login")
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', login.text)
        assert token is not None
        client.post(
            "/login",
            data={
                "csrf_token": token.group(1),
                "username": DEMO_USER[0],
                "password": DEMO_USER[1],
                "next": "/alerts",
            },
        )
        page = client.get("/alerts")
    assert page.status_code == 200
    assert "Aurora Air" in page.text and "critical" in page.text.lower()
