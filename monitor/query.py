"""The brand query language: parse once, evaluate on many posts.

Syntax (Brandwatch/Meltwater style)::

    refund                      a word (case- and accent-insensitive: "Łódź" matches lodz)
    refund*                     a word starting with "refund" (refunds, refunded…)
    "never again"               an exact phrase; punctuation between the words is ignored
    "refund* request"           a phrase may hold wildcards too
    a AND b    a b              both (adjacent terms are joined by AND)
    a OR b                      either
    NOT a    -a                 not; "a NOT b" means a AND NOT b
    a NEAR/5 b                  a within 5 words of b, in either order (NEAR/0: adjacent)
    ( … )                       grouping
    title:refund  title:"…"     only in the title          author:…  only in the author name
    site:example.com            host is example.com or a subdomain of it; site:"Acme News" or
                                site:acme match the site's name
    lang:pl   source:rss        exact, case-insensitive

Precedence, tightest first: NOT, NEAR, AND (also implicit), OR. Operators are upper case;
``and``/``or`` in lower case are searched as words. Words and phrases without a field look in
the title and the text of a post (not the author). Everything is compared as
``monitor.textnorm.tokens`` sees it, so a word such as ``e-mail`` is the phrase "e mail".

NEAR/n counts the words *between* its two sides (like FTS5's ``NEAR(…, n)``); the two sides
must be in the same field. Its sides may be words, phrases, wildcards and groups of them joined
by OR, AND or NEAR; NOT and field filters are not allowed inside NEAR.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from monitor.textnorm import fold, tokens

__all__ = [
    "And",
    "Document",
    "Meta",
    "Near",
    "Node",
    "Not",
    "Or",
    "PreparedDocument",
    "Query",
    "QuerySyntaxError",
    "Text",
    "Word",
    "parse",
    "prepare",
]

TextField = Literal["body", "title", "author"]
MetaField = Literal["site", "lang", "source"]
_TEXT_FIELDS: frozenset[str] = frozenset({"title", "author"})
_META_FIELDS: frozenset[str] = frozenset({"site", "lang", "source"})
_FIELD_NAMES = "title, author, site, lang, source"
_FTS_COLUMNS: dict[str, str] = {"body": "{title text}", "title": "title", "author": "author"}


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; ``column`` (1-based) points at the problem."""

    def __init__(self, reason: str, query: str, column: int) -> None:
        self.reason = reason
        self.query = query
        self.column = column
        caret = " " * (column - 1) + "^"
        super().__init__(f"{reason} (column {column})\n  {query}\n  {caret}")


# ---------------------------------------------------------------------------------------------
# Documents


@dataclass(frozen=True, slots=True)
class Document:
    """The fields of a post that queries look at (raw text; folding happens in ``prepare``)."""

    title: str = ""
    text: str = ""
    author: str = ""
    site: str = ""
    lang: str = ""
    source: str = ""


class _Field:
    """One tokenized text field: tokens, their set, and (on demand) positions and sorted vocab."""

    __slots__ = ("_positions", "_sorted", "tokens", "vocab")

    def __init__(self, text: str) -> None:
        self.tokens: tuple[str, ...] = tuple(tokens(text)) if text else ()
        self.vocab: frozenset[str] = frozenset(self.tokens)
        self._positions: dict[str, list[int]] | None = None
        self._sorted: list[str] | None = None

    def positions(self, token: str) -> Sequence[int]:
        index = self._positions
        if index is None:
            index = {}
            for i, tok in enumerate(self.tokens):
                found = index.get(tok)
                if found is None:
                    index[tok] = [i]
                else:
                    found.append(i)
            self._positions = index
        return index.get(token, ())

    def _ordered(self) -> list[str]:
        ordered = self._sorted
        if ordered is None:
            ordered = self._sorted = sorted(self.vocab)
        return ordered

    def has_prefix(self, prefix: str) -> bool:
        ordered = self._ordered()
        i = bisect_left(ordered, prefix)
        return i < len(ordered) and ordered[i].startswith(prefix)

    def prefixed(self, prefix: str) -> Iterator[str]:
        ordered = self._ordered()
        i = bisect_left(ordered, prefix)
        while i < len(ordered) and ordered[i].startswith(prefix):
            yield ordered[i]
            i += 1


