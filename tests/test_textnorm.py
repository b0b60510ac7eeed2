"""Folding and tokenizing, and their agreement with the archive's FTS5 index."""

from __future__ import annotations

import sqlite3
import sys
import unicodedata
from collections.abc import Iterator, Sequence

import pytest

from monitor.textnorm import FTS5_TOKENIZE, SQL_FOLD, fold, tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Refund", "refund"),
        ("Łódź", "lodz"),
        ("Zażółć gęślą jaźń", "zazolc gesla jazn"),
        ("ŁÓDŹ", "lodz"),
        ("Straße", "strasse"),
        ("STRAẞE", "strasse"),
        ("Müller Öl Übel", "muller ol ubel"),
        ("Ёлка ёж", "елка еж"),
        ("Йогурт", "йогурт"),  # й is its own letter, not и with an accent
        ("ВОЗВРАТ", "возврат"),
        ("Señor Añejo ¿Qué?", "senor anejo ¿que?"),
        ("Cœur Œuvre façade", "coeur oeuvre facade"),
        ("Ærø København", "aero kobenhavn"),
        ("Þingvellir", "thingvellir"),
        ("Đà Nẵng Phở", "da nang pho"),
        ("ıspanak", "ispanak"),
        ("İstanbul", "istanbul"),
        ("cafe\u0301", "cafe"),  # decomposed accent
        ("ΟΔΟΣ ὁδός", "οδοσ ὁδόσ"),  # Greek keeps accents; final sigma folds
        ("退款 Refund", "退款 refund"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Don't refund!", ["don", "t", "refund"]),
        ("don’t", ["don", "t"]),
        ("e-mail, E-MAIL", ["e", "mail", "e", "mail"]),
        ("Acme™ rocks 🤬🔥", ["acme", "rocks"]),
        ("great🤬service", ["great", "service"]),
        ("snake_case 2024", ["snake", "case", "2024"]),
        ("Gdańsk—Łódź…Kraków", ["gdansk", "lodz", "krakow"]),
        ("Ёлки-палки, возврат!", ["елки", "палки", "возврат"]),
        ("¡Qué desastre! ¿Reembolso?", ["que", "desastre", "reembolso"]),
        ("退款很慢 ok", ["退款很慢", "ok"]),
        ("环球航空的退款", ["环球航空的退款"]),
        ("", []),
        ("  ...  ", []),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_ascii_fast_path_equals_general_path() -> None:
    # The ASCII shortcut must give what the Unicode path gives for the same text.
    text = "Don't_stop, REFUND #42 (now)! a-b c.d"
    assert tokens(text) == tokens(text + " é")[:-1]


def _fts_connection() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(body, tokenize={FTS5_TOKENIZE})")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    return conn


def fts_tokens(conn: sqlite3.Connection, texts: Sequence[str]) -> list[list[str]]:
    """Tokenize each text the way the archive index does: SQL_FOLD, then FTS5."""
    conn.execute("DELETE FROM t")
    conn.executemany(
        f"INSERT INTO t(rowid, body) VALUES (?, {SQL_FOLD('?')})", list(enumerate(texts, 1))
    )
    found: list[list[str]] = [[] for _ in texts]
    for doc, term in conn.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
        found[doc - 1].append(term)
    return found


MULTILINGUAL = [
    "Three weeks and still NO refund from Acme Air. Never again!!!",
    "Od trzech tygodni czekam na zwrot pieniędzy. Obsługa klienta — żenada. ŁÓDŹ, Gdańsk",
    "Die Deutsche BAHN hat mir die Erstattung verweigert. Straße, STRAẞE, Grüße aus Köln",
    "Третью неделю жду возврата денег! Поддержка молчит. Ёлки-палки, ВОЗВРАТ",
    "¡Llevo tres semanas esperando el reembolso! Atención al cliente pésima. Año, niño",
    "Aucun remboursement depuis trois semaines. Le service client est nul. Cœur, Œuvre",
    "Ærø, København, Øresund, Þingvellir, Đà Nẵng, ıspanak, İstanbul",
    "don't won’t can't — e-mail: help@acme.example.com #fail @AcmeAir",
    "great🤬service 🥰 love it 👍🏽 ❤️ 10/10 ™ ® ©",
    "退款很慢，客服不回复。返金が遅い。환불이 느려요",
    "cafe\u0301 nai\u0308ve Zoe\u0308 за\u0301мок",
    "ΟΔΟΣ ὁδός Αθήνα αθηνα",
    "snake_case and UPPER_CASE and 2024-05-01 12:30 €99,95",
    "עברית ערבית العربية والاسترداد",
    "Apple\uf8ffWatch private use",
]


@pytest.mark.parametrize("text", MULTILINGUAL)
def test_python_tokens_equal_fts5_tokens(text: str) -> None:
    conn = _fts_connection()
    assert fts_tokens(conn, [text]) == [tokens(text)]


def _assigned_code_points() -> Iterator[int]:
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF or cp >= 0xF0000:  # surrogates; planes 15-16 are private use
            continue
        if unicodedata.category(chr(cp)) != "Cn":
            yield cp


def test_every_assigned_character_folds_and_splits_like_fts5() -> None:
    """Exhaustive: each assigned character between two letters, Python against FTS5.

    The only differences allowed are letters that Python lower-cases and unicode61 (whose
    tables stop at Unicode 6.1) leaves as they are: case pairs added to Unicode later.
    """
    code_points = list(_assigned_code_points())
    texts = [f"q{chr(cp)}q" for cp in code_points]
    conn = _fts_connection()
    found = fts_tokens(conn, texts)
    differences = []
    for cp, text, fts in zip(code_points, texts, found, strict=True):
        ours = tokens(text)
        if ours == fts:
            continue
        newer_case_pair = len(ours) == len(fts) == 1 and fts[0].lower() == ours[0]
        if not newer_case_pair:
            differences.append((hex(cp), unicodedata.name(chr(cp), "?"), ours, fts))
    assert differences == []


def test_sql_fold_covers_the_letters_fts5_does_not_fold() -> None:
    conn = sqlite3.connect(":memory:")
    folded = conn.execute(f"SELECT {SQL_FOLD('?')}", ("ŁłØøĐđßẞÆæŒœıÞþЁё",)).fetchone()[0]
    assert folded == "llooddssssaeaeoeoeiththее"
