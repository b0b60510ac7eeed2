"""Delivery against real local services: an SMTP server (aiosmtpd) reached through Apprise's
mailto:// code, a webhook receiver checking the signed payload, Apprise's json:// path, and the
faults: SMTP down then up, HTTP 500, timeouts, a process killed between outbox write and send.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from alerts.channels import verify_signature
from alerts.delivery import deliver_pending
from alerts.engine import AlertEngine
from alerts.outbox import claim_due
from monitor.loopback import LoopbackServer, Reply, Request
from monitor.records import Post
from monitor.status import collect_status
from monitor.store import Store
from tests.test_alerts_support import T0, Clock, event, free_port, make_config

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SMTP_PASSWORD = "s3cret-smtp-pw"
HOOK_SECRET = "hook-signing-secret"
ENV = {"SMTP_PASSWORD": SMTP_PASSWORD, "HOOK_SECRET": HOOK_SECRET}


class Mailbox:
    """An aiosmtpd server on 127.0.0.1 that requires the test password."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.messages: list[Message] = []
        self.logins: list[bool] = []
        self._lock = threading.Lock()
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with mailbox._lock:
                    mailbox.messages.append(
                        email.message_from_bytes(envelope.content, policy=email.policy.default)
                    )
                return "250 OK"

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> Any:
            ok = isinstance(data, LoginPassword) and data.password == SMTP_PASSWORD.encode()
            mailbox.logins.append(ok)
            return AuthResult(success=ok)

        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=port,
            authenticator=authenticate,
            auth_require_tls=False,
        )

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def email_config(port: int, **extra: Any) -> Any:
    url = (
        f"mailto://alerts:${{SMTP_PASSWORD}}@127.0.0.1:{port}"
        "?from=alerts@groundswell.example&to=pr@example.com&mode=insecure"
    )
    return make_config(
        {
            "route": {"group_wait": "0s"},
            "receivers": [{"name": "pr-oncall", "apprise": [url]}],
            "send_timeout": "3s",
            **extra,
        }
    )


def outbox_rows(store: Store) -> list[tuple[str, str, int, str | None]]:
    return store.conn.execute(
        "SELECT kind, status, attempts, last_error FROM outbox ORDER BY id"
    ).fetchall()