class PreparedDocument:
    """A document tokenized once, so that many queries (one per brand) can test it cheaply."""

    __slots__ = (
        "_author",
        "_raw",
        "_site_hosts",
        "_site_tokens",
        "lang",
        "source",
        "text",
        "title",
    )

    def __init__(self, doc: Document) -> None:
        self.title = _Field(doc.title)
        self.text = _Field(doc.text)
        self.lang = fold(doc.lang.strip())
        self.source = fold(doc.source.strip())
        # The author and site are read by few queries (``author:``, ``site:``): prepared on
        # first use.
        self._raw = doc
        self._author: _Field | None = None
        self._site_tokens: tuple[str, ...] | None = None
        self._site_hosts: tuple[str, ...] | None = None

    @property
    def author(self) -> _Field:
        if self._author is None:
            self._author = _Field(self._raw.author)
        return self._author

    @property
    def site_tokens(self) -> tuple[str, ...]:
        if self._site_tokens is None:
            site = self._raw.site
            self._site_tokens = tuple(tokens(site)) if site else ()
        return self._site_tokens

    @property
    def site_hosts(self) -> tuple[str, ...]:
        if self._site_hosts is None:
            self._site_hosts = tuple(_host(part) for part in fold(self._raw.site).split())
        return self._site_hosts

    def fields(self, scope: TextField) -> tuple[_Field, ...]:
        if scope == "body":
            return (self.title, self.text)
        return (self.title,) if scope == "title" else (self.author,)


def prepare(doc: Document) -> PreparedDocument:
    """Tokenize ``doc`` once for ``Query.matches_prepared``.

    Example:
        >>> q = parse('refund NEAR/3 never')
        >>> q.matches_prepared(prepare(Document(text="Never got my refund")))
        True
    """
    return PreparedDocument(doc)


def _host(value: str) -> str:
    """``https://www.Example.com/path`` → ``example.com`` (input already folded)."""
    host = value.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    return host.removeprefix("www.")


# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True, slots=True)
class Word:
    """One folded token; ``prefix`` for a trailing wildcard."""

    token: str
    prefix: bool = False

    def __str__(self) -> str:
        return self.token + ("*" if self.prefix else "")


@dataclass(frozen=True, slots=True)
class Text:
    """A word or phrase (several words in a row) searched in a text field."""

    words: tuple[Word, ...]
    scope: TextField = "body"
    quoted: bool = False
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        body = " ".join(map(str, self.words))
        if self.quoted or len(self.words) > 1:
            body = f'"{body}"'
        return body if self.scope == "body" else f"{self.scope}:{body}"


@dataclass(frozen=True, slots=True)
class Meta:
    """``site:``, ``lang:`` or ``source:``: a filter on the post's metadata."""

    name: MetaField
    value: str
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f'{self.name}:"{self.value}"' if " " in self.value else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"NOT {self.child}"


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " AND ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Near:
    left: Node
    right: Node
    distance: int

    def __str__(self) -> str:
        return f"({self.left} NEAR/{self.distance} {self.right})"


Node = Text | Meta | Not | And | Or | Near

# ---------------------------------------------------------------------------------------------
# Lexer

_NEAR_RE = re.compile(r"NEAR(?:/(\S*))?$")
_FIELD_RE = re.compile(r"([A-Za-z]+):")
_WORD_END = frozenset(' \t\r\n\f\v()"')


@dataclass(frozen=True, slots=True)
class _Lexeme:
    kind: str  # ( ) AND OR NOT NEAR WORD PHRASE FIELD END
    text: str
    column: int
    distance: int = 0


def _lex(query: str) -> list[_Lexeme]:
    out: list[_Lexeme] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        col = i + 1
        if char.isspace():
            i += 1
        elif char in "()":
            out.append(_Lexeme(char, char, col))
            i += 1
        elif char == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError('unterminated phrase: missing closing "', query, col)
            out.append(_Lexeme("PHRASE", query[i + 1 : end], col))
            i = end + 1
        elif char == "-":
            if i + 1 >= n or query[i + 1].isspace() or query[i + 1] == ")":
                raise QuerySyntaxError("expected a term right after '-'", query, col + 1)
            out.append(_Lexeme("NOT", "-", col))
            i += 1
        else:
            j = i
            while j < n and query[j] not in _WORD_END:
                j += 1
            word = query[i:j]
            i = j
            out.append(_word_lexeme(word, col, query))
    out.append(_Lexeme("END", "", n + 1))
    return out


