"""The audit log: who did what, when, to what — in a hash chain that shows any later edit.

Every row of ``audit_log`` stores the hash of the row before it (``prev_hash``) and its own
``hash``: SHA-256 over a canonical JSON object of its fields (``seq``, ``at``, ``actor``,
``action``, ``subject``, ``before``, ``after``, ``prev_hash``). Editing, deleting or reordering a
row breaks the chain at that row; :func:`verify` walks it and names the first bad row.

Someone with write access to the file could rewrite the whole chain consistently. Anchors
defend against that: :func:`anchor` copies the chain head (sequence number and hash) to a file
outside the archive (and the CLI can also post it to a webhook). A later :func:`verify` given
those anchors notices a head that no longer matches, or a log cut short of an anchored row.

Example:
    >>> from monitor.store import Store
    >>> store = Store.open(":memory:")
    >>> record(store, actor="alice", action="alert.ack", subject="alert:1")
    >>> verify(store).ok
    True
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from monitor.records import isoformat, parse_iso, utcnow
from monitor.store import Store

__all__ = [
    "GENESIS",
    "Anchor",
    "AnchorError",
    "AuditEntry",
    "ChainProblem",
    "VerifyReport",
    "anchor",
    "canonical_json",
    "entries",
    "head",
    "read_anchor_file",
    "record",
    "row_hash",
    "verify",
]

GENESIS = "0" * 64
_MAX_PROBLEMS = 50


class AnchorError(ValueError):
    """An anchor file could not be read (missing, or a line is not an anchor)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log; ``before``/``after`` are canonical JSON text (or ``None``)."""

    seq: int
    at: str
    actor: str
    action: str
    subject: str
    before: str | None
    after: str | None
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        return row_hash(
            seq=self.seq,
            at=self.at,
            actor=self.actor,
            action=self.action,
            subject=self.subject,
            before=self.before,
            after=self.after,
            prev_hash=self.prev_hash,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain head at one moment, as copied out of the archive."""

    seq: int
    hash: str
    at: str
    destination: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {"at": self.at, "seq": self.seq, "hash": self.hash}, sort_keys=True, ensure_ascii=False
        )


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """One break in the chain: the sequence number where it shows and what is wrong there."""

    seq: int
    kind: str  # edited | missing | reordered | truncated | rewritten
    detail: str

    def __str__(self) -> str:
        return f"row {self.seq}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    rows: int
    head_seq: int
    head_hash: str
    problems: tuple[ChainProblem, ...] = ()
    anchors_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> ChainProblem | None:
        return min(self.problems, key=lambda p: p.seq) if self.problems else None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text.

    Example:
        >>> canonical_json({"b": 1, "a": ["x", None]})
        '{"a":["x",null],"b":1}'
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def row_hash(
    *,
    seq: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    before: str | None,
    after: str | None,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON of one audit row's fields, as stored."""
    payload = canonical_json(
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "subject": subject,
            "before": before,
            "after": after,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record(
    store: Store,
    *,
    actor: str,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
    at: datetime | None = None,
) -> None:
    """Append one row to the audit log, inside the caller's transaction if one is open.

    ``before``/``after`` may be any JSON-able value (datetimes, dataclasses, sets are converted);
    they are stored as canonical JSON. Use ``actor="system"`` for what the service does by itself.

    Example:
        >>> from monitor.store import Store
        >>> store = Store.open(":memory:")
        >>> record(store, actor="bob", action="review.label", subject="post:rss:1",
        ...        before={"label": "neutral"}, after={"label": "complaint"})
        >>> store.count("audit_log")
        1
    """
    for name, value in (("actor", actor), ("action", action), ("subject", subject)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"audit record needs a non-empty {name}, got {value!r}")
    when = isoformat(at or utcnow())
    before_text = None if before is None else canonical_json(before)
    after_text = None if after is None else canonical_json(after)
    with store.transaction() as conn:
        last_seq, prev_hash = conn.execute(
            "SELECT seq, hash FROM audit_head WHERE id = 1"
        ).fetchone()
        seq = int(last_seq) + 1
        digest = row_hash(
            seq=seq,
            at=when,
            actor=actor,
            action=action,
            subject=subject,
            before=before_text,
            after=after_text,
            prev_hash=prev_hash,
        )
        conn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, subject, before, after, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, when, actor, action, subject, before_text, after_text, prev_hash, digest),
        )


