"""The brand query language: matching, syntax errors, and the FTS5 prefilter."""

from __future__ import annotations

import random
import sqlite3

import pytest

from monitor.query import Document, Query, QuerySyntaxError, parse
from monitor.textnorm import FTS5_TOKENIZE, SQL_FOLD

D = Document

# (query, document, expected)
MATCH_CASES: list[tuple[str, Document, bool]] = [
    # plain terms, case and accents
    ("refund", D(text="Still no REFUND."), True),
    ("refund", D(text="refunds pending"), False),
    ("BAHN", D(text="Die Deutsche Bahn ist spät"), True),
    ("bahn", D(text="Bahnhof"), False),
    ("Łódź", D(text="Pozdrowienia z LODZ"), True),
    ("lodz", D(text="Pozdrowienia z Łodzi"), False),
    ("lodz*", D(text="Pozdrowienia z Łodzi"), True),
    ("Straße", D(text="Hauptstrasse? Nein: Strasse 5"), True),
    ("strasse", D(text="Grüße aus der Straße"), True),
    ("gruße", D(text="GRÜSSE aus Köln"), True),
    ("köln", D(text="Koeln"), False),
    ("возврат*", D(text="Третью неделю жду возврата денег"), True),
    ("ВОЗВРАТ", D(text="возврат не пришёл"), True),
    ("пришел", D(text="возврат не пришёл"), True),
    ("reembolso", D(text="¡Sin REEMBOLSO todavía!"), True),
    ("año", D(text="Feliz ano nuevo"), True),
    ("remboursement", D(text="Aucun remboursement, service nul"), True),
    ("oeuvre", D(text="Une Œuvre"), True),
    ("zwrot", D(text="ZWROT pieniędzy"), True),
    ("pieniedzy", D(text="ZWROT pieniędzy"), True),
    ("and", D(text="salt and pepper"), True),
    ("or", D(text="salt and pepper"), False),
    # phrases, across punctuation
    ('"never again"', D(text="Never... again!"), True),
    ('"never again"', D(text="again never"), False),
    ('"customer service"', D(text="customer — service was rude"), True),
    ('"obsługa klienta"', D(text="Obsluga, klienta: zenada"), True),
    ('"служба поддержки"', D(text="Служба  поддержки молчит"), True),
    ('"refund* request"', D(text="my refunded request was lost"), True),
    ('"refund* request"', D(text="my refunded late request"), False),
    ("e-mail", D(text="send an E MAIL"), True),
    ('"E*Trade"', D(text="E*TRADE is down"), True),
    ('"E*Trade"', D(text="trade e"), False),
    ('"refund* *"', D(text="Refunds!"), True),
    ("don't", D(text="I DON'T care"), True),
    # wildcard
    ("refund*", D(text="Refunding is slow"), True),
    ("refund*", D(text="no money back"), False),
    ("erstatt*", D(text="Erstattung verweigert"), True),
    ("rembours*", D(text="REMBOURSÉ"), True),
    # AND / OR / NOT / implicit AND / precedence / parentheses
    ("refund never", D(text="never got a refund"), True),
    ("refund never", D(text="got a refund"), False),
    ("refund AND never", D(title="refund", text="never"), True),
    ("refund OR zwrot", D(text="zwrot"), True),
    ("refund OR zwrot", D(text="nothing"), False),
    ("refund NOT spam", D(text="refund spam"), False),
    ("refund -spam", D(text="refund"), True),
    ("refund -spam", D(text="refund SPAM"), False),
    ("NOT spam", D(text="hello"), True),
    ('refund -"free money"', D(text="refund free money"), False),
    ('refund -"free money"', D(text="refund money free"), True),
    ("refund OR zwrot AND nigdy", D(text="refund"), True),
    ("(refund OR zwrot) AND nigdy", D(text="refund"), False),
    ("(refund OR zwrot) nigdy", D(text="zwrot nigdy"), True),
    ("((a OR b) (c OR (d -e)))", D(text="b d"), True),
    ("((a OR b) (c OR (d -e)))", D(text="b d e"), False),
    ("NOT (a OR b)", D(text="a"), False),
    ("NOT NOT a", D(text="a"), True),
    # NEAR
    ("refund NEAR/0 never", D(text="refund never"), True),
    ("refund NEAR/0 never", D(text="never refund"), True),
    ("refund NEAR/0 never", D(text="refund was never"), False),
    ("refund NEAR/1 never", D(text="refund was never"), True),
    ("refund NEAR/2 never", D(text="never, said the refund"), True),
    ("refund NEAR/3 never", D(text="refund a b c d never"), False),
    ("refund NEAR/4 never", D(text="refund a b c d never"), True),
    ("refund NEAR/6 never", D(text="Never in my life did I see a refund"), False),
    ("refund NEAR/7 never", D(text="Never in my life did I see a refund"), True),
    ("refund NEAR/5 never", D(title="refund", text="never"), False),
    ("refund* NEAR/2 nigdy", D(text="Zwrot? Refundacja? Nigdy!"), True),
    ('"customer service" NEAR/3 rude', D(text="rude and slow customer service"), True),
    ('"customer service" NEAR/1 rude', D(text="rude and slow customer service"), False),
    ("(refund OR zwrot) NEAR/2 (never OR nigdy)", D(text="zwrot? nigdy"), True),
    ("(refund OR zwrot) NEAR/2 (never OR nigdy)", D(text="zwrot a b c nigdy"), False),
    ("a NEAR/1 b NEAR/1 c", D(text="a b c"), True),
    ("a NEAR/1 b NEAR/1 c", D(text="a b x x x c"), False),
    ("refund NEAR/3 never -spam", D(text="never a refund, spam"), False),
    ("возврат* NEAR/3 денег", D(text="жду возврата денег"), True),
    # field filters
    ("title:refund", D(title="Refund!", text="nothing"), True),
    ("title:refund", D(title="nothing", text="refund"), False),
    ('title:"no refund"', D(title="Still: no refund"), True),
    ("title:zwrot*", D(title="Zwroty"), True),
    ("author:jane", D(author="Jane Doe", text="x"), True),
    ("jane", D(author="Jane Doe", text="x"), False),
    ('author:"jane doe"', D(author="@jane_doe"), True),
    ("site:example.com", D(site="news.example.com"), True),
    ("site:example.com", D(site="https://www.example.com/a/b"), True),
    ("site:example.com", D(site="badexample.com"), False),
    ("site:www.example.com", D(site="example.com"), True),
    ('site:"Acme News"', D(site="Acme News acme.example.com"), True),
    ('site:"Acme News"', D(site="Acme Daily"), False),
    ("lang:pl", D(lang="PL"), True),
    ("lang:pl", D(lang="pl-PL"), False),
    ("source:RSS", D(source="rss"), True),
    ("source:rss", D(source="reddit"), False),
    ("refund lang:de OR zwrot lang:pl", D(text="zwrot", lang="pl"), True),
    ("refund lang:de OR zwrot lang:pl", D(text="zwrot", lang="de"), False),
    ("refund -site:spam.example", D(text="refund", site="spam.example"), False),
]


