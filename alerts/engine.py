"""The alert engine: risk events in, alert threads and outbox rows out.

``process(events)`` runs rules → routing → silences/inhibition → grouping in one transaction and
writes the notifications that are due at once (``group_wait = 0``) to the outbox. ``tick(now)``
handles everything driven by time: group_wait/group_interval timers, repeats, escalation,
auto-resolve, acknowledge/resolve notices and digests. Neither sends anything: delivery
(:func:`alerts.delivery.deliver_pending`) reads the outbox.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.digest import due_digests, summarize
from alerts.escalation import next_escalation
from alerts.grouping import ThreadState, changes, group_key
from alerts.inhibition import inhibited_by
from alerts.journal import audit
from alerts.lifecycle import decode_row
from alerts.matchers import matches_all
from alerts.outbox import NewDelivery, enqueue, idempotency_key
from alerts.render import post_facts, render_alert, render_digest
from alerts.routing import route_matches
from alerts.rules import evaluate
from alerts.settings import AlertSettings, ChannelSpec, settings_for
from alerts.silences import Silence, active_silences, silenced_by
from monitor.events import RiskEvent, severity_rank
from monitor.records import isoformat, parse_iso, utcnow
from monitor.store import Store

__all__ = ["AlertEngine", "AlertUpdate", "TickReport"]

_LOG_CHANNEL = ChannelSpec("log", "log://", "text")


@dataclass(frozen=True, slots=True)
class AlertUpdate:
    """What happened to one event: it opened a thread, joined one, or was held back."""

    action: str  # fired | grouped | silenced | inhibited
    group_key: str
    alert_id: int | None
    route: str  # the receivers (teams) notified, comma-separated: what replay reports
    receivers: tuple[str, ...]
    brand: str
    kind: str
    severity: str
    risk: float
    post_id: str
    at: datetime
    reasons: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    held_by: str | None = None  # silence id or inhibiting alert, for silenced/inhibited
    route_path: str = ""  # the matched routing-tree node(s), e.g. "alerts.route.routes[1]"


@dataclass(frozen=True, slots=True)
class TickReport:
    """What a tick did; iterating it yields nothing (the stage runner extends its updates)."""

    notifications: int = 0
    escalated: int = 0
    auto_resolved: int = 0
    digests: int = 0

    def __iter__(self) -> Iterator[AlertUpdate]:
        return iter(())


def _stamp(moment: datetime) -> str:
    return isoformat(moment)


def _plus(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


class AlertEngine:
    """Turns :class:`~monitor.events.RiskEvent` objects into alert threads and outbox rows."""

    def __init__(self, config: Any, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.settings: AlertSettings = settings_for(config)
        self.store = store
        self.clock = clock

    # -- events ----------------------------------------------------------------------------

    def process(self, events: Iterable[RiskEvent]) -> list[AlertUpdate]:
        """Route, group, silence and inhibit events; queue the notifications due now."""
        batch = list(events)
        if not batch:
            return []
        now = self.clock()
        stamp = _stamp(now)
        updates: list[AlertUpdate] = []
        routed = []
        for event in batch:
            match = evaluate(self.settings, event)
            if match is None:
                continue
            matches = route_matches(self.settings, match.labels)
            key = group_key(matches[0].route.group_by, match.labels)
            routed.append((event, match.labels, matches, key))
        if not routed:
            return []
        with self.store.transaction() as conn:
            silences = active_silences(self.store, now)
            threads = self._open_threads(conn, {item[3] for item in routed})
            firing = self._inhibiting(conn, now)
            touched: dict[str, dict[str, Any]] = {}
            history: list[tuple[Any, ...]] = []
            for event, labels, matches, key in routed:
                primary = matches[0].route
                receivers = [m.receiver for m in matches]
                route_text = ",".join(m.route.path for m in matches)
                silence = silenced_by(silences, labels)
                inhibition = (
                    None if silence else inhibited_by(self.settings.inhibit, labels, firing)
                )
                if silence is not None or inhibition is not None:
                    action = "silenced" if silence is not None else "inhibited"
                    held_by = (
                        f"silence:{silence.id}"
                        if silence is not None
                        else f"alert:{inhibition[1].get('alert_id', '')}"  # type: ignore[index]
                    )
                    history.append(
                        (
                            threads[key]["id"] if key in threads else None,
                            stamp,
                            action,
                            event.post_id,
                            json.dumps({"held_by": held_by, "risk": event.risk}),
                        )
                    )
                    updates.append(
                        self._update(
                            action, key, None, route_text, receivers, event, held_by=held_by
                        )
                    )
                    continue
                thread = threads.get(key)
                if thread is None:
                    thread = self._create(
                        conn, key, event, labels, primary, receivers, route_text, now
                    )
                    threads[key] = thread
                    if self._can_inhibit(thread["labels"]):
                        firing.append(thread["labels"])
                    action = "fired"
                else:
                    action = "grouped"
                    thread["receivers"] = list(dict.fromkeys([*thread["receivers"], *receivers]))
                    severity = thread["labels"].get("severity", "info")
                    if severity_rank(event.severity) < severity_rank(severity):
                        labels = {**labels, "severity": severity}
                    labels["alert_id"] = str(thread["id"])
                    thread["labels"].clear()
                    thread["labels"].update(labels)
                said = self._absorb(thread, event, now)
                touched[key] = thread
                history.append(
                    (thread["id"], stamp, action, event.post_id, json.dumps({"risk": event.risk}))
                )
                updates.append(
                    self._update(action, key, thread["id"], route_text, receivers, event, said)
                )
            for thread in touched.values():
                self._save(conn, thread)
            conn.executemany(
                "INSERT INTO alert_events (alert_id, at, kind, post_id, detail) VALUES (?, ?, ?, ?, ?)",
                history,
            )
            due = [
                t for t in touched.values() if t["next_notify_at"] and t["next_notify_at"] <= stamp
            ]
            self._notify(conn, due, now, silences)
        return updates

    def _update(
        self,
        action: str,
        key: str,
        alert_id: int | None,
        route: str,
        receivers: list[str],
        event: RiskEvent,
        said: list[str] | None = None,
        held_by: str | None = None,
    ) -> AlertUpdate:
        return AlertUpdate(
            action,
            key,
            alert_id,
            ",".join(receivers),
            tuple(receivers),
            event.brand,
            event.kind,
            event.severity,
            event.risk,
            event.post_id,
            event.at,
            event.reasons,
            tuple(said or ()),
            held_by,
            route,
        )

    def _open_threads(self, conn: sqlite3.Connection, keys: set[str]) -> dict[str, dict[str, Any]]:
        """The unresolved threads for these group keys, by key."""
        found: dict[str, dict[str, Any]] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            cursor = conn.execute(
                f"SELECT * FROM alerts WHERE status != 'resolved' AND group_key IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            )
            names = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                thread = decode_row(names, row)
                found[thread["group_key"]] = thread
        return found

    def _can_inhibit(self, labels: Mapping[str, str]) -> bool:
        return any(matches_all(rule.source_matchers, labels) for rule in self.settings.inhibit)

    def _inhibiting(self, conn: sqlite3.Connection, now: datetime) -> list[dict[str, str]]:
        """Labels of live alerts that match some inhibit rule's source side.

        Live: unresolved, and with an event within ``inhibit_for``. A burst is judged hour by
        hour, so an old burst nobody resolved does not hold back tomorrow's complaints.
        """
        if not self.settings.inhibit:
            return []
        found = []
        cutoff = _stamp(now - timedelta(seconds=self.settings.inhibit_for))
        for (text,) in conn.execute(
            "SELECT labels FROM alerts WHERE status != 'resolved' AND last_event_at >= ?",
            (cutoff,),
        ):
            labels = json.loads(text)
            if self._can_inhibit(labels):
                found.append(labels)
        return found

    def _create(
        self,
        conn: sqlite3.Connection,
        key: str,
        event: RiskEvent,
        labels: dict[str, str],
        route: Any,
        receivers: list[str],
        route_text: str,
        now: datetime,
    ) -> dict[str, Any]:
        stamp = _stamp(now)
        thread: dict[str, Any] = {
            "group_key": key,
            "brand": event.brand,
            "kind": event.kind,
            "severity": event.severity,
            "status": "firing",
            "route": route_text,
            "receiver": receivers[0],
            "receivers": receivers,
            "labels": labels,
            "first_post_id": event.post_id,
            "story_id": event.story_id,
            "risk": event.risk,
            "reasons": list(event.reasons),
            "state": ThreadState().to_json(),
            "notified_state": None,
            "event_count": 0,
            "seq": 0,
            "group_wait": route.group_wait,
            "group_interval": route.group_interval,
            "repeat_interval": route.repeat_interval,
            "created_at": stamp,
            "updated_at": stamp,
            "last_event_at": stamp,
            "pending_since": _stamp(event.at),
            "next_notify_at": _stamp(_plus(now, route.group_wait)),
            "first_notified_at": None,
            "notified_at": None,
            "escalation_level": 0,
            "escalated_at": None,
        }
        columns = list(thread)
        values = [
            json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
            for v in thread.values()
        ]
        cursor = conn.execute(
            f"INSERT INTO alerts ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            values,
        )
        thread["id"] = int(cursor.lastrowid or 0)
        labels["alert_id"] = str(thread["id"])
        for column in ("acknowledged_by", "resolved_by"):
            thread[column] = None
        audit(
            self.store,
            "alert.fired",
            f"alert:{thread['id']}",
            after={"group_key": key, "severity": event.severity, "route": route_text},
            at=now,
        )
        return thread

    def _absorb(self, thread: dict[str, Any], event: RiskEvent, now: datetime) -> list[str]:
        before = ThreadState.from_json(thread["state"])
        after = before.add(event)
        thread["state"] = after.to_json()
        thread["severity"] = after.severity
        thread["risk"] = event.risk
        thread["reasons"] = list(after.reasons)
        thread["event_count"] += 1
        thread["updated_at"] = thread["last_event_at"] = _stamp(now)
        notified = thread["notified_state"]
        if thread["seq"] == 0:
            return changes(before, after)
        said = changes(ThreadState.from_json(notified), after)
        if said and thread["pending_since"] is None:
            thread["pending_since"] = _stamp(event.at)
            earliest = _plus(parse_iso(thread["notified_at"]), thread["group_interval"])
            thread["next_notify_at"] = _stamp(max(earliest, now))
        return changes(before, after)

    def _save(self, conn: sqlite3.Connection, thread: Mapping[str, Any]) -> None:
        columns = [c for c in thread if c != "id"]
        values = [
            json.dumps(thread[c], ensure_ascii=False)
            if isinstance(thread[c], dict | list)
            else thread[c]
            for c in columns
        ]
        conn.execute(
            f"UPDATE alerts SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
            [*values, thread["id"]],
        )

    # -- notifications ---------------------------------------------------------------------

    def _notify(
        self,
        conn: sqlite3.Connection,
        threads: Iterable[dict[str, Any]],
        now: datetime,
        silences: list[Silence],
    ) -> int:
        queued = 0
        for thread in threads:
            queued += self._notify_one(conn, thread, now, silences)
        return queued

    def _notify_one(
        self,
        conn: sqlite3.Connection,
        thread: dict[str, Any],
        now: datetime,
        silences: list[Silence],
    ) -> int:
        state = ThreadState.from_json(thread["state"])
        notified = thread["notified_state"]
        notified_status = notified.get("status") if notified else None
        status = thread["status"]
        actor = None
        said: list[str] = []
        kind: str | None
        if status == "resolved":
            kind = "resolved" if notified and notified_status != "resolved" else None
            actor = thread.get("resolved_by")
        elif status == "acknowledged" and notified and notified_status == "firing":
            kind = "acknowledged"
            actor = thread.get("acknowledged_by")
            said = changes(ThreadState.from_json(notified), state)
        elif thread["seq"] == 0:
            kind = "fired"
        else:
            said = changes(ThreadState.from_json(notified), state)
            repeat_at = _plus(parse_iso(thread["notified_at"]), thread["repeat_interval"])
            if said:
                kind = "updated"
            elif status == "firing" and now >= repeat_at:
                kind = "repeat"
            else:
                kind = None
        if kind is None:
            thread["next_notify_at"] = (
                _stamp(_plus(parse_iso(thread["notified_at"]), thread["repeat_interval"]))
                if status == "firing" and thread["notified_at"]
                else None
            )
            thread["pending_since"] = None
            self._save(conn, thread)
            return 0
        if kind in ("fired", "updated", "repeat"):
            silence = silenced_by(silences, thread["labels"])
            if silence is not None:
                thread["next_notify_at"] = _stamp(silence.ends_at)
                self._save(conn, thread)
                return 0
        queued = self._enqueue(conn, thread, kind, thread["receivers"], said, now, actor=actor)
        thread["seq"] += 1
        thread["notified_at"] = _stamp(now)
        if thread["first_notified_at"] is None:
            thread["first_notified_at"] = thread["escalated_at"] = _stamp(now)
        thread["notified_state"] = {**state.to_json(), "status": status}
        thread["pending_since"] = None
        thread["next_notify_at"] = (
            _stamp(_plus(now, thread["repeat_interval"])) if status == "firing" else None
        )
        self._save(conn, thread)
        return queued

    def _enqueue(
        self,
        conn: sqlite3.Connection,
        thread: dict[str, Any],
        kind: str,
        receivers: Iterable[str],
        said: list[str],
        now: datetime,
        *,
        actor: str | None = None,
        escalated_to: str | None = None,
    ) -> int:
        state = ThreadState.from_json(thread["state"])
        seq = thread["seq"] + 1
        lead = (
            thread["first_post_id"] if kind == "fired" or not state.post_ids else state.post_ids[-1]
        )
        base_key = idempotency_key(thread["id"], seq, kind)
        message = render_alert(
            self.settings,
            thread,
            state,
            kind,
            said,
            post_facts(self.store, lead),
            key_hint=base_key,
            now=now,
            actor=actor,
            escalated_to=escalated_to,
        )
        event_at = parse_iso(thread["pending_since"]) if thread["pending_since"] else now
        deliveries = self._deliveries(
            message,
            receivers,
            state.severity,
            now,
            event_at,
            thread["id"],
            kind,
            (thread["id"], seq, kind),
        )
        enqueue(conn, deliveries, now)
        conn.execute(
            "INSERT INTO alert_events (alert_id, at, kind, actor, detail) VALUES (?, ?, ?, ?, ?)",
            (
                thread["id"],
                _stamp(now),
                "notified",
                "system",
                json.dumps({"notification": kind, "receivers": list(receivers), "changes": said}),
            ),
        )
        return len(deliveries)

    def _deliveries(
        self,
        message: dict[str, Any],
        receivers: Iterable[str],
        severity: str,
        now: datetime,
        event_at: datetime,
        alert_id: int | None,
        kind: str,
        key_parts: tuple[Any, ...],
    ) -> list[NewDelivery]:
        deliveries = []
        for name in receivers:
            receiver = self.settings.receivers.get(name)
            channels = (receiver.channels if receiver is not None else ()) or (_LOG_CHANNEL,)
            send_at, reason = now, None
            quiet = receiver.quiet_hours if receiver is not None else None
            if (
                quiet is not None
                and quiet.contains(now)
                and not (severity == "critical" and quiet.critical_override)
            ):
                send_at, reason = quiet.ends_after(now), "quiet hours"
            for index, spec in enumerate(channels):
                key = idempotency_key(*key_parts, name, index, spec.kind)
                payload = {**message, "data": {**message["data"], "idempotency_key": key}}
                deliveries.append(
                    NewDelivery(
                        key,
                        alert_id,
                        name,
                        index if spec is not _LOG_CHANNEL else -1,
                        spec.kind,
                        kind,
                        severity,
                        payload,
                        send_at,
                        event_at,
                        reason,
                    )
                )
        return deliveries

    # -- time ------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        """Fire group timers, repeats, escalations, auto-resolves, lifecycle notices, digests."""
        moment = now or self.clock()
        stamp = _stamp(moment)
        with self.store.transaction() as conn:
            resolved = self._auto_resolve(conn, moment)
            escalated, queued = self._escalate(conn, moment)
            silences = active_silences(self.store, moment)
            cursor = conn.execute(
                "SELECT * FROM alerts WHERE next_notify_at IS NOT NULL AND next_notify_at <= ? "
                "ORDER BY next_notify_at, id",
                (stamp,),
            )
            names = [d[0] for d in cursor.description]
            due = [decode_row(names, row) for row in cursor.fetchall()]
            queued += self._notify(conn, due, moment, silences)
        digests = self._digests(moment)
        return TickReport(queued, escalated, resolved, digests)

    def _auto_resolve(self, conn: sqlite3.Connection, now: datetime) -> int:
        cutoff = _stamp(now - timedelta(seconds=self.settings.resolve_after))
        stamp = _stamp(now)
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM alerts WHERE status != 'resolved' AND last_event_at <= ?", (cutoff,)
            )
        ]
        for alert_id in ids:
            conn.execute(
                "UPDATE alerts SET status = 'resolved', resolved_by = 'system', resolved_at = ?, "
                "resolved_via = 'quiet period', updated_at = ?, next_notify_at = ? WHERE id = ?",
                (stamp, stamp, stamp, alert_id),
            )
            conn.execute(
                "INSERT INTO alert_events (alert_id, at, kind, actor, detail) VALUES (?, ?, 'resolved', 'system', ?)",
                (alert_id, stamp, json.dumps({"via": "quiet period"})),
            )
            audit(
                self.store,
                "alert.resolve",
                f"alert:{alert_id}",
                after={"via": "quiet period"},
                at=now,
            )
        return len(ids)

    def _escalate(self, conn: sqlite3.Connection, now: datetime) -> tuple[int, int]:
        if not any(r.escalate_after for r in self.settings.receivers.values()):
            return 0, 0
        cursor = conn.execute(
            "SELECT * FROM alerts WHERE status = 'firing' AND first_notified_at IS NOT NULL"
        )
        names = [d[0] for d in cursor.description]
        escalated = queued = 0
        for row in cursor.fetchall():
            thread = decode_row(names, row)
            since = thread["escalated_at"] or thread["first_notified_at"]
            target = next_escalation(
                self.settings,
                thread["receiver"],
                thread["escalation_level"],
                parse_iso(since) if since else None,
                now,
            )
            if target is None:
                continue
            queued += self._enqueue(
                conn, thread, "escalated", [target], [], now, escalated_to=target
            )
            thread["seq"] += 1
            thread["escalation_level"] += 1
            thread["escalated_at"] = _stamp(now)
            thread["receivers"] = list(dict.fromkeys([*thread["receivers"], target]))
            self._save(conn, thread)
            audit(
                self.store,
                "alert.escalate",
                f"alert:{thread['id']}",
                after={"to": target, "level": thread["escalation_level"]},
                at=now,
            )
            conn.execute(
                "INSERT INTO alert_events (alert_id, at, kind, detail) VALUES (?, ?, 'escalated', ?)",
                (thread["id"], _stamp(now), json.dumps({"to": target})),
            )
            escalated += 1
        return escalated, queued

    def send_digests(self, now: datetime | None = None) -> int:
        """Queue the digests due at ``now``; returns how many."""
        return self._digests(now or self.clock())

    def _digests(self, now: datetime) -> int:
        sent = 0
        for spec, since, until in due_digests(self.store, self.settings, now):
            summary = summarize(self.store, spec.receiver, since, until)
            key_parts = ("digest", spec.name, _stamp(until))
            message = render_digest(
                self.settings,
                spec.receiver,
                spec.every,
                since,
                until,
                summary,
                key_hint=idempotency_key(*key_parts),
            )
            deliveries = self._deliveries(
                message, [spec.receiver], "info", now, now, None, "digest", key_parts
            )
            with self.store.transaction() as conn:
                enqueue(conn, deliveries, now)
                conn.execute(
                    "UPDATE alert_digests SET last_sent_at = ? WHERE name = ?",
                    (_stamp(until), spec.name),
                )
            sent += 1
        return sent

    # -- manual ----------------------------------------------------------------------------

    def test_notification(self, receiver: str) -> list[NewDelivery]:
        """Queue a test message to every channel of ``receiver``; returns the rows written."""
        if receiver not in self.settings.receivers:
            raise KeyError(f"unknown receiver {receiver!r}")
        now = self.clock()
        title = f"groundswell test message for {receiver}"
        text = (
            f"{title}\n\nIf you can read this, alerts for {receiver} reach you here. "
            f"Sent at {_stamp(now)}."
        )
        message = {
            "title": title,
            "severity": "info",
            "text": text,
            "markdown": f"**{title}**\n\nIf you can read this, alerts for {receiver} reach you here.",
            "html": f"<p><b>{title}</b></p><p>If you can read this, alerts for {receiver} reach you here.</p>",
            "data": {
                "schema": "groundswell.alert",
                "version": 1,
                "type": "test",
                "created_at": _stamp(now),
                "receiver": receiver,
            },
        }
        deliveries = self._deliveries(
            message, [receiver], "critical", now, now, None, "test", ("test", receiver, _stamp(now))
        )
        with self.store.transaction() as conn:
            enqueue(conn, deliveries, now)
        return deliveries