_ENTRY_COLUMNS = "seq, at, actor, action, subject, before, after, prev_hash, hash"


def entries(
    store: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> Iterator[AuditEntry]:
    """Rows of the audit log, filtered; ``action`` ending in ``.`` or ``*`` matches a prefix."""
    clauses: list[str] = []
    args: list[Any] = []
    if since:
        clauses.append("at >= ?")
        args.append(isoformat(since))
    if until:
        clauses.append("at < ?")
        args.append(isoformat(until))
    if actor:
        clauses.append("actor = ?")
        args.append(actor)
    if action:
        if action.endswith(("*", ".")):
            clauses.append("action LIKE ? ESCAPE '\\'")
            prefix = action.rstrip("*").replace("\\", "\\\\").replace("%", "\\%")
            args.append(prefix.replace("_", "\\_") + "%")
        else:
            clauses.append("action = ?")
            args.append(action)
    if subject:
        clauses.append("subject = ?")
        args.append(subject)
    sql = f"SELECT {_ENTRY_COLUMNS} FROM audit_log"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY seq" + (" DESC" if newest_first else "")
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    for row in store.conn.execute(sql, args):
        yield AuditEntry(*row)


def head(store: Store) -> Anchor:
    """The current chain head (last sequence number and its hash) as of now."""
    row = store.conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, digest = (int(row[0]), str(row[1])) if row else (0, GENESIS)
    return Anchor(seq=seq, hash=digest, at=isoformat(utcnow()))


def anchor(store: Store, path: str | Path | None, *, now: datetime | None = None) -> Anchor:
    """Copy the chain head to ``path`` (one JSON line appended) and note it in the archive.

    Keep the file somewhere the archive's writers cannot rewrite (another host, WORM storage,
    a ticket, a chat channel): it is what makes a rewrite of the whole chain detectable.
    With ``path=None`` the head is only noted in ``audit_anchors`` (e.g. when it is sent to a
    channel instead).
    """
    current = head(store)
    moment = isoformat(now or utcnow())
    destination = str(path) if path is not None else ""
    result = Anchor(seq=current.seq, hash=current.hash, at=moment, destination=destination)
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as handle:
            handle.write(result.to_json() + "\n")
    if not store.readonly:
        with store.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_anchors (at, seq, hash, destination) VALUES (?, ?, ?, ?)",
                (moment, result.seq, result.hash, destination or "channel"),
            )
    return result