@pytest.mark.parametrize(("query", "doc", "expected"), MATCH_CASES)
def test_matches(query: str, doc: Document, expected: bool) -> None:
    parsed = parse(query)
    assert parsed.matches(doc) is expected
    assert parsed.matches_prepared(Query.prepare(doc)) is expected


@pytest.mark.parametrize(
    ("query", "column", "fragment"),
    [
        ("", 1, "empty query"),
        ("   ", 1, "empty query"),
        ("(refund", 8, "expected ')'"),
        ("refund)", 7, "unmatched ')'"),
        ("(a OR (b AND c)", 16, "expected ')' to close the '(' at column 1"),
        ("()", 2, "empty parentheses"),
        ("refund AND", 11, "after AND"),
        ("refund OR", 10, "after OR"),
        ("AND refund", 1, "before 'AND'"),
        ("refund OR OR zwrot", 11, "before 'OR'"),
        ("refund NOT", 11, "after NOT"),
        ('""', 1, "empty phrase"),
        ('refund " ! "', 8, "empty phrase"),
        ('"never again', 1, "unterminated phrase"),
        ("refund NEAR never", 8, "NEAR needs a distance"),
        ("refund NEAR/ never", 13, "whole number"),
        ("refund NEAR/x never", 13, "whole number"),
        ("refund NEAR/5", 14, "after NEAR/5"),
        ("NEAR/5 refund", 1, "before 'NEAR/5'"),
        ("foo:bar", 1, "unknown field 'foo:'"),
        ("refund http://x.com", 8, "unknown field 'http:'"),
        ("*", 1, "wildcard"),
        ("refund *", 8, "wildcard"),
        ("re*fund", 3, "only allowed at the end"),
        ("title: refund", 7, "right after title:"),
        ("site:exa*", 9, "wildcards are not supported"),
        ("refund - spam", 9, "after '-'"),
        ("🤬", 1, "no letters or digits"),
        ("NOT refund NEAR/3 never", 1, "NOT cannot be a side of NEAR"),
        ("refund NEAR/3 -never", 15, "NOT cannot be a side of NEAR"),
        ("refund NEAR/3 title:never", 15, "title: cannot be a side of NEAR"),
        ("(a OR lang:pl) NEAR/3 b", 7, "lang: cannot be a side of NEAR"),
    ],
)
def test_syntax_errors_point_at_the_column(query: str, column: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    error = caught.value
    assert error.column == column
    assert fragment in error.reason
    # The message repeats the query with a caret under the column.
    lines = str(error).splitlines()
    assert lines[1] == "  " + query
    assert lines[2] == "  " + " " * (column - 1) + "^"


def test_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="column 8"):
        parse("(refund")


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("a b OR c", "((a AND b) OR c)"),
        ("a OR b c", "(a OR (b AND c))"),
        ("a b NEAR/3 c", "(a AND (b NEAR/3 c))"),
        ("NOT a b", "(NOT a AND b)"),
        ("a -b OR c", "((a AND NOT b) OR c)"),
        ("a NEAR/1 b NEAR/2 c", "((a NEAR/1 b) NEAR/2 c)"),
        ("(a OR b) NEAR/2 c", "((a OR b) NEAR/2 c)"),
        ("a and b or c", "(a AND and AND b AND or AND c)"),
        ('Title:"Łódź Kaliska" SITE:Example.COM', '(title:"lodz kaliska" AND site:example.com)'),
        ("e-mail*", '"e mail*"'),
    ],
)
def test_precedence_and_normalisation(query: str, canonical: str) -> None:
    assert str(parse(query)) == canonical


