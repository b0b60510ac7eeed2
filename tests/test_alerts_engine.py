"""Alert engine timelines driven by an injected clock: grouping, silences, inhibition,
escalation, lifecycle notices, quiet hours, digests, message content."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from alerts.engine import AlertEngine
from alerts.lifecycle import TransitionError, ack, get_alert, list_alerts, resolve
from alerts.links import verify_token
from alerts.silences import SilenceError, create_silence, expire_silence
from monitor.records import Post, Snapshot, parse_iso
from monitor.store import Store
from tests.test_alerts_support import T0, Clock, event, make_config


def outbox(store: Store) -> list[dict[str, Any]]:
    rows = store.conn.execute(
        "SELECT id, kind, receiver, status, payload, next_attempt_at, deferred_reason, alert_id "
        "FROM outbox ORDER BY id"
    ).fetchall()
    return [
        {
            "id": r[0],
            "kind": r[1],
            "receiver": r[2],
            "status": r[3],
            "payload": json.loads(r[4]),
            "next_attempt_at": r[5],
            "deferred_reason": r[6],
            "alert_id": r[7],
        }
        for r in rows
    ]


def kinds(store: Store) -> list[str]:
    return [row["kind"] for row in outbox(store)]


TIMERS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}


def engine_for(store: Store, clock: Clock, alerts: dict[str, Any] | None = None) -> AlertEngine:
    return AlertEngine(
        make_config(alerts if alerts is not None else {"route": TIMERS}), store, clock
    )


def test_grouping_timeline(store: Store) -> None:
    clock = Clock()
    engine = engine_for(store, clock)
    (first,) = engine.process([event("rss:1", story="s1", source="rss", at=clock.now)])
    assert first.action == "fired" and first.route == "pr-oncall"
    assert first.route_path == "alerts.route"
    assert kinds(store) == []  # group_wait holds the first notification

    clock.advance(10)
    (second,) = engine.process([event("reddit:2", story="s1", source="reddit", at=clock.now)])
    assert second.action == "grouped" and second.alert_id == first.alert_id
    assert "now on 2 sources" in second.changes

    clock.advance(19)
    assert engine.tick().notifications == 0
    clock.advance(1)  # t0 + 30 s
    assert engine.tick().notifications == 1
    (fired,) = outbox(store)
    assert fired["kind"] == "fired"
    assert fired["payload"]["data"]["spread"]["posts"] == 2
    assert fired["payload"]["data"]["spread"]["sources"] == ["rss", "reddit"]

    clock.advance(30)  # t0 + 60 s: news picks the story up
    engine.process([event("news:3", story="s1", source="news", risk=0.8, at=clock.now)])
    assert engine.tick().notifications == 0  # within group_interval of the last message
    clock.now = T0 + timedelta(seconds=30 + 300)
    assert engine.tick().notifications == 1
    update = outbox(store)[-1]
    assert update["kind"] == "updated"
    said = update["payload"]["data"]["changes"]
    assert "now on 3 sources" in said and "news pickup" in said
    assert "now on 3 sources, news pickup" in update["payload"]["text"]

    clock.advance(3600)
    assert engine.tick().notifications == 0  # nothing new, repeat not due
    clock.now = T0 + timedelta(seconds=330 + 4 * 3600)
    assert engine.tick().notifications == 1
    assert kinds(store) == ["fired", "updated", "repeat"]

    engine.process([event("rss:9", story="s2", at=clock.now)])
    assert len(list_alerts(store)) == 2  # another story is another thread


def test_group_wait_zero_notifies_in_process(store: Store) -> None:
    clock = Clock()
    engine = engine_for(store, clock, {"route": {"group_wait": "0s"}})
    engine.process([event("rss:1", story="s1"), event("rss:2", story="s1")])
    assert kinds(store) == ["fired"]  # one batch, one thread, one message
    assert outbox(store)[0]["payload"]["data"]["spread"]["posts"] == 2


def test_info_events_do_not_alert_by_default(store: Store) -> None:
    engine = engine_for(store, Clock())
    assert engine.process([event(severity="info")]) == []
    assert list_alerts(store) == []


def test_silence_holds_events_and_repeats(store: Store) -> None:
    clock = Clock()
    engine = engine_for(store, clock, {"route": {"group_wait": "0s", "repeat_interval": "1h"}})
    silence = create_silence(
        store,
        ["brand=Acme", "story=s1"],
        starts_at=clock.now,
        ends_at=clock.now + timedelta(hours=6),
        created_by="maria",
        comment="answered on the thread, watching",
        now=clock.now,
    )
    (held,) = engine.process([event("rss:1", story="s1")])
    assert held.action == "silenced" and held.held_by == f"silence:{silence.id}"
    (other,) = engine.process([event("rss:2", story="s2")])
    assert other.action == "fired"
    assert kinds(store) == ["fired"]

    # A silence created after the alert fired stops its repeats until it ends.
    create_silence(
        store,
        ["story=s2"],
        starts_at=clock.now,
        ends_at=clock.now + timedelta(hours=3),
        created_by="maria",
        comment="known",
        now=clock.now,
    )
    clock.advance(3600)
    assert engine.tick().notifications == 0
    clock.advance(2 * 3600)
    assert engine.tick().notifications == 1
    assert kinds(store) == ["fired", "repeat"]

    clock.advance(60)
    expire_silence(store, silence.id, actor="maria", now=clock.now)
    (again,) = engine.process([event("rss:3", story="s1", at=clock.now)])
    assert again.action == "fired"


@pytest.mark.parametrize(
    ("matchers", "comment"),
    [([], "why"), (["brand=Acme"], ""), (["brand"], "why")],
)
def test_silence_validation(store: Store, matchers: list[str], comment: str) -> None:
    with pytest.raises((SilenceError, ValueError)):
        create_silence(
            store,
            matchers,
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            created_by="x",
            comment=comment,
            now=T0,
        )


def test_outage_burst_inhibits_single_posts(store: Store) -> None:
    clock = Clock()
    engine = engine_for(store, clock, {"route": {"group_wait": "0s"}})
    (burst,) = engine.process(
        [event("rss:10", kind="burst", severity="warning", burst_id="outage-1")]
    )
    assert burst.action == "fired"
    updates = engine.process(
        [
            event("rss:11", story="a"),
            event("rss:12", story="b", severity="critical", cues=("legal_threat",)),
            event("rss:13", story="c", brand="Globex"),
        ]
    )
    assert [u.action for u in updates] == ["inhibited", "fired", "fired"]
    assert updates[0].held_by == f"alert:{burst.alert_id}"
    assert burst.alert_id is not None
    resolve(store, burst.alert_id, "maria", now=clock.now)
    (after,) = engine.process([event("rss:14", story="a")])
    assert after.action == "fired"


def test_burst_inhibits_only_while_live(store: Store) -> None:
    """A burst nobody resolved stops holding back complaints once it has gone quiet."""
    clock = Clock()
    engine = engine_for(store, clock, {"route": {"group_wait": "0s"}, "inhibit_for": "2h"})
    (burst,) = engine.process(
        [event("rss:10", kind="burst", severity="warning", burst_id="outage-1")]
    )
    clock.advance(2 * 3600 - 60)
    (held,) = engine.process([event("rss:11", story="a", at=clock.now)])
    assert held.action == "inhibited" and held.held_by == f"alert:{burst.alert_id}"
    clock.advance(120)  # the burst's last event is now more than two hours old
    (after,) = engine.process([event("rss:12", story="a", at=clock.now)])
    assert after.action == "fired"
    status = store.conn.execute("SELECT status FROM alerts WHERE id = ?", (burst.alert_id,))
    assert status.fetchone()[0] == "firing"  # still open for the team, just not inhibiting


def test_escalation_when_not_acknowledged(store: Store) -> None:
    clock = Clock()
    alerts = {
        "route": {"group_wait": "0s", "repeat_interval": "24h"},
        "receivers": [
            {"name": "pr-oncall", "escalate_after": "15m", "escalate_to": "pr-lead"},
            {"name": "pr-lead", "escalate_after": "30m", "escalate_to": "execs"},
            {"name": "execs"},
        ],
    }
    engine = engine_for(store, clock, alerts)
    (fired,) = engine.process([event("rss:1", story="s1")])
    (quiet,) = engine.process([event("rss:2", story="s2")])
    assert quiet.alert_id is not None
    ack(store, quiet.alert_id, "maria", now=clock.now)

    clock.advance(14 * 60)
    assert engine.tick().escalated == 0
    clock.advance(60)
    report = engine.tick()
    assert report.escalated == 1
    escalated = [row for row in outbox(store) if row["kind"] == "escalated"]
    assert [(r["receiver"], r["alert_id"]) for r in escalated] == [("pr-lead", fired.alert_id)]
    assert "escalated to pr-lead" in escalated[0]["payload"]["text"]

    clock.advance(29 * 60)
    assert engine.tick().escalated == 0
    clock.advance(60)
    assert engine.tick().escalated == 1
    clock.advance(24 * 3600)
    assert engine.tick().escalated == 0  # end of the chain
    alert = get_alert(store, fired.alert_id or 0)
    assert alert is not None and alert["escalation_level"] == 2
    assert alert["receivers"] == ["pr-oncall", "pr-lead", "execs"]


def test_lifecycle_notices_and_new_thread_after_resolve(store: Store) -> None:
    clock = Clock()
    engine = engine_for(store, clock, {"route": {"group_wait": "0s"}})
    (fired,) = engine.process([event("rss:1", story="s1")])
    alert_id = fired.alert_id or 0
    clock.advance(60)
    assert ack(store, alert_id, "maria", "web", now=clock.now)["status"] == "acknowledged"
    assert ack(store, alert_id, "maria", "link", now=clock.now)["acknowledged_via"] == "web"
    engine.tick()
    clock.advance(60)
    resolve(store, alert_id, "maria", now=clock.now)
    engine.tick()
    assert kinds(store) == ["fired", "acknowledged", "resolved"]
    assert "Acknowledged by maria" in outbox(store)[1]["payload"]["text"]
    assert "Resolved by maria" in outbox(store)[2]["payload"]["text"]
    with pytest.raises(TransitionError):
        ack(store, alert_id, "maria", now=clock.now)
    clock.advance(3600 * 5)
    assert engine.tick().notifications == 0  # resolved alerts never repeat
    (again,) = engine.process([event("rss:2", story="s1", at=clock.now)])
    assert again.action == "fired" and again.alert_id != alert_id


def test_auto_resolve_after_quiet_period(store: Store) -> None:
    clock = Clock()
    engine = engine_for(store, clock, {"route": {"group_wait": "0s"}, "resolve_after": "1d"})
    (fired,) = engine.process([event()])
    clock.advance(86400)
    assert engine.tick().auto_resolved == 1
    alert = get_alert(store, fired.alert_id or 0)
    assert alert is not None and alert["status"] == "resolved" and alert["resolved_by"] == "system"
    assert kinds(store) == ["fired", "resolved"]


def test_quiet_hours_defer_but_critical_overrides(store: Store) -> None:
    clock = Clock(parse_iso("2026-11-02T22:30:00Z"))  # 23:30 in Berlin
    alerts = {
        "route": {"group_wait": "0s"},
        "receivers": [
            {
                "name": "pr-oncall",
                "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
            }
        ],
    }
    engine = engine_for(store, clock, alerts)
    engine.process([event("rss:1", story="s1", severity="warning")])
    engine.process([event("rss:2", story="s2", severity="critical")])
    warning, critical = outbox(store)
    assert warning["deferred_reason"] == "quiet hours"
    assert warning["next_attempt_at"] == "2026-11-03T06:00:00.000000Z"  # 07:00 Berlin
    assert critical["deferred_reason"] is None
    assert critical["next_attempt_at"] == "2026-11-02T22:30:00.000000Z"


def test_daily_digest(store: Store) -> None:
    clock = Clock(parse_iso("2026-11-02T07:00:00Z"))
    alerts = {
        "route": {"group_wait": "0s"},
        "digests": [{"receiver": "pr-oncall", "every": "daily", "at": "08:00"}],
    }
    engine = engine_for(store, clock, alerts)
    assert engine.tick().digests == 0  # first sight: the schedule starts, nothing is sent
    clock.advance(3600 + 60)  # 08:01, first scheduled digest (covers nothing yet)
    assert engine.tick().digests == 1
    (fired,) = engine.process([event("rss:1", story="s1", severity="critical", risk=0.9)])
    engine.process([event("rss:2", story="s2")])
    ack(store, fired.alert_id or 0, "maria", now=clock.now + timedelta(minutes=12))
    clock.advance(3600)
    assert engine.tick().digests == 0
    clock.now = parse_iso("2026-11-03T08:00:00Z")
    assert engine.tick().digests == 1
    assert engine.tick().digests == 0  # never twice for one period
    from alerts.digest import send_due_digests

    assert send_due_digests(store, engine.config, clock.now) == 0
    assert list(engine.tick()) == []
    digest = [row for row in outbox(store) if row["kind"] == "digest"][-1]
    data = digest["payload"]["data"]["digest"]
    assert data["total"] == 2 and data["by_severity"]["critical"] == 1
    assert data["median_ack_minutes"] == 12.0
    assert data["top"][0]["id"] == fired.alert_id
    assert "2 alert(s)" in digest["payload"]["title"]


def test_weekly_digest_schedule() -> None:
    from alerts.settings import settings_for

    settings = settings_for(
        make_config(
            {
                "digests": [
                    {"receiver": "pr-oncall", "every": "weekly", "weekday": "fri", "at": "16:00"}
                ]
            }
        )
    )
    (spec,) = settings.digests
    assert spec.last_due(parse_iso("2026-11-04T12:00:00Z")) == parse_iso("2026-10-30T16:00:00Z")
    assert spec.last_due(parse_iso("2026-11-06T16:00:00Z")) == parse_iso("2026-11-06T16:00:00Z")


def test_message_content(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUNDSWELL_LINK_SECRET", "link-secret-for-tests")
    post = Post(
        "rss",
        "77",
        title="Nimbus Airlines broke my guitar",
        text="They threw my guitar and nobody answers. " * 20,
        url="https://example.org/guitar",
        lang="en",
        engagement=Snapshot(T0 - timedelta(hours=2), likes=10, shares=2, comments=3),
    )
    store.upsert_posts([(post, ["Acme"])], seen_at=T0 - timedelta(hours=2))
    store.add_snapshot(post.id, Snapshot(T0, likes=110, shares=42, comments=23))
    clock = Clock()
    engine = engine_for(store, clock, {"route": {"group_wait": "0s"}})
    engine.process(
        [
            event(
                post.id,
                story="s1",
                severity="critical",
                risk=0.87,
                cues=("legal_threat",),
                reasons=("angry, specific complaint (p=0.93)", "shares doubling every 40 min"),
            )
        ]
    )
    (row,) = outbox(store)
    message = row["payload"]
    for text in (message["text"], message["markdown"], message["html"]):
        assert "Acme" in text and "Nimbus Airlines broke my guitar" in text
        assert "https://example.org/guitar" in text
        assert "0.87" in text and "shares doubling every 40 min" in text
        assert "80.0 interactions/hour" in text  # (100 + 40 + 20) / 2 h
        assert "no legalese" in text.lower() or "No legalese" in text
        assert "lawyer" in text  # the legal-threat playbook
        assert "/alerts/1/ack?token=" in text
    assert "They threw my guitar" in message["text"] and "…" in message["text"]
    assert "<blockquote" in message["html"]
    data = message["data"]
    assert data["schema"] == "groundswell.alert" and data["version"] == 1
    assert data["type"] == "alert.fired" and data["post"]["lang"] == "en"
    token = data["links"]["ack"].split("token=")[1]
    claim = verify_token("link-secret-for-tests", token, 3600)
    assert (claim.alert_id, claim.action) == (1, "ack")


def test_no_links_without_secret(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROUNDSWELL_LINK_SECRET", raising=False)
    engine = engine_for(store, Clock(), {"route": {"group_wait": "0s"}})
    engine.process([event()])
    (row,) = outbox(store)
    assert row["payload"]["data"]["links"]["ack"] is None
    assert "groundswell alerts ack 1" in row["payload"]["text"]


def test_forged_link_is_rejected() -> None:
    from alerts.links import LinkError, make_token

    token = make_token("right", 5, "resolve")
    with pytest.raises(LinkError):
        verify_token("wrong", token, 3600)
    assert verify_token("right", token, 3600).action == "resolve"