def read_anchor_file(path: str | Path) -> list[Anchor]:
    """Anchors from a file written by :func:`anchor` (one JSON object per line)."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnchorError(f"cannot read anchor file {target}: {exc}") from exc
    found: list[Anchor] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            found.append(
                Anchor(
                    seq=int(data["seq"]),
                    hash=str(data["hash"]),
                    at=str(data["at"]),
                    destination=str(target),
                )
            )
            parse_iso(found[-1].at)
        except (ValueError, KeyError, TypeError) as exc:
            raise AnchorError(
                f"{target}:{number}: not an anchor line ({exc}); expected "
                '{"at": "...Z", "hash": "<64 hex>", "seq": N}'
            ) from exc
    return found


def verify(
    store: Store, anchors: Iterable[Anchor] = (), *, use_stored: bool = True
) -> VerifyReport:
    """Walk the chain and report every break, first one first.

    Detects an edited row (its hash no longer matches its fields), a deleted row (a gap in
    ``seq``, or a ``prev_hash`` that points at nothing), reordered rows (``prev_hash`` not the
    hash of the row before), a log cut short (the head table or an anchor names a later row),
    and a consistently rewritten chain (an anchor's hash differs from the row it anchored).
    ``use_stored`` also checks the anchors noted inside the archive (weaker: same file).
    """
    problems: list[ChainProblem] = []

    def add(problem: ChainProblem) -> None:
        if len(problems) < _MAX_PROBLEMS:
            problems.append(problem)

    expected_seq = 1
    prev = GENESIS
    rows = 0
    last_seq, last_hash = 0, GENESIS
    cursor = store.conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM audit_log ORDER BY seq")
    for raw in cursor:
        entry = AuditEntry(*raw)
        rows += 1
        if entry.seq != expected_seq:
            missing = (
                f"row {expected_seq} is missing"
                if entry.seq == expected_seq + 1
                else f"rows {expected_seq}..{entry.seq - 1} are missing"
            )
            add(ChainProblem(expected_seq, "missing", f"{missing} (deleted)"))
        elif entry.prev_hash != prev:
            add(
                ChainProblem(
                    entry.seq,
                    "reordered",
                    f"prev_hash {entry.prev_hash[:12]}… is not the hash of row "
                    f"{entry.seq - 1} ({prev[:12]}…): rows moved, or the row before was changed",
                )
            )
        if entry.hash != entry.expected_hash():
            add(
                ChainProblem(
                    entry.seq,
                    "edited",
                    f"stored hash {entry.hash[:12]}… does not match its fields "
                    f"({entry.action} by {entry.actor} on {entry.subject} at {entry.at})",
                )
            )
        prev = entry.hash
        expected_seq = entry.seq + 1
        last_seq, last_hash = entry.seq, entry.hash
    stored_by_seq: dict[int, str] = {}

    def hash_at(seq: int) -> str | None:
        if seq not in stored_by_seq:
            row = store.conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq,)).fetchone()
            stored_by_seq[seq] = row[0] if row else ""
        return stored_by_seq[seq] or None

    try:
        head_row = store.conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        head_row = None
    if head_row is None:
        add(ChainProblem(last_seq + 1, "truncated", "the audit_head row is gone"))
    elif int(head_row[0]) > last_seq:
        add(
            ChainProblem(
                last_seq + 1,
                "truncated",
                f"the log ends at row {last_seq} but its head records row {head_row[0]}",
            )
        )
    elif (int(head_row[0]), head_row[1]) != (last_seq, last_hash):
        add(
            ChainProblem(
                int(head_row[0]) or 1,
                "rewritten",
                f"head records row {head_row[0]} with hash {str(head_row[1])[:12]}…, "
                f"which is not what the log holds",
            )
        )
    checked = 0
    all_anchors = list(anchors)
    if use_stored:
        with contextlib.suppress(sqlite3.OperationalError):
            all_anchors += [
                Anchor(int(seq), str(digest), str(at), f"audit_anchors:{dest}")
                for seq, digest, at, dest in store.conn.execute(
                    "SELECT seq, hash, at, destination FROM audit_anchors ORDER BY id"
                )
            ]
    for item in all_anchors:
        checked += 1
        if item.seq == 0:
            continue
        if item.seq > last_seq:
            add(
                ChainProblem(
                    last_seq + 1,
                    "truncated",
                    f"anchor from {item.at} ({item.destination}) records row {item.seq}, "
                    f"but the log ends at row {last_seq}",
                )
            )
            continue
        stored = hash_at(item.seq)
        if stored is None:
            continue  # a deleted row: already reported above
        if stored != item.hash:
            add(
                ChainProblem(
                    item.seq,
                    "rewritten",
                    f"anchor from {item.at} ({item.destination}) records hash "
                    f"{item.hash[:12]}… for row {item.seq}, the log now has {stored[:12]}…",
                )
            )
    problems.sort(key=lambda p: p.seq)
    return VerifyReport(
        rows=rows,
        head_seq=last_seq,
        head_hash=last_hash,
        problems=tuple(problems),
        anchors_checked=checked,
    )