def body_text(message: Message, subtype: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            return str(part.get_content())  # type: ignore[attr-defined]
    raise AssertionError(f"no text/{subtype} part")


@pytest.fixture
def port() -> int:
    return free_port()


def test_email_through_apprise_to_real_smtp(store: Store, tmp_path: Path, port: int) -> None:
    post = Post(
        "rss",
        "1",
        title="Acme lost my wheelchair",
        text="Acme lost my wheelchair on a connecting flight and support closed my ticket.",
        url="https://example.org/wheelchair",
        lang="en",
    )
    store.upsert_posts([(post, ["Acme"])], seen_at=T0)
    config = email_config(port)
    clock = Clock()
    AlertEngine(config, store, clock).process(
        [event(post.id, story="s1", severity="critical", risk=0.91, reasons=("angry, specific",))]
    )
    with Mailbox(port) as mailbox:
        report = deliver_pending(store, config, clock.now, environ=ENV)
    assert (report.sent, report.failed) == (1, 0), report.errors
    (message,) = mailbox.messages
    assert mailbox.logins == [True]  # the ${SMTP_PASSWORD} reference was expanded at send time
    assert message["To"] == "pr@example.com"
    assert "[CRITICAL]" in message["Subject"] and "Acme lost my wheelchair" in message["Subject"]
    html = body_text(message, "html")
    assert "support closed my ticket" in html and "https://example.org/wheelchair" in html
    assert "0.91" in html and "angry, specific" in html and "Suggested first response" in html
    assert "<ol>" in html
    assert outbox_rows(store) == [("fired", "sent", 1, None)]
    (key,) = [row[0] for row in store.conn.execute("SELECT idempotency_key FROM outbox")]
    assert message["X-Idempotency-Key"] == key  # a re-sent copy is recognisable
    store.close()
    # The secret never reaches the archive.
    for path in tmp_path.glob("test.db*"):
        assert SMTP_PASSWORD.encode() not in path.read_bytes()


def test_smtp_down_then_up_loses_nothing_and_sends_once(store: Store, port: int) -> None:
    config = email_config(port)
    clock = Clock()
    engine = AlertEngine(config, store, clock)
    engine.process([event("rss:1", story="s1"), event("rss:2", story="s2")])
    down = deliver_pending(store, config, clock.now, environ=ENV)
    assert (down.sent, down.failed, down.dead) == (0, 2, 0)
    assert all(
        status == "pending" and attempts == 1 for _, status, attempts, _ in outbox_rows(store)
    )
    errors = " ".join(error or "" for *_, error in outbox_rows(store))
    assert "127.0.0.1" in errors and SMTP_PASSWORD not in errors
    with Mailbox(port) as mailbox:
        early = deliver_pending(store, config, clock.advance(10), environ=ENV)
        assert early.attempted == 0  # backoff: the retry is not due yet
        up = deliver_pending(store, config, clock.advance(30), environ=ENV)
        again = deliver_pending(store, config, clock.advance(3600), environ=ENV)
    assert (up.sent, again.attempted) == (2, 0)
    assert len(mailbox.messages) == 2
    assert sorted(m["Subject"].split("post ")[-1] for m in mailbox.messages) == ["rss:1", "rss:2"]


@pytest.fixture
def hook() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/hook": Reply(200, b"ok"), "/apprise": Reply(200, b"ok")}) as server:
        yield server


def webhook_config(url: str, **extra: Any) -> Any:
    return make_config(
        {
            "route": {"group_wait": "0s"},
            "receivers": [
                {"name": "pr-oncall", "webhooks": [{"url": url, "secret_env": "HOOK_SECRET"}]}
            ],
            "send_timeout": "2s",
            **extra,
        }
    )


def test_signed_webhook_payload(store: Store, hook: LoopbackServer) -> None:
    config = webhook_config(hook.url("/hook"))
    clock = Clock()
    AlertEngine(config, store, clock).process(
        [event("news:5", story="s9", source="news", cues=("refund",), severity="warning")]
    )
    report = deliver_pending(store, config, clock.now, environ=ENV)
    assert report.sent == 1, report.errors
    (request,) = hook.requests
    assert verify_signature(HOOK_SECRET, request.headers, request.body)
    assert not verify_signature("other-secret", request.headers, request.body)
    assert not verify_signature(HOOK_SECRET, request.headers, request.body + b" ")
    payload = json.loads(request.body)
    assert payload["schema"] == "groundswell.alert" and payload["version"] == 1
    assert payload["type"] == "alert.fired"
    assert request.headers["idempotency-key"] == payload["idempotency_key"]
    assert request.headers["x-groundswell-event"] == "alert.fired"
    assert payload["alert"]["brand"] == "Acme" and payload["alert"]["severity"] == "warning"
    assert payload["spread"] == {
        "posts": 1,
        "sources": ["news"],
        "languages": ["en"],
        "news_pickup": True,
        "cues": ["refund"],
    }
    assert len(payload["playbook"]) == 5
    assert set(payload) >= {"alert", "changes", "post", "engagement", "links", "sentiment"}


def test_webhook_without_its_secret_fails_visibly(store: Store, hook: LoopbackServer) -> None:
    config = webhook_config(hook.url("/hook"))
    clock = Clock()
    AlertEngine(config, store, clock).process([event()])
    report = deliver_pending(store, config, clock.now, environ={})
    assert report.failed == 1 and "HOOK_SECRET is not set" in report.errors[0]
    assert hook.requests == []


def test_apprise_json_path_carries_idempotency_key(store: Store, hook: LoopbackServer) -> None:
    url = f"json://127.0.0.1:{hook.port}/apprise"
    config = make_config(
        {"route": {"group_wait": "0s"}, "receivers": [{"name": "pr-oncall", "apprise": [url]}]}
    )
    clock = Clock()
    AlertEngine(config, store, clock).process([event("rss:3", story="s3", severity="critical")])
    report = deliver_pending(store, config, clock.now)
    assert report.sent == 1, report.errors
    (request,) = hook.requests
    body = json.loads(request.body)
    assert "[CRITICAL]" in body["title"] and "Suggested first response" in body["message"]
    key = store.conn.execute("SELECT idempotency_key FROM outbox").fetchone()[0]
    assert request.headers["idempotency-key"] == key


def test_webhook_500_retries_with_backoff_same_key(store: Store) -> None:
    answers = iter([500, 503, 200])

    def handler(request: Request) -> Reply:
        return Reply(next(answers), b"")

    with LoopbackServer({"/hook": handler}) as server:
        config = webhook_config(server.url("/hook"), retry_backoff="30s")
        clock = Clock()
        AlertEngine(config, store, clock).process([event()])
        first = deliver_pending(store, config, clock.now, environ=ENV)
        assert first.failed == 1 and "HTTP 500" in first.errors[0]
        assert deliver_pending(store, config, clock.advance(29), environ=ENV).attempted == 0
        second = deliver_pending(store, config, clock.advance(1), environ=ENV)
        assert second.failed == 1 and "HTTP 503" in second.errors[0]
        assert deliver_pending(store, config, clock.advance(59), environ=ENV).attempted == 0
        third = deliver_pending(store, config, clock.advance(1), environ=ENV)
        assert third.sent == 1
        keys = {request.headers["idempotency-key"] for request in server.requests}
    assert len(server.requests) == 3 and len(keys) == 1
    assert outbox_rows(store) == [("fired", "sent", 3, None)]


def test_timeouts_dead_letter_and_show_in_status(store: Store) -> None:
    with LoopbackServer({"/slow": Reply(200, b"late", delay=5)}) as server:
        config = webhook_config(
            server.url("/slow"), send_timeout="0.3s", max_attempts=2, retry_backoff="1s"
        )
        clock = Clock()
        AlertEngine(config, store, clock).process([event()])
        first = deliver_pending(store, config, clock.now, environ=ENV)
        second = deliver_pending(store, config, clock.advance(1), environ=ENV)
    assert "timeout" in first.errors[0]
    assert (second.failed, second.dead) == (1, 1)
    status = collect_status(config, store)["outbox"]
    assert status["dead"] == 1 and status["pending"] == 0
    assert status["dead_letters"][0]["attempts"] == 2
    assert "timeout" in status["dead_letters"][0]["last_error"]
    assert deliver_pending(store, config, clock.advance(86400), environ=ENV).attempted == 0


_CRASH_SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
from monitor.store import Store
from alerts.engine import AlertEngine
from tests.test_alerts_support import event, make_config, Clock
config = make_config({alerts!r})
store = Store.open({db!r})
AlertEngine(config, store, Clock()).process([event("rss:1", story="s1"), event("rss:2", story="s2")])
os._exit(9)  # killed after the outbox write, before any send
"""


def test_killed_between_outbox_write_and_send(tmp_path: Path) -> None:
    db = str(tmp_path / "crash.db")
    with LoopbackServer({"/hook": Reply(200, b"ok")}) as server:
        alerts = {
            "route": {"group_wait": "0s"},
            "receivers": [
                {"name": "pr-oncall", "webhooks": [{"url": server.url("/hook"), "secret_env": ""}]}
            ],
        }
        script = _CRASH_SCRIPT.format(
            root=str(Path(__file__).resolve().parents[1]), alerts=alerts, db=db
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 9, done.stderr.decode()
        assert server.requests == []
        config = make_config(alerts)
        with Store.open(db) as store:  # restart
            report = deliver_pending(store, config, T0)
            assert report.sent == 2
            assert deliver_pending(store, config, T0 + timedelta(hours=1)).attempted == 0
        with Store.open(db) as store:  # and once more: nothing is sent twice
            assert deliver_pending(store, config, T0 + timedelta(days=1)).attempted == 0
    assert len(server.requests) == 2
    assert len({r.headers["idempotency-key"] for r in server.requests}) == 2


def test_killed_after_claim_resumes_when_the_lease_ends(tmp_path: Path) -> None:
    db = tmp_path / "lease.db"
    with LoopbackServer({"/hook": Reply(200, b"ok")}) as server:
        alerts = {
            "route": {"group_wait": "0s"},
            "receivers": [
                {"name": "pr-oncall", "webhooks": [{"url": server.url("/hook"), "secret_env": ""}]}
            ],
        }
        config = make_config(alerts)
        with Store.open(db) as store:
            AlertEngine(config, store, Clock()).process([event()])
            assert len(claim_due(store, T0, 10, lease=60)) == 1  # then the process dies
        with Store.open(db) as store:
            assert deliver_pending(store, config, T0 + timedelta(seconds=30)).attempted == 0
            assert deliver_pending(store, config, T0 + timedelta(seconds=60)).sent == 1
    assert len(server.requests) == 1


def test_log_channel_without_configuration(store: Store) -> None:
    config = make_config()
    clock = Clock()
    AlertEngine(config, store, clock).process([event()])
    clock.advance(30)
    AlertEngine(config, store, clock).tick()
    report = deliver_pending(store, config, clock.now)
    assert report.sent == 1
    assert store.conn.execute("SELECT channel_kind, receiver FROM outbox").fetchone() == (
        "log",
        "pr-oncall",
    )