def _word_lexeme(word: str, col: int, query: str) -> _Lexeme:
    if word in ("AND", "OR", "NOT"):
        return _Lexeme(word, word, col)
    near = _NEAR_RE.match(word)
    if near:
        if near.group(1) is None:
            raise QuerySyntaxError("NEAR needs a distance in words, e.g. NEAR/5", query, col)
        if not near.group(1).isdecimal() or not near.group(1).isascii():
            raise QuerySyntaxError(
                "NEAR/ needs a whole number of words, e.g. NEAR/5", query, col + 5
            )
        return _Lexeme("NEAR", word, col, int(near.group(1)))
    named = _FIELD_RE.match(word)
    if named:
        name = named.group(1).lower()
        if name not in _TEXT_FIELDS and name not in _META_FIELDS:
            raise QuerySyntaxError(
                f"unknown field '{named.group(1)}:' (fields are {_FIELD_NAMES}; "
                "put the text in quotes to search for it as words)",
                query,
                col,
            )
        # The value follows: the rest of this word, or a phrase right after the colon.
        return _Lexeme("FIELD", word, col)
    return _Lexeme("WORD", word, col)


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.lexemes = _lex(query)
        self.pos = 0

    def error(self, reason: str, column: int) -> QuerySyntaxError:
        return QuerySyntaxError(reason, self.query, column)

    def peek(self) -> _Lexeme:
        return self.lexemes[self.pos]

    def take(self) -> _Lexeme:
        lexeme = self.lexemes[self.pos]
        self.pos += 1
        return lexeme

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise self.error("empty query: expected a term", 1)
        node = self.parse_or()
        extra = self.peek()
        if extra.kind == ")":
            raise self.error("unmatched ')'", extra.column)
        if extra.kind != "END":  # pragma: no cover - every other lexeme starts an operand
            raise self.error(f"unexpected {extra.text!r}", extra.column)
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
            elif kind not in ("WORD", "PHRASE", "FIELD", "(", "NOT"):
                break
            children.append(self.parse_near())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_near(self) -> Node:
        left = self.parse_unary()
        while self.peek().kind == "NEAR":
            op = self.take()
            start = self.peek().column
            right = self.parse_unary()
            self.check_positional(left, op.column)
            self.check_positional(right, start)
            left = Near(left, right, op.distance)
        return left

    def check_positional(self, node: Node, column: int) -> None:
        culprit = _not_positional(node)
        if culprit is None:
            return
        if isinstance(culprit, Not):
            what = "NOT"
        elif isinstance(culprit, Meta):
            what = f"{culprit.name}:"
        else:
            what = f"{culprit.scope}:" if isinstance(culprit, Text) else "this"
        raise self.error(
            f"NEAR works on words, phrases and groups of them; {what} cannot be a side of "
            "NEAR (put the NEAR in parentheses and combine it outside)",
            getattr(culprit, "column", 0) or column,
        )

    def parse_unary(self) -> Node:
        lexeme = self.peek()
        if lexeme.kind == "NOT":
            self.take()
            return Not(self.parse_unary(), lexeme.column)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        lexeme = self.take()
        kind = lexeme.kind
        if kind == "(":
            if self.peek().kind == ")":
                raise self.error("empty parentheses: expected a term", self.peek().column)
            node = self.parse_or()
            closing = self.peek()
            if closing.kind != ")":
                raise self.error(
                    f"expected ')' to close the '(' at column {lexeme.column}", closing.column
                )
            self.take()
            return node
        if kind == "WORD":
            return self.word(lexeme.text, lexeme.column, "body")
        if kind == "PHRASE":
            return self.phrase(lexeme.text, lexeme.column, "body")
        if kind == "FIELD":
            return self.field(lexeme)
        if kind == "END":
            previous = self.lexemes[self.pos - 2] if self.pos >= 2 else None
            after = f" after {previous.text}" if previous and previous.kind != "WORD" else ""
            raise self.error(f"query ends where a term was expected{after}", lexeme.column)
        shown = "-" if lexeme.text == "-" else lexeme.text
        raise self.error(f"expected a term before {shown!r}", lexeme.column)

    def word(self, raw: str, column: int, scope: TextField) -> Text:
        star = raw.find("*")
        prefix = star >= 0
        if prefix and star != len(raw) - 1:
            raise self.error(
                "a wildcard * is only allowed at the end of a word (quote the word to search "
                "for it as written)",
                column + star,
            )
        folded = tokens(raw[:-1] if prefix else raw)
        if not folded:
            if prefix:
                raise self.error("a wildcard * needs letters or digits before it", column + star)
            raise self.error(
                f"{raw!r} has no letters or digits to search for (put symbols in a phrase "
                "with words)",
                column,
            )
        words = tuple(Word(tok) for tok in folded)
        if prefix:
            words = (*words[:-1], Word(words[-1].token, True))
        return Text(words, scope, False, column)

    def phrase(self, raw: str, column: int, scope: TextField) -> Text:
        # Inside quotes a "*" ending a word is a wildcard; anywhere else it is punctuation
        # (so a brand such as "E*Trade" can be quoted).
        words: list[Word] = []
        for piece in raw.split():
            found = [Word(tok) for tok in tokens(piece)]
            if found and piece.endswith("*") and tokens(piece[:-1]) == tokens(piece):
                found[-1] = Word(found[-1].token, True)
            words.extend(found)
        if not words:
            raise self.error("empty phrase: expected words between the quotes", column)
        return Text(tuple(words), scope, True, column)

    def field(self, lexeme: _Lexeme) -> Node:
        name_raw, _, value = lexeme.text.partition(":")
        name = name_raw.lower()
        value_column = lexeme.column + len(name_raw) + 1
        quoted = False
        if not value:
            following = self.peek()
            if following.kind != "PHRASE" or following.column != value_column:
                raise self.error(
                    f'expected a word or "phrase" right after {name_raw}:', value_column
                )
            self.take()
            value, quoted = following.text, True
        if name in _TEXT_FIELDS:
            scope: TextField = "title" if name == "title" else "author"
            if quoted:
                text = self.phrase(value, value_column, scope)
            else:
                text = self.word(value, value_column, scope)
            return replace(text, column=lexeme.column)
        if "*" in value:
            raise self.error(
                f"wildcards are not supported in {name}:", value_column + value.index("*")
            )
        cleaned = " ".join(fold(value).split())
        if not cleaned:
            raise self.error(f"empty value after {name_raw}:", value_column)
        meta: MetaField = "site" if name == "site" else "lang" if name == "lang" else "source"
        if meta == "site" and "." in cleaned and " " not in cleaned:
            cleaned = _host(cleaned)
        return Meta(meta, cleaned, lexeme.column)


