"""Export round trips: CSV (Excel-ready UTF-8) and JSON Lines, with the optional parts."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from monitor.export import POST_COLUMNS, ExportError, export_posts, export_rows
from monitor.search import SearchFilters
from monitor.store import Store
from tests.test_search import POSTS, _add, side_tables


def _rows(store: Store) -> list[dict]:
    cursor = store.conn.execute(
        "SELECT p.*, (SELECT group_concat(brand, ', ') FROM post_brands b "
        "WHERE b.post_id = p.id) AS brands FROM posts p "
        "ORDER BY p.rowid"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def test_csv_round_trip_with_bom(store: Store, tmp_path: Path) -> None:
    _add(store)
    target = tmp_path / "posts.csv"
    report = export_posts(store, target, "csv")
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    assert b"\r\n" in raw
    assert report.rows == len(POSTS)
    assert report.sha256 == hashlib.sha256(raw).hexdigest() and report.bytes == len(raw)
    with target.open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.DictReader(handle))
    expected = [
        {c: "" if row[c] is None else str(row[c]) for c in POST_COLUMNS} for row in _rows(store)
    ]
    assert read == expected
    assert any("Łódź" in r["title"] for r in read) and any("Ёлки" in r["text"] for r in read)


def test_jsonl_round_trip(store: Store) -> None:
    _add(store)
    out = io.BytesIO()
    report = export_posts(store, out, "jsonl")
    lines = out.getvalue().decode("utf-8").splitlines()
    assert report.rows == len(lines) == len(POSTS)
    assert [json.loads(line) for line in lines] == [
        {c: row[c] for c in POST_COLUMNS} for row in _rows(store)
    ]


def test_filtered_export_uses_search(store: Store) -> None:
    _add(store)
    out = io.BytesIO()
    report = export_posts(store, out, "jsonl", query="zwrot*", filters=SearchFilters(lang="pl"))
    ids = [json.loads(line)["id"] for line in out.getvalue().splitlines()]
    assert report.rows == 2 and ids == ["rss:pl2", "rss:pl1"]


def test_includes_assessments_alerts_reviews(store: Store) -> None:
    _add(store)
    side_tables(store)
    out = io.BytesIO()
    report = export_posts(store, out, "jsonl", include=["assessments", "alerts", "reviews"])
    rows = {r["id"]: r for r in map(json.loads, out.getvalue().splitlines())}
    assert {"sentiment", "risk", "alerts", "reviews"} <= set(report.columns)
    assert rows["rss:en1"]["sentiment"] == "negative" and rows["rss:en1"]["risk"] == 0.9
    assert [a["status"] for a in rows["rss:en1"]["alerts"]] == ["firing"]
    assert rows["rss:en2"]["alerts"] == []
    assert [r["assignee"] for r in rows["rss:ru1"]["reviews"]] == ["Maria"]
    # CSV carries the nested parts as JSON text in one cell.
    text = io.BytesIO()
    export_posts(store, text, "csv", include=["alerts"])
    read = list(csv.DictReader(io.StringIO(text.getvalue().decode("utf-8-sig"))))
    en1 = next(r for r in read if r["id"] == "rss:en1")
    assert json.loads(en1["alerts"])[0]["severity"] == "critical"


def test_export_streams_rows_it_is_given() -> None:
    def endless():
        n = 0
        while True:
            yield {"id": str(n)}
            n += 1

    class Stop(Exception):
        pass

    class Sink(io.RawIOBase):
        written = 0

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:  # type: ignore[override]
            self.written += len(data)
            if self.written > 200_000:
                raise Stop  # rows were written while the generator was still producing
            return len(data)

    with pytest.raises(Stop):
        export_rows(endless(), Sink(), "csv", ["id"])  # type: ignore[arg-type]


def test_bad_format_and_include(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="format"):
        export_posts(store, tmp_path / "x", "parquet")
    with pytest.raises(ExportError, match="cannot include"):
        export_posts(store, tmp_path / "x", "csv", include=["secrets"])
    with pytest.raises(ExportError, match="cannot write"):
        export_posts(store, tmp_path / "missing-dir" / "x.csv", "csv")
