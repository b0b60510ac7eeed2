"""SQLite statements, as the application writes them, rewritten for PostgreSQL.

Each distinct statement is translated once (an LRU cache shared by a process's connections to one
database) with sqlglot
(``read="sqlite", write="postgres"``) plus the fix-ups sqlglot does not make:

* placeholders: ``?``, ``?NNN`` and ``:name`` become ``%s``, with the order in which the caller's
  parameters must be passed (``?7`` twice means the seventh parameter twice);
* ``INSERT OR IGNORE`` → ``ON CONFLICT DO NOTHING``; ``INSERT OR REPLACE`` → ``ON CONFLICT (primary
  key) DO UPDATE SET`` every other inserted column (the table's key is looked up once);
* SQLite's integers as truth values (``WHERE 1``, ``WHERE flag``, ``CASE WHEN n``) become
  conditions, and conditions used as values (``SUM(a > 1)``, ``SELECT a = b``) become integers;
* ``COLLATE NOCASE`` becomes ``lower()`` on both sides; ``LIKE`` becomes ``ILIKE`` (SQLite's LIKE
  ignores case); ``INTEGER`` columns are ``BIGINT`` and ``REAL`` is ``DOUBLE PRECISION``;
* ``json_object`` → ``json_build_object``; ``ON CONFLICT (col NULLS FIRST)`` → ``ON CONFLICT (col)``;
* ``PRAGMA``: ``table_info(t)`` is answered from the catalog, the tuning pragmas are no-ops;
  ``BEGIN IMMEDIATE``/``EXCLUSIVE`` is ``BEGIN``;
* a single-row ``INSERT`` gets ``RETURNING`` the table's row id, for ``cursor.lastrowid``;
* bare columns of an aggregate query take the row holding the ``max()``/``min()``
  (``(array_agg(col ORDER BY key))[1]``); subqueries in ``FROM`` get an alias; ``CROSS JOIN …
  ON`` is a join; ``SELECT *`` leaves out the columns only PostgreSQL has (``HIDDEN_COLUMNS``);
* ``CREATE TABLE``: an ``INTEGER PRIMARY KEY`` becomes an identity column (``rowid`` generated
  from it), other tables get an identity ``rowid`` unless ``WITHOUT ROWID``;
* reads that must lock inside a transaction (the audit head, the outbox claim) carry a
  ``locking_sql`` variant; sorted unlimited queries are marked to stream.

What remains SQLite-only (FTS5 ``MATCH``, ``sqlite_master``, ``pragma_table_info``, ``rowid``,
``julianday``…) is provided on the PostgreSQL side by the compatibility objects of migration
``monitor.pg.migrations.m0001_core`` (views and functions of the same names).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

__all__ = [
    "HIDDEN_COLUMNS",
    "TableInfo",
    "TranslateError",
    "Translated",
    "Translator",
    "shared_translator",
]

_Node = Any  # a sqlglot syntax tree node
_MARK = "gs_param_{}_"
_MARK_RE = re.compile(r"gs_param_(\d+)_")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOOP_PRAGMAS = frozenset(
    {
        "optimize",
        "wal_checkpoint",
        "mmap_size",
        "foreign_keys",
        "busy_timeout",
        "query_only",
        "journal_mode",
        "synchronous",
        "cache_size",
        "temp_store",
        "analysis_limit",
        "wal_autocheckpoint",
    }
)
_PRAGMA_DEFAULTS = {"wal_autocheckpoint": "1000", "busy_timeout": "0", "foreign_keys": "1"}
_BEGIN_RE = re.compile(
    r"^\s*BEGIN(\s+(IMMEDIATE|EXCLUSIVE|DEFERRED))?(\s+TRANSACTION)?\s*;?\s*$", re.I
)
_TXN_RE = re.compile(r"^\s*(COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)
_PRAGMA_RE = re.compile(
    r"^\s*PRAGMA\s+(\w+)\s*(?:\(\s*['\"`\[]?([\w.]+)['\"`\]]?\s*\)|=\s*(\S+))?\s*;?\s*$",
    re.I,
)
_WITHOUT_ROWID_RE = re.compile(r"\)\s*WITHOUT\s+ROWID\s*;?\s*$", re.I)
_CONFLICT_ORDER_RE = re.compile(r"\s+NULLS (FIRST|LAST)(?=[^()]*\)\s*DO\b)")


class TranslateError(ValueError):
    """A statement could not be rewritten for PostgreSQL."""


@dataclass(frozen=True, slots=True)
class TableInfo:
    """What the translator needs to know of a table: its key and its row-id column."""

    primary_key: tuple[str, ...]
    rowid: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Translated:
    """A statement ready for psycopg.

    ``params`` picks the caller's parameters in order: ints index a sequence, strs key a mapping;
    ``None`` means the statement takes no parameters (and its ``%`` are not escaped).
    ``noop`` statements are not sent at all; ``returning`` is the row-id column a single INSERT
    adds as ``RETURNING`` (for ``lastrowid``).
    """

    sql: str
    params: tuple[int | str, ...] | None
    noop: bool = False
    returning: str | None = None
    is_insert: bool = False
    streams: bool = False
    fts_positions: frozenset[int] = frozenset()
    locking_sql: str | None = None
    followups: tuple[str, ...] = ()

    def bind(self, args: Sequence[Any] | Mapping[str, Any] | None) -> tuple[Any, ...] | None:
        """The parameters in the order the rewritten statement wants them."""
        if self.params is None:
            return None
        if args is None:
            args = ()
        values: tuple[Any, ...]
        if isinstance(args, Mapping):
            values = tuple(args[p] if isinstance(p, str) else args[str(p)] for p in self.params)
        else:
            seq = list(args)
            try:
                values = tuple(
                    seq[p] if isinstance(p, int) else _named(args, p) for p in self.params
                )
            except IndexError:
                raise TranslateError(
                    f"statement wants {max(int(p) for p in self.params if isinstance(p, int)) + 1}"
                    f" parameters, got {len(seq)}"
                ) from None
        if self.fts_positions:
            from monitor.pg.fts import fts5_to_tsquery

            values = tuple(
                fts5_to_tsquery(v) if i in self.fts_positions and isinstance(v, str) else v
                for i, v in enumerate(values)
            )
        return values


def _named(args: object, name: str) -> Any:
    raise TranslateError(f"named parameter :{name} needs a mapping, got {type(args).__name__}")


def _placeholders(sql: str) -> tuple[str, list[int | str]]:
    """Replace ``?``, ``?N`` and ``:name`` outside quotes by numbered marks."""
    out: list[str] = []
    selectors: list[int | str] = []
    i, n, next_index = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        if ch in "'\"`[":
            close = "]" if ch == "[" else ch
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1])
            i = j + 1
            continue
        if ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j])
            i = j
            continue
        if ch == "/" and sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j])
            i = j
            continue
        if ch == "?":
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            if j > i + 1:
                index = int(sql[i + 1 : j]) - 1
                next_index = index + 1
            else:
                index = next_index
                next_index += 1
            out.append(_MARK.format(len(selectors)))
            selectors.append(index)
            i = j
            continue
        if ch == ":" and (i == 0 or sql[i - 1] != ":") and not sql.startswith("::", i):
            match = _NAME_RE.match(sql, i + 1)
            if match and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                out.append(_MARK.format(len(selectors)))
                selectors.append(match.group())
                i = match.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out), selectors


_PREDICATES = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)
_FTS_MATCH = "gs_fts_match"
_FTS_RANK = "gs_fts_rank"
_FTS_MATCH_RE = re.compile(r"gs_fts_match\((\S+?), (gs_param_\d+_|'(?:[^']|'')*')\)", re.I)
_FTS_RANK_RE = re.compile(r"gs_fts_rank\((\S+?), (gs_param_\d+_|'(?:[^']|'')*')\)", re.I)
# Reads that must lock inside a transaction, where SQLite's BEGIN IMMEDIATE serialised writers:
# the audit head (appends queue up), and the outbox claim (SELECT due rows … LIMIT n, then push
# them out: a second deliverer skips the rows the first one holds instead of sending them too).
_LOCK_ON_READ: dict[str, tuple[str, bool]] = {
    "audit_head": ("FOR UPDATE", False),
    "outbox": ("FOR UPDATE SKIP LOCKED", True),
}
# Columns the PostgreSQL tables have and the SQLite ones do not: ``SELECT *`` leaves them out.
HIDDEN_COLUMNS = frozenset({"rowid", "fold_body", "fold_author", "fts"})


def _is_fts_match(node: _Node) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).lower() == _FTS_MATCH


def _fix_match(tree: _Node, selectors: list[int | str]) -> set[int]:
    """FTS5 ``posts_fts MATCH ?`` → ``alias.fts @@ ?::tsquery`` (the parameter is converted)."""
    marks: set[int] = set()
    for match in list(tree.find_all(exp.Match)):
        right = match.expression
        found = _MARK_RE.fullmatch(right.name) if isinstance(right, exp.Column) else None
        select = match.find_ancestor(exp.Select)
        if select is None or (
            found is None and not (isinstance(right, exp.Literal) and right.is_string)
        ):
            raise TranslateError("MATCH needs a parameter or a string on its right-hand side")
        if found is None:  # a literal FTS5 expression: converted once, here
            from monitor.pg.fts import fts5_to_tsquery

            right = exp.Literal.string(fts5_to_tsquery(right.this))
            index = -1
        else:
            index = int(found.group(1))
            marks.add(index)
        sources = []
        if select.args.get("from_") is not None:
            sources.append(select.args["from_"].this)
        sources += [join.this for join in select.args.get("joins") or []]
        alias = next(
            (
                t.alias_or_name
                for t in sources
                if isinstance(t, exp.Table) and t.name == "posts_fts"
            ),
            "posts_fts",
        )
        match.replace(
            exp.Anonymous(
                this=_FTS_MATCH, expressions=[exp.column("fts", table=alias), right.copy()]
            )
        )
        for column in list(select.find_all(exp.Column)):
            if column.name != "rank" or column.table not in ("", alias):
                continue
            if column.find_ancestor(exp.Select) is not select:
                continue
            if index < 0:
                query: _Node = right.copy()
            else:
                rank_index = len(selectors)
                selectors.append(selectors[index])
                marks.add(rank_index)
                query = exp.column(_MARK.format(rank_index))
            rank = exp.Anonymous(
                this=_FTS_RANK, expressions=[exp.column("fts", table=alias), query]
            )
            if column.parent is select:
                column.replace(exp.alias_(rank, "rank"))
            else:
                column.replace(rank)
    return marks


def _condition(node: _Node) -> _Node:
    """``node`` as a PostgreSQL boolean: SQLite treats any non-zero number as true."""
    if isinstance(node, exp.Paren):
        inner = _condition(node.this)
        return node if inner is node.this else exp.Paren(this=inner)
    if isinstance(node, exp.Connector):
        node.set("this", _condition(node.this))
        node.set("expression", _condition(node.expression))
        return node
    if isinstance(node, exp.Not):
        node.set("this", _condition(node.this))
        return node
    if isinstance(node, (*_PREDICATES, exp.Escape)) or _is_fts_match(node):
        return node
    if isinstance(node, exp.Literal) and not node.is_string:
        return exp.Boolean(this=float(node.this) != 0)
    if isinstance(node, exp.Null):
        return node
    return exp.NEQ(this=exp.Paren(this=node.copy()), expression=exp.Literal.number(0))


def _in_boolean_context(node: _Node) -> bool:
    parent, child = node.parent, node
    while isinstance(parent, exp.Paren | exp.Escape):
        parent, child = parent.parent, parent
    if parent is None:
        return True
    if isinstance(parent, exp.Where | exp.Having | exp.Connector | exp.Not | exp.Filter):
        return True
    if isinstance(parent, exp.Join):
        return child.arg_key == "on"
    if isinstance(parent, exp.If):
        return child.arg_key == "this"
    if isinstance(parent, exp.Case):
        return False
    if isinstance(parent, exp.Predicate):
        return True  # (a = b) IS NULL, EXISTS (...) etc.
    return not isinstance(
        parent,
        exp.Alias
        | exp.Select
        | exp.AggFunc
        | exp.Anonymous
        | exp.Ordered
        | exp.Tuple
        | exp.Coalesce
        | exp.Binary
        | exp.Cast,
    )


def _fix_truth(tree: _Node) -> None:
    for where in list(tree.find_all(exp.Where, exp.Having)):
        where.set("this", _condition(where.this))
    for join in list(tree.find_all(exp.Join)):
        on = join.args.get("on")
        if on is not None and str(join.args.get("kind") or "").upper() == "CROSS":
            join.set("kind", None)  # SQLite's CROSS JOIN … ON is an inner join
        if on is not None:
            join.set("on", _condition(on))
    for case in list(tree.find_all(exp.Case)):
        if case.this is None:
            for branch in case.args.get("ifs") or []:
                branch.set("this", _condition(branch.this))
    for node in list(tree.find_all(*_PREDICATES)):
        if isinstance(node, exp.Boolean) or node.parent is None:
            continue
        if not _in_boolean_context(node):
            node.replace(exp.Cast(this=node.copy(), to=exp.DataType.build("INT")))


def _fix_collate(tree: _Node) -> None:
    for constraint in list(tree.find_all(exp.CollateColumnConstraint)):
        if constraint.name.upper() == "NOCASE" and isinstance(
            constraint.parent, exp.ColumnConstraint
        ):
            constraint.parent.pop()
    for collate in list(tree.find_all(exp.Collate)):
        if collate.expression.name.upper() != "NOCASE":
            continue
        lowered = exp.Lower(this=collate.this.copy())
        parent = collate.parent
        collate.replace(lowered)
        if isinstance(parent, exp.Binary) and not isinstance(parent, exp.Connector):
            other_key = "this" if lowered.arg_key == "expression" else "expression"
            other = parent.args.get(other_key)
            if other is not None and not isinstance(other, exp.Lower):
                parent.set(other_key, exp.Lower(this=other.copy()))


def _fix_types(tree: _Node) -> None:
    for dtype in list(tree.find_all(exp.DataType)):
        kind = dtype.this
        if kind in (exp.DataType.Type.INT, exp.DataType.Type.SMALLINT, exp.DataType.Type.TINYINT):
            dtype.set("this", exp.DataType.Type.BIGINT)
        elif kind == exp.DataType.Type.FLOAT:
            dtype.set("this", exp.DataType.Type.DOUBLE)
        elif kind == exp.DataType.Type.BLOB:
            dtype.set("this", exp.DataType.Type.VARBINARY)


def _fix_subqueries(tree: _Node) -> None:
    """PostgreSQL (before 16) wants an alias on every subquery in FROM."""
    for number, sub in enumerate(list(tree.find_all(exp.Subquery))):
        if isinstance(sub.parent, exp.From | exp.Join) and not sub.alias:
            sub.set("alias", exp.TableAlias(this=exp.to_identifier(f"gs_sub_{number}")))


def _create_table(tree: _Node, out: str, without_rowid: bool) -> tuple[str, tuple[str, ...]]:
    """SQLite's row ids on PostgreSQL: an INTEGER PRIMARY KEY becomes an identity column (with
    ``rowid`` generated from it), any other table not WITHOUT ROWID gets an identity ``rowid``."""
    schema = tree.this
    if not isinstance(schema, exp.Schema) or tree.expression is not None:
        return out, ()
    table = schema.this.name if isinstance(schema.this, exp.Table) else ""
    key = None
    for column in schema.expressions:
        if not isinstance(column, exp.ColumnDef):
            continue
        kind = column.args.get("kind")
        constraints = [c.args.get("kind") for c in column.args.get("constraints") or []]
        if (
            isinstance(kind, exp.DataType)
            and kind.this == exp.DataType.Type.BIGINT
            and any(isinstance(c, exp.PrimaryKeyColumnConstraint) for c in constraints)
        ):
            key = column.name
    if key is not None:
        pattern = re.compile(rf"(\b{re.escape(key)}\b\s+BIGINT)(\s+PRIMARY KEY)", re.I)
        out = pattern.sub(
            rf"\1 GENERATED BY DEFAULT AS IDENTITY\2, rowid BIGINT GENERATED ALWAYS AS ({key}) STORED",
            out,
            count=1,
        )
        trigger = (
            f"CREATE OR REPLACE TRIGGER {table}_key_sync BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION gs_sync_key('{key}')"
        )
        return out, (trigger,)
    if without_rowid:
        return out, ()
    head, paren, rest = out.partition("(")
    return f"{head}{paren}rowid BIGINT GENERATED ALWAYS AS IDENTITY, {rest}", ()


def _lock_clause(tree: _Node) -> str | None:
    """The row lock a plain single-table read of a ``_LOCK_ON_READ`` table takes in a transaction."""
    if not isinstance(tree, exp.Select) or tree.args.get("locks") or tree.args.get("joins"):
        return None
    source = tree.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or table.name not in _LOCK_ON_READ:
        return None
    if tree.args.get("group") or tree.args.get("distinct") or tree.find(exp.AggFunc):
        return None
    clause, needs_limit = _LOCK_ON_READ[table.name]
    if needs_limit and tree.args.get("limit") is None:
        return None
    return clause


def _open_ended(tree: _Node) -> bool:
    """A query worth streaming: sorted and unlimited (search, exports, "every pending post"),
    where a caller may stop early. Point lookups and aggregates run in one round trip."""
    if not isinstance(tree, exp.Select | exp.Union):
        return False
    return tree.args.get("order") is not None and tree.args.get("limit") is None


def _fix_bare_columns(tree: _Node) -> None:
    """SQLite's bare columns in an aggregate query take their values from the row holding the
    max()/min() (any row otherwise); PostgreSQL wants them aggregated: ``(array_agg(col ORDER BY
    key))[1]``."""
    for select in list(tree.find_all(exp.Select)):
        group = select.args.get("group")
        if group is None:
            continue
        keys = {g.sql(dialect="postgres") for g in group.expressions}
        names = {g.name for g in group.expressions if isinstance(g, exp.Column) and not g.table}
        positions = {
            int(g.this)
            for g in group.expressions
            if isinstance(g, exp.Literal) and not g.is_string and str(g.this).isdigit()
        }
        extremes = [
            node
            for item in select.expressions
            for node in item.find_all(exp.Max, exp.Min)
            if node.find_ancestor(exp.Select) is select
        ]
        order = ""
        if len(extremes) == 1:
            key = extremes[0].this.sql(dialect="postgres")
            order = f" ORDER BY {key} {'DESC' if isinstance(extremes[0], exp.Max) else 'ASC'} NULLS LAST"
        projections = []
        for number, item in enumerate(select.expressions, start=1):
            inner = item.this if isinstance(item, exp.Alias) else item
            if (
                number in positions
                or item.alias_or_name in names
                or inner.sql(dialect="postgres") in keys
                or any(n.find_ancestor(exp.Select) is select for n in inner.find_all(exp.AggFunc))
                or not any(
                    c.find_ancestor(exp.Select) is select for c in inner.find_all(exp.Column)
                )
                or any(True for _ in inner.find_all(exp.Subquery, exp.Select))
                or isinstance(inner, exp.Star)
            ):
                projections.append(item)
                continue
            picked = sqlglot.parse_one(
                f"(ARRAY_AGG({inner.sql(dialect='postgres')}{order}))[1]", read="postgres"
            )
            name = item.alias_or_name
            projections.append(exp.alias_(picked, name) if name else picked)
        select.set("expressions", projections)


def _fix_functions(tree: _Node) -> None:
    for like in list(tree.find_all(exp.Like)):
        like.replace(exp.ILike(this=like.this.copy(), expression=like.expression.copy()))
    for agg in list(tree.find_all(exp.JSONArrayAgg)):
        # json_group_array over no rows is '[]' in SQLite, NULL in PostgreSQL
        agg.replace(
            exp.Coalesce(
                this=agg.copy(),
                expressions=[exp.cast(exp.Literal.string("[]"), exp.DataType.build("JSON"))],
            )
        )
    for obj in list(tree.find_all(exp.JSONObject)):
        args: list[_Node] = []
        for pair in obj.expressions:
            args += [pair.this.copy(), pair.expression.copy()]
        obj.replace(exp.Anonymous(this="json_build_object", expressions=args))


class Translator:
    """Translates statements and keeps each result (an LRU of ``cache_size`` statements).

    One translator can serve every connection to the same database (see
    :func:`shared_translator`): ``translate(sql, table_info)`` looks a table up through the
    calling connection only when no earlier call has.
    """

    def __init__(
        self, table_info: Callable[[str], TableInfo | None] | None = None, cache_size: int = 2048
    ) -> None:
        self._default_lookup = table_info
        self._size = cache_size
        self._cache: OrderedDict[str, Translated] = OrderedDict()
        self._tables: dict[str, TableInfo] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def translate(
        self, sql: str, table_info: Callable[[str], TableInfo | None] | None = None
    ) -> Translated:
        """The PostgreSQL form of ``sql`` (cached)."""
        with self._lock:
            found = self._cache.get(sql)
            if found is not None:
                self._cache.move_to_end(sql)
                return found
        self._local.lookup = table_info or self._default_lookup
        try:
            result = self._translate(sql)
        finally:
            self._local.lookup = None
        with self._lock:
            self._cache[sql] = result
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return result

    def clear(self) -> None:
        """Forget every translation and table (after a migration changed the schema)."""
        with self._lock:
            self._cache.clear()
            self._tables.clear()

    def _table_info(self, name: str) -> TableInfo | None:
        with self._lock:
            if name in self._tables:
                return self._tables[name]
        lookup = getattr(self._local, "lookup", None)
        info = lookup(name) if lookup is not None else None
        if info is not None:
            with self._lock:
                self._tables[name] = info
        return info

    def _translate(self, sql: str) -> Translated:
        if _BEGIN_RE.match(sql):
            return Translated("BEGIN", None)
        if _TXN_RE.match(sql):
            text = sql.strip().rstrip(";")
            if re.match(r"^\s*END\b", text, re.I):
                text = "COMMIT"
            return Translated(text, None)
        pragma = _PRAGMA_RE.match(sql)
        if pragma:
            return self._pragma(
                pragma.group(1).lower(), pragma.group(2), reads=pragma.group(3) is None
            )
        if re.match(r"^\s*PRAGMA\b", sql, re.I):
            return Translated("", None, noop=True)
        if re.match(r"^\s*(VACUUM|ANALYZE)\b", sql, re.I):
            return Translated("", None, noop=True)
        without_rowid = bool(_WITHOUT_ROWID_RE.search(sql))
        if without_rowid:
            sql = _WITHOUT_ROWID_RE.sub(")", sql)
        marked, selectors = _placeholders(sql)
        try:
            tree = sqlglot.parse_one(marked, read="sqlite")
        except sqlglot.errors.ParseError as exc:
            raise TranslateError(f"cannot parse for PostgreSQL: {exc}\n{sql}") from exc
        fts_marks = _fix_match(tree, selectors)
        self._expand_stars(tree)
        conflict_suffix = ""
        returning: str | None = None
        is_insert = isinstance(tree, exp.Insert)
        if is_insert:
            conflict_suffix, returning = self._insert(tree)
        _fix_collate(tree)
        _fix_types(tree)
        _fix_functions(tree)
        _fix_subqueries(tree)
        _fix_bare_columns(tree)
        _fix_truth(tree)
        lock_clause = _lock_clause(tree)
        out = tree.sql(dialect="postgres")
        out = _CONFLICT_ORDER_RE.sub("", out)
        out = _FTS_MATCH_RE.sub(r"(\1 @@ CAST(\2 AS tsquery))", out)
        out = _FTS_RANK_RE.sub(r"(-ts_rank(\1, CAST(\2 AS tsquery)))", out)
        followups: tuple[str, ...] = ()
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
            out, followups = _create_table(tree, out, without_rowid)
        out += conflict_suffix
        if returning and " RETURNING " in out.upper():
            returning = None
        order: list[int | str] = []
        fts_positions: set[int] = set()
        if selectors:
            out = out.replace("%", "%%")

            def mark(match: re.Match[str]) -> str:
                index = int(match.group(1))
                if index in fts_marks:
                    fts_positions.add(len(order))
                order.append(selectors[index])
                return "%s"

            out = _MARK_RE.sub(mark, out)
        locking_sql = f"{out} {lock_clause}" if lock_clause else None
        return Translated(
            out,
            tuple(order) if selectors else None,
            returning=returning,
            is_insert=is_insert,
            streams=_open_ended(tree) and locking_sql is None,
            fts_positions=frozenset(fts_positions),
            locking_sql=locking_sql,
            followups=followups,
        )

    def _expand_stars(self, tree: _Node) -> None:
        """``*`` and ``t.*`` without the columns SQLite does not have (``rowid``, the FTS ones)."""
        for select in list(tree.find_all(exp.Select)):
            sources: list[_Node] = []
            if select.args.get("from_") is not None:
                sources.append(select.args["from_"].this)
            sources += [join.this for join in select.args.get("joins") or []]
            tables: dict[str, TableInfo] = {}
            order: list[str] = []
            for source in sources:
                if not isinstance(source, exp.Table):
                    return
                info = self._table_info(source.name)
                if info is None:
                    return
                tables[source.alias_or_name] = info
                order.append(source.alias_or_name)
            if not any(HIDDEN_COLUMNS & set(info.columns) for info in tables.values()):
                continue
            projections: list[_Node] = []
            changed = False
            for item in select.expressions:
                if isinstance(item, exp.Star):
                    names = order
                elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                    names = [item.table] if item.table in tables else []
                else:
                    projections.append(item)
                    continue
                if not names:
                    projections.append(item)
                    continue
                changed = True
                for alias in names:
                    qualify = len(order) > 1 or isinstance(item, exp.Column)
                    projections += [
                        exp.column(c, table=alias if qualify else None)
                        for c in tables[alias].columns
                        if c not in HIDDEN_COLUMNS
                    ]
            if changed:
                select.set("expressions", projections)

    def _pragma(self, name: str, arg: str | None, reads: bool = False) -> Translated:
        if name in ("table_info", "table_xinfo") and arg:
            return Translated(
                f"SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{arg}')",
                None,
            )
        if name in _NOOP_PRAGMAS:
            if (
                reads and arg is None
            ):  # asked for its value: SQLite's default, so callers can restore it
                return Translated(f"SELECT {_PRAGMA_DEFAULTS.get(name, 'NULL')} AS {name}", None)
            return Translated("", None, noop=True)
        raise TranslateError(f"PRAGMA {name} has no PostgreSQL equivalent")

    def _insert(self, tree: _Node) -> tuple[str, str | None]:
        target = tree.this
        table_expr = target.this if isinstance(target, exp.Schema) else target
        table = table_expr.name if isinstance(table_expr, exp.Table) else ""
        columns = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else []
        conflict = tree.args.get("conflict")
        if isinstance(conflict, exp.OnConflict) and table:
            # SQLite reads a bare column in DO UPDATE as the existing row's; PostgreSQL wants
            # it qualified.
            parts = [eq.expression for eq in conflict.expressions if isinstance(eq, exp.EQ)]
            if conflict.args.get("where") is not None:
                parts.append(conflict.args["where"])
            for part in parts:
                for column in list(part.find_all(exp.Column)):
                    if not column.table and not _MARK_RE.fullmatch(column.name):
                        column.set("table", exp.to_identifier(table))
        info = self._table_info(table) if table else None
        alternative = (tree.args.get("alternative") or "").upper()
        suffix = ""
        if alternative in ("IGNORE", "REPLACE"):
            tree.set("alternative", None)
            if alternative == "IGNORE" or info is None or not info.primary_key:
                suffix = " ON CONFLICT DO NOTHING"
            else:
                key = info.primary_key
                cols = columns or list(info.columns)
                rest = [c for c in cols if c not in key and c != "rowid"]
                conflict = ", ".join(f'"{c}"' for c in key)
                if rest:
                    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in rest)
                    suffix = f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
                else:
                    suffix = f" ON CONFLICT ({conflict}) DO NOTHING"
        returning = info.rowid if info is not None else None
        if returning is not None:
            returning = f'"{returning}"'
        return suffix, returning


@lru_cache(maxsize=64)
def shared_translator(database: str) -> Translator:
    """The translator for every connection to ``database`` (a key without credentials), so a
    process that opens the archive once per job translates each statement once."""
    return Translator()