def _not_positional(node: Node) -> Node | None:
    """The first node inside ``node`` that cannot be a side of NEAR, if any."""
    if isinstance(node, Not | Meta):
        return node
    if isinstance(node, Text):
        return None if node.scope == "body" else node
    if isinstance(node, Near):
        return _not_positional(node.left) or _not_positional(node.right)
    for child in node.children:
        found = _not_positional(child)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------------------------
# Evaluation: the tree is compiled into closures once, so matching a post is a few calls.

Matcher = Callable[[PreparedDocument], bool]
Span = tuple[int, int]
Spanner = Callable[[_Field], list[Span]]


def _word_in(field_: _Field, word: Word) -> bool:
    return field_.has_prefix(word.token) if word.prefix else word.token in field_.vocab


def _word_positions(field_: _Field, word: Word) -> list[int]:
    if not word.prefix:
        return list(field_.positions(word.token))
    found: list[int] = []
    for token in field_.prefixed(word.token):
        found.extend(field_.positions(token))
    return found


def _phrase_spans(field_: _Field, words: tuple[Word, ...]) -> list[Span]:
    first, rest = words[0], words[1:]
    if not rest:
        return [(i, i) for i in _word_positions(field_, first)]
    for word in words:
        if not _word_in(field_, word):
            return []
    toks = field_.tokens
    last = len(rest)
    spans: list[Span] = []
    for start in _word_positions(field_, first):
        if start + last >= len(toks):
            continue
        for offset, word in enumerate(rest, 1):
            tok = toks[start + offset]
            if not (tok.startswith(word.token) if word.prefix else tok == word.token):
                break
        else:
            spans.append((start, start + last))
    return spans