@pytest.mark.parametrize(
    ("query", "fts"),
    [
        ("refund", '{title text} : "refund"'),
        ("Łódź*", '{title text} : "lodz" *'),
        ('"never again"', '{title text} : "never again"'),
        ("refund -spam", '{title text} : "refund"'),
        ("NOT spam", None),
        ("lang:pl site:example.com", None),
        ("refund OR lang:pl", None),
        ("title:refund author:jane", '(title : "refund") AND (author : "jane")'),
        ("refund OR zwrot", '({title text} : "refund") OR ({title text} : "zwrot")'),
        ("refund NEAR/3 never", '{title text} : NEAR("refund" "never", 3)'),
        (
            "(refund OR zwrot) NEAR/3 never",
            '(({title text} : "refund") OR ({title text} : "zwrot")) AND ({title text} : "never")',
        ),
        ('"refund* now"', '{title text} : ("refund" * AND "now")'),
    ],
)
def test_fts_translation(query: str, fts: str | None) -> None:
    assert parse(query).fts() == fts


def test_highlight_terms_are_positive_folded_terms() -> None:
    query = parse('(Refund* OR "Straße") NEAR/3 nigdy -spam -(NOT keep) title:Łódź site:x.com')
    assert query.highlight_terms() == frozenset({"refund*", "strasse", "nigdy", "keep", "lodz"})


def test_query_keeps_its_source_and_is_immutable() -> None:
    query = parse("refund OR zwrot")
    assert query.source == "refund OR zwrot"
    with pytest.raises(AttributeError):
        query.source = "x"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# The FTS5 prefilter must never drop a post that the query matches.

_WORDS = (
    "refund refunds refunded Refunding never NEVER again customer service rude slow late "
    "zwrot zwrotu ZWROTY pieniędzy nigdy więcej obsługa klienta Łódź Gdańsk "
    "Erstattung Straße STRASSE Grüße Bahn BAHN возврат возврата ВОЗВРАТ денег никогда Ёлка ёлка "
    "reembolso NUNCA año atención remboursement jamais Œuvre cœur e-mail don't spam"
)
VOCABULARY = [
    *_WORDS.split(),
    "customer service",
    "never again",
    "Customer, service",
    "refund never",
    "so rude",
]
SEPARATORS = [" ", " ", " ", ", ", "! ", " — ", "... ", "🤬", " 🥰 ", "-", "_", "’"]

