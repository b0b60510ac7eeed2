"""The auditor commands end to end through the CLI: verify, anchor, log, export, holds, retention."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.audit import entries, record
from monitor.cli import cli
from monitor.loopback import LoopbackServer, Reply
from monitor.store import Store
from tests.test_search import POSTS, _add


def _archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive.db"
    with Store.open(path) as store:
        _add(store)
        record(store, actor="alice", action="alert.ack", subject="alert:1")
        record(store, actor="bob", action="review.label", subject="post:rss:en1")
    return path


def _run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_verify_anchor_and_tamper(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    anchors = tmp_path / "anchors.jsonl"
    result = _run("audit", "anchor", "--db", str(db), "--file", str(anchors))
    assert result.exit_code == 0 and "anchored row 2" in result.output
    result = _run("audit", "verify", "--db", str(db), "--anchors", str(anchors))
    assert result.exit_code == 0, result.output
    assert "intact: 2 rows" in result.output
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    conn.commit()
    conn.close()
    result = _run("audit", "verify", "--db", str(db), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["problems"][0]["seq"] == 1
    assert report["problems"][0]["kind"] == "edited"


def test_audit_log_listing(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    result = _run("audit", "log", "--db", str(db), "--actor", "bob", "--format", "json")
    (line,) = result.output.splitlines()
    assert json.loads(line)["action"] == "review.label"
    table = _run("audit", "log", "--db", str(db))
    assert table.output.index("review.label") < table.output.index("alert.ack")  # newest first


def test_export_writes_file_and_audit_entry(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    out = tmp_path / "out.csv"
    result = _run(
        "export", "zwrot*", "--db", str(db), "-o", str(out), "--actor", "auditor1", "--no-progress"
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == ["rss:pl2", "rss:pl1"]
    with Store.open(db, readonly=True) as store:
        (entry,) = entries(store, action="export")
    details = json.loads(entry.after or "{}")
    assert entry.actor == "auditor1" and details["rows"] == 2 and details["query"] == "zwrot*"
    assert details["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_export_to_stdout_jsonl(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    result = _run("export", "--db", str(db), "--format", "jsonl")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(POSTS)


def test_hold_and_retention_commands(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    config = tmp_path / "groundswell.toml"
    config.write_text(f'[storage]\npath = "{db}"\n\n[retention]\ndelete_after = "1d"\n')
    added = _run("hold", "add", "lodz", "--db", str(db), "--reason", "claim 7")
    assert added.exit_code == 0 and "hold 1 open" in added.output
    assert "lodz" in _run("hold", "list", "--db", str(db)).output
    dry = _run("retention", "run", "-c", str(config), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would redact 0, delete 7 posts" in dry.output and "kept 1 under hold" in dry.output
    done = _run("retention", "run", "-c", str(config))
    assert "did redact 0, delete 7 posts" in done.output
    with Store.open(db, readonly=True) as store:
        assert [r[0] for r in store.conn.execute("SELECT id FROM posts")] == ["rss:pl1"]
    assert _run("hold", "remove", "1", "--db", str(db)).exit_code == 0
    assert _run("hold", "remove", "1", "--db", str(db)).exit_code == 1
    assert _run("hold", "list", "--db", str(db)).output == ""


def test_forget_author_command(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    out = tmp_path / "ann.jsonl"
    result = _run("forget-author", "ann", "--db", str(db), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "exported 1 post(s)" in result.output and "deleted 1" in result.output
    assert json.loads(out.read_text(encoding="utf-8"))["author"] == "ann"


def test_archive_metadata_names_the_database(tmp_path: Path) -> None:
    db = _archive(tmp_path)
    result = _run("archive", "metadata", "--db", str(db))
    metadata = json.loads(result.output)
    assert list(metadata["databases"]) == ["archive"]
    queries = metadata["databases"]["archive"]["queries"]
    assert {"who_did_what", "post_history", "exports"} <= set(queries)
    # Every canned query is valid SQL against a real archive.
    with Store.open(db, readonly=True) as store:
        for query in queries.values():
            sql = query["sql"]
            if any(t in sql for t in ("alerts", "outbox")) and not store.db["alerts"].exists():
                continue
            params = {p: "" for p in ("actor", "since", "until", "post_id", "brand", "alert_id")}
            params["words"] = "refund"
            store.conn.execute(f"EXPLAIN {sql}", params)


def test_anchor_to_a_webhook(tmp_path: Path, loopback: LoopbackServer) -> None:
    db = _archive(tmp_path)
    loopback.routes["/hook"] = Reply(204, b"")
    result = _run("audit", "anchor", "--db", str(db), "--webhook", loopback.url("/hook"))
    assert result.exit_code == 0, result.output
    (request,) = loopback.requests
    body = json.loads(request.body)
    assert body["seq"] == 2 and len(body["hash"]) == 64
    with Store.open(db, readonly=True) as store:
        assert store.count("audit_anchors") == 1
    loopback.routes["/hook"] = Reply(500, b"down")
    failed = _run("audit", "anchor", "--db", str(db), "--webhook", loopback.url("/hook"))
    assert failed.exit_code == 1 and "not delivered" in failed.output


def test_archive_serve_without_datasette_says_how_to_install(tmp_path: Path) -> None:
    if importlib.util.find_spec("datasette") is not None:
        pytest.skip("datasette is installed: serve would start a server")
    db = _archive(tmp_path)
    result = _run("archive", "serve", "--db", str(db))
    assert result.exit_code == 1 and "groundswell[datasette]" in result.output


def test_export_with_alert_filter_and_includes(tmp_path: Path) -> None:
    from tests.test_search import side_tables

    db = _archive(tmp_path)
    with Store.open(db) as store:
        side_tables(store)
    out = tmp_path / "alerted.jsonl"
    result = _run(
        "export",
        "--db",
        str(db),
        "--format",
        "jsonl",
        "-o",
        str(out),
        "--alert-status",
        "any",
        "--include",
        "alerts",
        "--include",
        "reviews",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["rss:pl1", "rss:en1"]
    assert rows[1]["alerts"][0]["status"] == "firing"
    assert [a["action"] for a in rows[1]["review_actions"]] == ["review.label"]