def _compile(node: Node) -> Matcher:
    if isinstance(node, Text):
        return _compile_text(node)
    if isinstance(node, Meta):
        return _compile_meta(node)
    if isinstance(node, Not):
        inner = _compile(node.child)
        return lambda doc: not inner(doc)
    if isinstance(node, And):
        parts = tuple(_compile(child) for child in node.children)
        return lambda doc: all(part(doc) for part in parts)
    if isinstance(node, Or):
        parts = tuple(_compile(child) for child in node.children)
        return lambda doc: any(part(doc) for part in parts)
    found = _compile_near_found(node)
    return lambda doc: found(doc.title) or found(doc.text)


def _compile_text(node: Text) -> Matcher:
    words, scope = node.words, node.scope
    if len(words) == 1 and not words[0].prefix:
        token = words[0].token
        if scope == "body":
            return lambda doc: token in doc.title.vocab or token in doc.text.vocab
        if scope == "title":
            return lambda doc: token in doc.title.vocab
        return lambda doc: token in doc.author.vocab
    if len(words) == 1:
        prefix = words[0].token
        if scope == "body":
            return lambda doc: doc.title.has_prefix(prefix) or doc.text.has_prefix(prefix)
        return lambda doc: any(f.has_prefix(prefix) for f in doc.fields(scope))
    if scope == "body":
        return lambda doc: bool(_phrase_spans(doc.title, words) or _phrase_spans(doc.text, words))
    return lambda doc: any(_phrase_spans(f, words) for f in doc.fields(scope))


def _compile_meta(node: Meta) -> Matcher:
    value = node.value
    if node.name == "lang":
        return lambda doc: doc.lang == value
    if node.name == "source":
        return lambda doc: doc.source == value
    if "." in value and " " not in value:
        suffix = "." + value
        return lambda doc: any(h == value or h.endswith(suffix) for h in doc.site_hosts)
    name = tuple(tokens(value))
    width = len(name)

    def site_name(doc: PreparedDocument) -> bool:
        toks = doc.site_tokens
        return any(toks[i : i + width] == name for i in range(len(toks) - width + 1))

    return site_name


def _gap(left: Span, right: Span) -> int:
    """Words between two spans, in either order; negative when they overlap (as in FTS5)."""
    return max(right[0] - left[1], left[0] - right[1]) - 1


def _compile_near_found(node: Near) -> Callable[[_Field], bool]:
    """Whether NEAR holds in one field, stopping at the first pair close enough."""
    left, right, distance = _compile_spans(node.left), _compile_spans(node.right), node.distance

    def found(f: _Field) -> bool:
        lefts = left(f)
        if not lefts:
            return False
        rights = right(f)
        for ls in lefts:
            for rs in rights:
                if _gap(ls, rs) <= distance:
                    return True
        return False

    return found


def _compile_spans(node: Node) -> Spanner:
    if isinstance(node, Text):
        words = node.words
        if len(words) > 1 or words[0].prefix:
            return lambda f: _phrase_spans(f, words)
        token = words[0].token

        def word_spans(f: _Field) -> list[Span]:
            if token not in f.vocab:
                return []
            return [(i, i) for i in f.positions(token)]

        return word_spans
    if isinstance(node, Or):
        parts = tuple(_compile_spans(child) for child in node.children)
        return lambda f: [span for part in parts for span in part(f)]
    if isinstance(node, And):
        parts = tuple(_compile_spans(child) for child in node.children)

        def all_spans(f: _Field) -> list[Span]:
            found: list[Span] = []
            for part in parts:
                spans = part(f)
                if not spans:
                    return []
                found.extend(spans)
            return found

        return all_spans
    if isinstance(node, Near):
        left, right, distance = _compile_spans(node.left), _compile_spans(node.right), node.distance

        def near_spans(f: _Field) -> list[Span]:
            lefts = left(f)
            if not lefts:
                return []
            rights = right(f)
            return [
                (min(ls[0], rs[0]), max(ls[1], rs[1]))
                for ls in lefts
                for rs in rights
                if _gap(ls, rs) <= distance
            ]

        return near_spans
    raise TypeError(f"{type(node).__name__} cannot be a side of NEAR")  # parser prevents it


