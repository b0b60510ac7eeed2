"""Signed acknowledge/resolve links from alert messages: confirm page, then a CSRF-checked post."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from alerts.engine import AlertEngine
from alerts.links import make_token
from monitor.store import Store
from monitor.web.app import create_app
from tests.test_alerts_support import T0, Clock, event, make_config

SECRET = "link-secret-for-tests"


@pytest.fixture
def app_and_alert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, Path, int]:
    monkeypatch.setenv("GROUNDSWELL_LINK_SECRET", SECRET)
    config = make_config({"route": {"group_wait": "0s"}})
    db = tmp_path / "links.db"
    with Store.open(db) as store:
        AlertEngine(config, store, Clock()).process([event(severity="critical", risk=0.9)])
        alert_id = store.conn.execute("SELECT id FROM alerts").fetchone()[0]
    client = TestClient(
        create_app(config, db, secret="web-secret", clock=lambda: T0), base_url="https://testserver"
    )
    return client, db, alert_id


def status_of(db: Path, alert_id: int) -> str:
    with Store.open(db) as store:
        return str(
            store.conn.execute("SELECT status FROM alerts WHERE id = ?", (alert_id,)).fetchone()[0]
        )


def test_link_confirms_then_acknowledges_without_login(
    app_and_alert: tuple[TestClient, Path, int],
) -> None:
    client, db, alert_id = app_and_alert
    token = make_token(SECRET, alert_id, "ack")
    page = client.get(f"/alerts/{alert_id}/ack?token={token}")
    assert page.status_code == 200 and "Acknowledge alert" in page.text
    assert (
        status_of(db, alert_id) == "firing"
    )  # opening the link (or a mail scanner) changes nothing
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert csrf is not None
    done = client.post(
        f"/alerts/{alert_id}/ack", data={"csrf_token": csrf.group(1), "token": token}
    )
    assert done.status_code == 200 and "acknowledged" in done.text
    assert status_of(db, alert_id) == "acknowledged"
    with Store.open(db) as store:
        actors = [
            r[0]
            for r in store.conn.execute(
                "SELECT actor FROM alert_events WHERE kind = 'acknowledged'"
            )
        ]
    assert actors == ["link"]


@pytest.mark.parametrize("case", ["forged", "other_action", "other_alert", "no_csrf"])
def test_bad_links_change_nothing(app_and_alert: tuple[TestClient, Path, int], case: str) -> None:
    client, db, alert_id = app_and_alert
    token = {
        "forged": make_token("wrong-secret", alert_id, "resolve"),
        "other_action": make_token(SECRET, alert_id, "ack"),
        "other_alert": make_token(SECRET, alert_id + 1, "resolve"),
        "no_csrf": make_token(SECRET, alert_id, "resolve"),
    }[case]
    page = client.get(f"/alerts/{alert_id}/resolve?token={token}")
    if case == "no_csrf":
        assert page.status_code == 200
        response = client.post(f"/alerts/{alert_id}/resolve", data={"token": token})
        assert response.status_code == 403
    else:
        assert page.status_code == 400 and "not valid" in page.text
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/login").text)
        assert csrf is not None
        response = client.post(
            f"/alerts/{alert_id}/resolve", data={"csrf_token": csrf.group(1), "token": token}
        )
        assert response.status_code == 400
    assert status_of(db, alert_id) == "firing"