PROPERTY_QUERIES = [
    "refund",
    "refund*",
    "REFUND never",
    "refund OR zwrot",
    '"customer service"',
    '"never again"',
    '"refund* never"',
    "zwrot* -spam",
    "NOT spam",
    "Łódź OR gdansk",
    "strasse OR grüsse",
    "возврат* OR ёлка",
    "title:refund",
    "title:zwrot* OR author:jane",
    'author:"jane doe"',
    "refund NEAR/0 never",
    "refund NEAR/2 never",
    "never NEAR/5 refund*",
    '"customer service" NEAR/3 rude',
    "(refund OR zwrot) NEAR/2 (never OR nigdy)",
    "refund NEAR/1 never NEAR/2 again",
    "(refund never) NEAR/3 again",
    "refund NEAR/3 never -spam",
    "e-mail NEAR/4 don't",
    "(reembolso OR remboursement) (nunca OR jamais) lang:es",
    "cœur OR oeuvre site:example.com",
]


def _random_text(rng: random.Random, words: int) -> str:
    out = []
    for _ in range(words):
        out.append(rng.choice(VOCABULARY))
        out.append(rng.choice(SEPARATORS))
    return "".join(out)


def _random_documents(rng: random.Random, count: int) -> list[Document]:
    docs = []
    for _ in range(count):
        docs.append(
            Document(
                title=_random_text(rng, rng.randint(0, 4)),
                text=_random_text(rng, rng.randint(0, 14)),
                author=rng.choice(["", "Jane Doe", "@jane_doe", "refund bot", "Łukasz"]),
                site=rng.choice(["", "example.com", "news.example.com", "other.org"]),
                lang=rng.choice(["", "en", "pl", "es"]),
                source="rss",
            )
        )
    return docs


@pytest.fixture(scope="module")
def fts_archive() -> tuple[sqlite3.Connection, list[Document]]:
    docs = _random_documents(random.Random(20240501), 1500)
    conn = sqlite3.connect(":memory:")
    conn.execute(
        f"CREATE VIRTUAL TABLE posts_fts USING fts5(title, text, author, tokenize={FTS5_TOKENIZE})"
    )
    conn.executemany(
        "INSERT INTO posts_fts(rowid, title, text, author) "
        f"VALUES (?, {SQL_FOLD('?')}, {SQL_FOLD('?')}, {SQL_FOLD('?')})",
        [(i, d.title, d.text, d.author) for i, d in enumerate(docs)],
    )
    return conn, docs


@pytest.mark.parametrize("query", PROPERTY_QUERIES)
def test_fts_prefilter_is_conservative(
    query: str, fts_archive: tuple[sqlite3.Connection, list[Document]]
) -> None:
    conn, docs = fts_archive
    parsed = parse(query)
    matching = {i for i, doc in enumerate(docs) if parsed.matches(doc)}
    expression = parsed.fts()
    if expression is None:
        return
    candidates = {
        row[0]
        for row in conn.execute(
            "SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?", (expression,)
        )
    }
    assert matching <= candidates, sorted(matching - candidates)[:5]


@pytest.mark.parametrize(
    "query",
    [
        "refund",
        "refund*",
        '"customer service"',
        "refund NEAR/0 never",
        "refund NEAR/2 never",
        "never NEAR/5 refund*",
        '"customer service" NEAR/3 rude',
        '"refund never" NEAR/1 again',
    ],
)
def test_exact_fts_translations_select_exactly_the_matches(
    query: str, fts_archive: tuple[sqlite3.Connection, list[Document]]
) -> None:
    """Where fts() claims an exact translation (words, phrases, simple NEAR), FTS5 agrees.

    Only title and text are searched by these queries, so the author column is blanked here.
    """
    conn, docs = fts_archive
    parsed = parse(query)
    expression = parsed.fts()
    assert expression is not None
    matching = {i for i, doc in enumerate(docs) if parsed.matches(doc)}
    candidates = {
        row[0]
        for row in conn.execute(
            "SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?", (expression,)
        )
    }
    assert matching == candidates
    assert matching  # the random archive does exercise the query


def test_random_archive_exercises_every_property_query(
    fts_archive: tuple[sqlite3.Connection, list[Document]],
) -> None:
    _, docs = fts_archive
    for query in PROPERTY_QUERIES:
        parsed = parse(query)
        hits = sum(parsed.matches(doc) for doc in docs)
        assert 0 < hits < len(docs), query