# ---------------------------------------------------------------------------------------------
# FTS5 translation


def _fts_quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _fts_phrase(words: tuple[Word, ...]) -> str | None:
    """An FTS5 phrase equal to ``words``, or None when FTS5 cannot express it exactly."""
    if any(w.prefix for w in words[:-1]):
        return None
    return _fts_quote(" ".join(w.token for w in words)) + (" *" if words[-1].prefix else "")


def _fts(node: Node) -> str | None:
    if isinstance(node, Text):
        column = _FTS_COLUMNS[node.scope]
        phrase = _fts_phrase(node.words)
        if phrase is not None:
            return f"{column} : {phrase}"
        # Wildcards inside a phrase: FTS5 only knows a prefix on the last word, so ask for
        # every word on its own (a superset).
        parts = [_fts_quote(w.token) + (" *" if w.prefix else "") for w in node.words]
        return f"{column} : (" + " AND ".join(parts) + ")"
    if isinstance(node, Meta | Not):
        return None
    if isinstance(node, And):
        parts = [p for p in map(_fts, node.children) if p is not None]
        if len(parts) <= 1:
            return parts[0] if parts else None
        return " AND ".join(f"({p})" for p in parts)
    if isinstance(node, Or):
        alternatives = [_fts(child) for child in node.children]
        if any(p is None for p in alternatives):
            return None
        return " OR ".join(f"({p})" for p in alternatives)
    left, right = node.left, node.right
    if isinstance(left, Text) and isinstance(right, Text):
        lp, rp = _fts_phrase(left.words), _fts_phrase(right.words)
        if lp is not None and rp is not None:
            return f"{_FTS_COLUMNS['body']} : NEAR({lp} {rp}, {node.distance})"
    return _fts(And((left, right)))


def _highlights(node: Node, negated: bool, out: set[str]) -> None:
    if isinstance(node, Text):
        if not negated:
            out.update(str(w) for w in node.words)
    elif isinstance(node, Not):
        _highlights(node.child, not negated, out)
    elif isinstance(node, And | Or):
        for child in node.children:
            _highlights(child, negated, out)
    elif isinstance(node, Near):
        _highlights(node.left, negated, out)
        _highlights(node.right, negated, out)


# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class Query:
    """A parsed query. Build it with ``parse``; it is immutable and safe to share."""

    source: str
    root: Node
    _matcher: Matcher = field(repr=False, compare=False)

    prepare = staticmethod(prepare)

    def matches(self, doc: Document) -> bool:
        """True when ``doc`` satisfies the query.

        Example:
            >>> parse('title:zwrot* -spam').matches(Document(title="Zwroty pieniędzy"))
            True
        """
        return self._matcher(PreparedDocument(doc))

    def matches_prepared(self, prepared: PreparedDocument) -> bool:
        """``matches`` for a document already passed through ``prepare`` (the fast path)."""
        return self._matcher(prepared)

    def fts(self) -> str | None:
        """An FTS5 MATCH expression that every matching post also matches, or None (scan all).

        It is meant for an FTS5 table with columns title, text, author filled with
        ``SQL_FOLD(column)`` and tokenized with ``textnorm.FTS5_TOKENIZE``; the candidates it
        returns still need ``matches`` for NOT, metadata filters and exact NEAR semantics.

        Example:
            >>> parse('Łódź NEAR/3 "zwrot*" -spam').fts()
            '{title text} : NEAR("lodz" "zwrot" *, 3)'
        """
        return _fts(self.root)

    def highlight_terms(self) -> frozenset[str]:
        """The folded words the query looks for (prefixes end in ``*``), for snippets.

        Example:
            >>> sorted(parse('refund* OR "Straße" -spam').highlight_terms())
            ['refund*', 'strasse']
        """
        found: set[str] = set()
        _highlights(self.root, False, found)
        return frozenset(found)

    def __str__(self) -> str:
        return str(self.root)


def parse(query: str) -> Query:
    """Parse ``query`` into a ``Query``; raise ``QuerySyntaxError`` pointing at the column.

    Example:
        >>> str(parse('refund* NEAR/5 never OR "Łódź" lang:pl'))
        '((refund* NEAR/5 never) OR ("lodz" AND lang:pl))'
    """
    root = _Parser(query).parse()
    return Query(query, root, _compile(root))
