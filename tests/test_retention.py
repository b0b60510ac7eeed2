"""Retention: rules, legal holds, open alerts, logs of what went, GDPR-style author requests."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.audit import entries, record, verify
from monitor.config import Problems
from monitor.loopback import LoopbackServer, Reply
from monitor.records import Snapshot
from monitor.retention import (
    HoldError,
    RetentionSettings,
    add_hold,
    forget_author,
    list_holds,
    parse_section,
    release_hold,
    run_retention,
)
from monitor.store import Store
from tests.test_search import POSTS, T0, _add, _insert, side_tables

NOW = T0 + timedelta(days=400)
DAY = 86400.0


def _ids(store: Store) -> set[str]:
    return {row[0].split(":", 1)[1] for row in store.conn.execute("SELECT id FROM posts")}


def _text(store: Store, nid: str) -> str:
    return store.conn.execute("SELECT text FROM posts WHERE id = ?", (f"rss:{nid}",)).fetchone()[0]


def test_parse_section_defaults_and_problems() -> None:
    problems = Problems()
    settings = parse_section(
        {"text_after": "365d", "delete_after": "30d", "flagged_risk": 2, "colour": 1},
        problems,
        "retention",
    )
    messages = {(p.path, p.message) for p in problems.items}
    assert ("retention.colour", "unknown key") in messages
    assert any(path == "retention.delete_after" for path, _ in messages)
    assert any(path == "retention.flagged_risk" for path, _ in messages)
    assert settings.text_after == 365 * DAY and settings.flagged_risk == 0.6
    problems = Problems()
    assert parse_section({}, problems, "retention") == RetentionSettings()
    assert not problems.items and not RetentionSettings().active
    parse_section({"text_after": "soon"}, problems, "retention")
    assert problems.items[0].path == "retention.text_after"


def test_nothing_happens_without_rules(store: Store) -> None:
    _add(store)
    report = run_retention(store, None, NOW)
    assert report.redacted == report.deleted == 0
    assert len(_ids(store)) == len(POSTS) and store.count("audit_log") == 0


def test_text_redaction_spares_flagged_held_and_alerted(store: Store) -> None:
    _add(store)
    side_tables(store)  # en1: firing alert, risk .9; pl1: resolved alert; ru1: risk .7
    add_hold(store, "author:jorg", actor="legal", reason="claim 2026-17", now=NOW)
    settings = RetentionSettings(text_after=30 * DAY, flagged_risk=0.75)
    dry = run_retention(store, settings, NOW, dry_run=True)
    assert dry.redacted == 5 and _text(store, "en2") != ""
    report = run_retention(store, settings, NOW)
    # en1 (firing alert), pl1 (resolved alert) and de1 (held) keep their text; ru1's risk .7 is
    # below the .75 threshold, so it is not flagged and goes with en2, en3, pl2, ru2.
    assert report.redacted == 5 and report.purged == 5
    assert report.kept_for_hold == 1
    for nid in ("en2", "en3", "pl2", "ru2", "ru1"):
        assert _text(store, nid) == ""
    for nid in ("en1", "pl1", "de1"):
        assert _text(store, nid) != ""
    logged = store.conn.execute(
        "SELECT post_id, action, brands, content_hash FROM retention_log ORDER BY post_id"
    ).fetchall()
    assert [row[0] for row in logged] == sorted(
        f"rss:{n}" for n in ("en2", "en3", "pl2", "ru1", "ru2")
    )
    assert {row[1] for row in logged} == {"redact"} and all(len(row[3]) == 64 for row in logged)
    # The full-text index forgot the words too.
    assert (
        store.conn.execute(
            "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH 'поддержка'"
        ).fetchone()[0]
        == 0
    )
    (entry,) = entries(store, action="retention.purge")
    assert json.loads(entry.after or "{}")["redacted"] == 5
    assert run_retention(store, settings, NOW).redacted == 0  # idempotent
    assert verify(store).ok


def test_delete_keeps_open_alerts_and_holds_until_released(store: Store) -> None:
    _add(store)
    side_tables(store)
    store.add_snapshot("rss:en2", Snapshot(T0, likes=3))
    hold = add_hold(store, "lodz OR возврат", actor="legal", now=NOW)
    settings = RetentionSettings(delete_after=60 * DAY)
    report = run_retention(store, settings, NOW)
    # en1: open alert; pl1: alerted (resolved) is evidence; ru1 + pl1: held.
    assert _ids(store) == {"en1", "pl1", "ru1"}
    assert report.deleted == 5 and report.kept_for_hold >= 1
    assert store.count("snapshots") == 0  # cascaded with its post
    assert (
        store.conn.execute("SELECT count(*) FROM retention_log WHERE action = 'delete'").fetchone()[
            0
        ]
        == 5
    )
    # Per-brand counts survive the deletion.
    brands = dict(
        store.conn.execute("SELECT brands, count(*) FROM retention_log GROUP BY brands").fetchall()
    )
    assert brands == {"Skyline": 2, "Brightcart": 3}
    release_hold(store, hold.id, actor="legal", now=NOW)
    run_retention(store, settings, NOW + timedelta(days=1))
    assert _ids(store) == {"en1", "pl1"}
    assert [e.action for e in entries(store)] == [
        "hold.add",
        "retention.purge",
        "hold.release",
        "retention.purge",
    ]


def test_snapshots_thinned_but_latest_kept(store: Store) -> None:
    _add(store)
    for day in range(5):
        store.add_snapshot("rss:en1", Snapshot(T0 + timedelta(days=day), likes=day))
    report = run_retention(store, RetentionSettings(snapshots_after=DAY), T0 + timedelta(days=10))
    assert report.snapshots_deleted == 4
    assert [s.likes for s in store.snapshots("rss:en1")] == [4]


def test_holds_validate_and_list(store: Store) -> None:
    with pytest.raises(HoldError, match="does not parse"):
        add_hold(store, '"unclosed', actor="legal")
    first = add_hold(store, "refund", actor="legal", reason="r1")
    add_hold(store, "lodz", actor="legal")
    assert [h.query for h in list_holds(store)] == ["refund", "lodz"]
    release_hold(store, first.id, actor="legal")
    assert [h.query for h in list_holds(store)] == ["lodz"]
    assert len(list_holds(store, include_released=True)) == 2
    with pytest.raises(HoldError, match="already released"):
        release_hold(store, first.id, actor="legal")
    with pytest.raises(HoldError, match="no legal hold"):
        release_hold(store, 99, actor="legal")


def test_forget_author_exports_then_deletes(store: Store) -> None:
    _add(store)
    _add(store, [("en9", "en", "More", "Another refund story", "ANN", 9, "Skyline")])
    side_tables(store)
    _insert(store, "reviews", post_id="rss:en9", assignee="Maria")
    out = io.BytesIO()
    result = forget_author(store, "ann", out, actor="dpo", now=NOW)
    exported = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [p["id"] for p in exported] == ["rss:en1", "rss:en9"]
    assert result["exported"] == 2
    # en1 is under a firing alert: kept, and said so; en9 is gone with its review row.
    assert result["kept"] == {"rss:en1": "open alert"} and result["deleted"] == 1
    assert "en9" not in _ids(store) and "en1" in _ids(store)
    assert (
        store.conn.execute("SELECT count(*) FROM reviews WHERE post_id = 'rss:en9'").fetchone()[0]
        == 0
    )
    (entry,) = entries(store, action="privacy.forget_author")
    assert entry.actor == "dpo" and "ann" not in entry.subject.lower().split(":", 1)[1][:3]
    assert entry.subject.startswith("author:sha256:")
    assert json.loads(entry.after or "{}")["export_sha256"] == result["export_sha256"]


def test_anchor_job_writes_the_configured_file(store: Store, tmp_path: Path) -> None:
    from monitor.audit import read_anchor_file
    from monitor.config import parse_config
    from monitor.retention import write_anchor_if_configured

    assert write_anchor_if_configured(store, None) is None
    target = tmp_path / "anchors.jsonl"
    config = parse_config({"retention": {"anchor_file": str(target)}}, validate_sources=False)
    record(store, actor="a", action="b", subject="c")
    head = write_anchor_if_configured(store, config)
    assert head is not None and json.loads(head)["seq"] == 1
    (anchored,) = read_anchor_file(target)
    assert anchored.seq == 1 and verify(store, [anchored]).ok


def test_anchor_job_posts_to_the_webhook_named_in_the_environment(
    store: Store, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.config import parse_config
    from monitor.retention import AnchorDeliveryError, write_anchor_if_configured

    config = parse_config(
        {"retention": {"anchor_webhook_env": "TEST_ANCHOR_URL"}}, validate_sources=False
    )
    with pytest.raises(AnchorDeliveryError, match="not set"):
        write_anchor_if_configured(store, config)
    loopback.routes["/anchor"] = Reply(204, b"")
    monkeypatch.setenv("TEST_ANCHOR_URL", loopback.url("/anchor"))
    record(store, actor="a", action="b", subject="c")
    write_anchor_if_configured(store, config)
    (request,) = loopback.requests
    assert json.loads(request.body)["seq"] == 1
    loopback.routes["/anchor"] = Reply(503, b"")
    with pytest.raises(AnchorDeliveryError, match="not delivered"):
        write_anchor_if_configured(store, config)
