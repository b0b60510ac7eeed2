"""Full-text prefilter on PostgreSQL: folded tokens in, ``tsquery`` out.

The store writes each post's tokens exactly as :func:`monitor.textnorm.tokens` sees them
(``fold_body``: title and text; ``fold_author``: the author name); the generated ``posts.fts``
column turns them into lexemes (author ones prefixed with ``@``), so a brand query's words can be
looked up as they are, with no second tokenizer in between that could disagree.

:func:`tsquery_of` turns a parsed brand query into a ``tsquery`` that every matching post
satisfies (a superset: phrases and NEAR become AND, NOT and metadata filters are left to the exact
re-check by :mod:`monitor.query`), like ``Query.fts()`` does for SQLite's FTS5.
:func:`fts5_to_tsquery` does the same for an FTS5 expression as ``Query.fts()`` writes it, which
is how the archive search's SQLite statements run unchanged on PostgreSQL.

Example:
    >>> from monitor.query import parse
    >>> tsquery_of(parse('Łódź NEAR/3 "zwrot*" -spam author:dave'))
    "'lodz' & 'zwrot':* & '@dave'"
"""

from __future__ import annotations

import re

from monitor.query import And, Meta, Near, Node, Not, Or, Query, Text, Word
from monitor.textnorm import tokens

__all__ = ["MAX_LEXEME", "FtsSyntaxError", "fold_columns", "fts5_to_tsquery", "tsquery_of"]

MAX_LEXEME = 200  # characters; PostgreSQL refuses lexemes over 2 KiB, longer tokens are cut


class FtsSyntaxError(ValueError):
    """An FTS5 expression this module does not know how to read."""


def _stored(token: str) -> str:
    return token[:MAX_LEXEME]


def fold_columns(title: str | None, text: str | None, author: str | None) -> tuple[str, str]:
    """``(fold_body, fold_author)``: the distinct tokens of title + text, and of the author."""
    body = dict.fromkeys(_stored(t) for t in [*tokens(title or ""), *tokens(text or "")])
    names = dict.fromkeys(_stored(t) for t in tokens(author or ""))
    return " ".join(body), " ".join(names)


def _lexeme(token: str, prefix: bool, author: bool) -> str:
    cut = len(token) > MAX_LEXEME
    value = ("@" if author else "") + _stored(token)
    quoted = "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    return quoted + (":*" if prefix or cut else "")


def _words(words: tuple[Word, ...], author: bool) -> str | None:
    parts = [_lexeme(w.token, w.prefix, author) for w in words if w.token]
    if not parts:
        return None
    return " & ".join(parts)


def _group(part: str) -> str:
    return part if re.fullmatch(r"'(?:[^']|'')*'(?::\*)?", part) else f"({part})"


