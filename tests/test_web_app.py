"""Review UI: pages, actions, and the security promises (escaping, CSRF, roles, sessions)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from monitor.store import Store
from monitor.web.app import route_table
from monitor.web.sample import XSS_TEXT, SampleArchive
from tests.test_web_support import (  # noqa: F401 - fixtures are registered by import
    NOW,
    PASSWORD,
    anon_fixture,
    csrf_of,
    signed_in,
    web_app_fixture,
    web_db_fixture,
    web_template_fixture,
)


def _audit(path: Path) -> list[tuple[str, str, str]]:
    with Store.open(path, readonly=True) as store:
        return store.conn.execute(
            "SELECT actor, action, subject FROM audit_log ORDER BY seq"
        ).fetchall()


def test_anonymous_sees_only_the_login_page(anon: TestClient, web_app: Starlette) -> None:
    for path, methods in route_table(web_app):
        if "GET" not in methods or path in ("/login", "/healthz", "/metrics"):
            continue
        if path == "/alerts/{alert_id:int}/{action}":
            # signed links from alert messages: the token is the credential (tests/test_web_links.py)
            denied = anon.get("/alerts/1/ack?token=forged", follow_redirects=False)
            assert denied.status_code == 400 and "Sign in" not in denied.text
            continue
        concrete = path.replace("{post_id:path}", "rss:s0")
        response = anon.get(concrete, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
    page = anon.get("/")
    assert page.url.path == "/login"
    assert "Sign in" in page.text and "refund" not in page.text
    assert anon.get("/metrics").status_code == 401
    assert anon.get("/healthz").text == "ok\n"


def test_login_sets_a_secure_httponly_session_and_rate_limits(anon: TestClient) -> None:
    token = csrf_of(anon, "/login")
    ok = anon.post(
        "/login",
        data={"username": "rita", "password": PASSWORD, "csrf_token": token, "next": "/alerts"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/alerts"
    cookies = ok.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("gs_session="))
    assert "HttpOnly" in session and "Secure" in session and "samesite=lax" in session.lower()
    anon.cookies.clear()
    token = csrf_of(anon, "/login")
    codes = [
        anon.post(
            "/login", data={"username": "vic", "password": "wrong", "csrf_token": token}
        ).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [401] * 5
    assert codes[5] == 429
    # Even the right password is refused while the limit holds.
    blocked = anon.post(
        "/login", data={"username": "vic", "password": PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers


def test_login_refuses_open_redirects(anon: TestClient) -> None:
    token = csrf_of(anon, "/login")
    response = anon.post(
        "/login",
        data={
            "username": "rita",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_forms_without_csrf_token_are_refused(
    web_app: Starlette, web_db: tuple[Path, SampleArchive]
) -> None:
    path, sample = web_db
    client = signed_in(web_app, "alice")
    csrf_of(client)  # the browser has its CSRF cookie, the attacker's form has no token
    before = _audit(path)
    posts = [p for p, methods in route_table(web_app) if "POST" in methods]
    assert {"/login", "/logout", "/review", "/alert", "/silence"} <= set(posts)
    for path_pattern in posts:
        target = path_pattern.replace("{alert_id:int}/{action}", "1/resolve")
        data = {
            "post_id": sample.top_post_id,
            "op": "resolve",
            "alert_id": "1",
            "username": "alice",
            "password": PASSWORD,
        }
        assert client.post(target, data=data).status_code == 403, target
        forged = client.post(target, data={**data, "csrf_token": "0" * 64})
        assert forged.status_code == 403, target
    assert _audit(path) == before


def test_xss_payload_in_a_post_renders_inert(
    web_app: Starlette, web_db: tuple[Path, SampleArchive]
) -> None:
    _, sample = web_db
    client = signed_in(web_app, "vic")
    for page in (f"/post/{sample.xss_post_id}", "/?status=all&sort=time", "/?q=review"):
        html = client.get(page).text
        assert "<script>document.title" not in html
        assert "<img src=x" not in html
        assert "<b>bold</b>" not in html
    detail = client.get(f"/post/{sample.xss_post_id}")
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in detail.text
    assert "script-src 'self'" in detail.headers["content-security-policy"]
    assert XSS_TEXT.startswith("<script>")


@pytest.mark.parametrize("name", ["vic", "audrey"])
def test_readers_cannot_act(
    web_app: Starlette, web_db: tuple[Path, SampleArchive], name: str
) -> None:
    path, sample = web_db
    client = signed_in(web_app, name)
    token = csrf_of(client)
    inbox = client.get("/").text
    assert 'value="resolve"' not in inbox  # no action buttons for readers
    before = _audit(path)
    for target, data in (
        ("/review", {"post_id": sample.top_post_id, "op": "resolve"}),
        ("/review", {"post_id": sample.top_post_id, "op": "label", "sentiment": "positive"}),
        ("/alert", {"alert_id": str(sample.alert_ids[0]), "op": "ack"}),
        ("/silence", {"op": "create", "brand": "Aurora Air", "duration": "1h", "comment": "x"}),
    ):
        response = client.post(target, data={**data, "csrf_token": token})
        assert response.status_code == 403
        assert "can only read" in response.text
    assert _audit(path) == before
    with Store.open(path, readonly=True) as store:
        assert store.count("reviews") == 0


def test_auditor_reads_through_a_read_only_connection(web_app: Starlette) -> None:
    client = signed_in(web_app, "audrey")
    assert client.get("/").status_code == 200
    web = web_app.state.web
    # The auditor's pages were served from the mode=ro connection of that worker thread.
    assert any(store.readonly for store in web._opened)


def test_review_actions_change_state_inbox_and_audit(
    web_app: Starlette, web_db: tuple[Path, SampleArchive]
) -> None:
    path, sample = web_db
    client = signed_in(web_app, "rita")
    token = csrf_of(client)
    post_id = sample.top_post_id
    steps = [
        ({"op": "assign", "assignee": "alice"}, "review.assign"),
        ({"op": "acknowledge"}, "review.ack"),
        ({"op": "note", "text": "Called the customer <b>back</b>"}, "review.note"),
        ({"op": "label", "sentiment": "negative", "complaint": "1"}, "review.label"),
        ({"op": "snooze", "duration": "4h"}, "review.snooze"),
        ({"op": "resolve"}, "review.resolve"),
    ]
    for data, _ in steps:
        response = client.post("/review", data={**data, "post_id": post_id, "csrf_token": token})
        assert response.status_code == 200 and "notice=" in str(response.url), data
    actions = [
        a for actor, a, subject in _audit(path) if subject == f"post:{post_id}" and actor == "rita"
    ]
    assert actions == [action for _, action in steps]
    with Store.open(path, readonly=True) as store:
        status, assignee, label, complaint = store.conn.execute(
            "SELECT status, assignee, label_sentiment, label_complaint FROM reviews WHERE post_id = ?",
            (post_id,),
        ).fetchone()
        assert (status, assignee, label, complaint) == ("resolved", "alice", "negative", 1)
        assert store.conn.execute(
            "SELECT status FROM inbox WHERE post_id = ?", (post_id,)
        ).fetchone() == ("resolved",)
    page = client.get(f"/post/{post_id}").text
    assert "Called the customer &lt;b&gt;back&lt;/b&gt;" in page
    assert "review.resolve" in page  # history section
    open_inbox = client.get("/").text
    assert f'value="{post_id}"' not in open_inbox
    assert f'value="{post_id}"' in client.get("/?status=resolved").text


def test_false_positive_and_bad_input(
    web_app: Starlette, web_db: tuple[Path, SampleArchive]
) -> None:
    _, sample = web_db
    client = signed_in(web_app, "alice")
    token = csrf_of(client)
    fp = client.post(
        "/review", data={"op": "false_positive", "post_id": sample.top_post_id, "csrf_token": token}
    )
    assert "false+positive" in str(fp.url).lower()
    bad = client.post(
        "/review",
        data={
            "op": "label",
            "sentiment": "angry",
            "post_id": sample.top_post_id,
            "csrf_token": token,
        },
    )
    assert "error=" in str(bad.url)
    missing = client.post(
        "/review", data={"op": "resolve", "post_id": "nope:1", "csrf_token": token}
    )
    assert "error=" in str(missing.url)


def test_alerts_and_silences(web_app: Starlette, web_db: tuple[Path, SampleArchive]) -> None:
    path, sample = web_db
    client = signed_in(web_app, "alice")
    token = csrf_of(client, "/alerts")
    page = client.get("/alerts").text
    assert "angry customer story" in page and "firing" in page
    first, second = sample.alert_ids
    client.post("/alert", data={"alert_id": str(first), "op": "ack", "csrf_token": token})
    client.post("/alert", data={"alert_id": str(second), "op": "resolve", "csrf_token": token})
    created = client.post(
        "/silence",
        data={
            "op": "create",
            "brand": "Aurora Air",
            "severity": "warning",
            "matchers": "lang!=de",
            "duration": "2h",
            "comment": "known outage",
            "csrf_token": token,
        },
    )
    assert "Silence" in created.text and "known outage" in created.text
    with Store.open(path, readonly=True) as store:
        statuses = dict(store.conn.execute("SELECT id, status FROM alerts").fetchall())
        assert statuses[first] == "acknowledged" and statuses[second] == "resolved"
        kinds = [
            r[0] for r in store.conn.execute("SELECT kind FROM alert_events WHERE actor = 'alice'")
        ]
        assert sorted(kinds) == ["acknowledged", "resolved"]
        ((silence_id, matchers),) = store.conn.execute(
            "SELECT id, matchers FROM silences"
        ).fetchall()
        assert set(eval_json(matchers)) == {"lang!=de", "brand=Aurora Air", "severity=warning"}
    client.post(
        "/silence", data={"op": "expire", "silence_id": str(silence_id), "csrf_token": token}
    )
    actions = [a for _, a, _ in _audit(path)]
    assert {"alert.ack", "alert.resolve", "silence.create", "silence.expire"} <= set(actions)
    bad = client.post(
        "/silence",
        data={
            "op": "create",
            "matchers": "not a matcher",
            "duration": "1h",
            "comment": "x",
            "csrf_token": token,
        },
    )
    assert "error=" in str(bad.url)


def eval_json(text: str) -> list[str]:
    import json

    return json.loads(text)


def test_pages_render_for_a_reviewer(
    web_app: Starlette, web_db: tuple[Path, SampleArchive]
) -> None:
    _, sample = web_db
    client = signed_in(web_app, "rita")
    detail = client.get(f"/post/{sample.top_post_id}")
    assert detail.status_code == 200
    text = detail.text
    assert "<svg" in text and "Engagement over time" in text
    assert "Risk score history" in text and "negative complaint" in text
    assert "Other mentions of this story (2)" in text
    assert "translate.google.com" in text and "language <strong>" in text
    assert 'href="#"' not in text.split("original")[0][-200:]  # http(s) links kept
    dashboard = client.get("/dashboard?days=30").text
    assert "Share of voice" in dashboard and "Nimbus Airlines" in dashboard
    assert 'class="band"' in dashboard  # bursts marked on the timeline
    assert client.get("/sources").status_code == 200
    assert client.get("/post/none:0").status_code == 404


def test_metrics_for_signed_in_users_or_bearer_token(
    web_app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in(web_app, "vic")
    text = client.get("/metrics").text
    assert re.search(r"^groundswell_posts \d+$", text, re.M)
    assert 'groundswell_alerts{status="firing",severity="critical"} 1' in text
    monkeypatch.setenv("GROUNDSWELL_METRICS_TOKEN", "s3cret-token")
    with TestClient(web_app, base_url="https://testserver") as scraper:
        assert (
            scraper.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code
            == 200
        )
        assert scraper.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_password_change_ends_open_sessions(web_app: Starlette) -> None:
    from monitor.web.auth import set_password

    client = signed_in(web_app, "rita")
    assert client.get("/", follow_redirects=False).status_code == 200
    set_password(web_app.state.web.store(), "rita", "another password 1")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_security_headers(anon: TestClient) -> None:
    response = anon.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    csrf_cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("gs_csrf=")
    )
    assert (
        "HttpOnly" in csrf_cookie and "SameSite=Strict" in csrf_cookie and "Secure" in csrf_cookie
    )