def _node(node: Node) -> str | None:
    if isinstance(node, Text):
        return _words(node.words, node.scope == "author")
    if isinstance(node, Meta | Not):
        return None
    if isinstance(node, And):
        parts = [p for p in map(_node, node.children) if p is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else " & ".join(map(_group, parts))
    if isinstance(node, Or):
        alternatives = [_node(child) for child in node.children]
        if any(p is None for p in alternatives):
            return None
        return " | ".join(_group(p) for p in alternatives if p is not None)
    if isinstance(node, Near):
        return _node(And((node.left, node.right)))
    raise TypeError(f"unknown query node {type(node).__name__}")


def tsquery_of(query: Query) -> str | None:
    """A ``tsquery`` (text form) every post matching ``query`` satisfies; None means scan all."""
    return _node(query.root)


# -- FTS5 expressions as monitor.query writes them -----------------------------------------

_FTS5_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"]|"")*")|(?P<cols>\{[^}]*\})|(?P<op>[():*,])|(?P<word>[^\s():*,"{}]+))'
)


def _fts5_tokens(expression: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expression):
        if expression[pos:].strip() == "":
            break
        match = _FTS5_TOKEN.match(expression, pos)
        if match is None or match.end() == pos:
            raise FtsSyntaxError(f"cannot read FTS5 expression at {pos}: {expression!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Fts5Reader:
    def __init__(self, expression: str) -> None:
        self.items = _fts5_tokens(expression)
        self.pos = 0
        self.expression = expression

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> tuple[str, str]:
        item = self.peek()
        if item is None:
            raise FtsSyntaxError(f"FTS5 expression ends early: {self.expression!r}")
        self.pos += 1
        return item

    def expect(self, value: str) -> None:
        _kind, text = self.take()
        if text != value:
            raise FtsSyntaxError(f"expected {value!r}, got {text!r} in {self.expression!r}")

    def parse(self) -> str:
        result = self.parse_or(author=None)
        if self.peek() is not None:
            raise FtsSyntaxError(f"unexpected {self.peek()!r} in {self.expression!r}")
        return result

    def parse_or(self, author: bool | None) -> str:
        parts = [self.parse_and(author)]
        while self.peek() == ("word", "OR"):
            self.take()
            parts.append(self.parse_and(author))
        return parts[0] if len(parts) == 1 else " | ".join(map(_group, parts))

    def parse_and(self, author: bool | None) -> str:
        parts = [self.parse_primary(author)]
        while True:
            item = self.peek()
            if item == ("word", "AND"):
                self.take()
            elif item is None or item in (("op", ")"), ("word", "OR"), ("op", ",")):
                break
            elif item == ("word", "NOT"):
                raise FtsSyntaxError(f"NOT is not used by brand queries: {self.expression!r}")
            parts.append(self.parse_primary(author))
        return parts[0] if len(parts) == 1 else " & ".join(map(_group, parts))

    def parse_primary(self, author: bool | None) -> str:
        kind, text = self.take()
        if kind == "op" and text == "(":
            inner = self.parse_or(author)
            self.expect(")")
            return inner
        if kind == "cols" or (kind == "word" and self.peek() == ("op", ":")):
            columns = text.strip("{}").split() if kind == "cols" else [text]
            self.expect(":")
            return self.parse_primary(author=columns == ["author"])
        if kind == "word" and text == "NEAR":
            self.expect("(")
            phrases: list[str] = []
            while self.peek() is not None and self.peek() != ("op", ","):
                if self.peek() == ("op", ")"):
                    break
                phrases.append(self.parse_primary(author))
            if self.peek() == ("op", ","):
                self.take()
                self.take()  # the distance
            self.expect(")")
            return " & ".join(map(_group, phrases))
        if kind == "str":
            words = text[1:-1].replace('""', '"').split()
            prefix = self.peek() == ("op", "*")
            if prefix:
                self.take()
            if not words:
                raise FtsSyntaxError(f"empty phrase in {self.expression!r}")
            lexemes = [
                _lexeme(w, prefix and i == len(words) - 1, bool(author))
                for i, w in enumerate(words)
            ]
            return " & ".join(lexemes)
        if kind == "word" and text not in ("AND", "OR", "NOT", "NEAR"):
            # A bareword: FTS5 runs it through the tokenizer, as tokens() does.
            words = tokens(text)
            prefix = self.peek() == ("op", "*")
            if prefix:
                self.take()
            if not words:
                raise FtsSyntaxError(f"no word in {text!r} in {self.expression!r}")
            return " & ".join(
                _lexeme(w, prefix and i == len(words) - 1, bool(author))
                for i, w in enumerate(words)
            )
        raise FtsSyntaxError(f"unexpected {text!r} in {self.expression!r}")


def fts5_to_tsquery(expression: str) -> str:
    """The ``tsquery`` for an FTS5 MATCH expression written by ``Query.fts()``.

    Example:
        >>> fts5_to_tsquery('{title text} : NEAR("lodz" "zwrot" *, 3)')
        "'lodz' & 'zwrot':*"
    """
    return _Fts5Reader(expression).parse()
