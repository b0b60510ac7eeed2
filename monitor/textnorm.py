"""Text normalisation shared by the brand query language and the FTS5 archive index.

Two sides must agree word for word: Python (``tokens``), which decides whether a brand query
matches a post, and SQLite FTS5, which narrows archive searches to candidates. The FTS5 side is
the ``unicode61`` tokenizer with ``remove_diacritics 2`` fed with ``SQL_FOLD(column)``; this module
mirrors what that tokenizer does and adds the letters it leaves alone.

What ``fold`` does:

* lower-cases (simple case mapping, like unicode61; Greek final sigma and the Greek symbol
  variants fold to the plain letter);
* removes accents from Latin letters (``é`` → ``e``, ``ą`` → ``a``, ``ệ`` → ``e``) and drops the
  combining accents unicode61 drops, so decomposed input folds like precomposed input;
* maps letters that have no decomposition: ``ł→l ø→o đ→d ß→ss æ→ae œ→oe ı→i þ→th``, and
  Cyrillic ``ё→е``. Other Cyrillic, Greek, Arabic… letters keep their accents (``й`` is not ``и``).

Compatibility normalisation (NFKC) is deliberately not applied: FTS5 cannot reproduce it inside
a trigger, and it would glue trademark signs into words (``Acme™`` → ``acmetm``).

What ``tokens`` does: a token is a maximal run of letters, digits and private-use characters
after folding; everything else (spaces, punctuation, apostrophes, emoji, symbols) separates.
``don't`` gives ``don``, ``t``. Scripts written without spaces (Chinese, Japanese, Thai) are
not segmented: a run such as ``退款很慢`` is one token, exactly as unicode61 indexes it.

Known residual differences from FTS5 (the exhaustive test in ``tests/test_textnorm.py`` pins
them): code points unassigned in Python's Unicode database, and upper/lower-case pairs added to
Unicode after 6.1 (Georgian Mtavruli, Cherokee, Osage, Adlam…), which Python lower-cases and
unicode61 does not.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["FTS5_TOKENIZE", "SQL_FOLD", "fold", "tokens"]

# Letters unicode61 does not fold, with what they fold to. Both cases are listed because
# SQL_FOLD runs before the tokenizer's own case folding.
_EXTRA_LETTERS: tuple[tuple[str, str], ...] = (
    ("ł", "l"),
    ("Ł", "l"),
    ("ø", "o"),
    ("Ø", "o"),
    ("đ", "d"),
    ("Đ", "d"),
    ("ß", "ss"),
    ("ẞ", "ss"),
    ("æ", "ae"),
    ("Æ", "ae"),
    ("œ", "oe"),
    ("Œ", "oe"),
    ("ı", "i"),
    ("þ", "th"),
    ("Þ", "th"),
    ("ё", "е"),
    ("Ё", "е"),
)

# Folds unicode61 performs that str.lower() does not (taken from Unicode case folding).
_CASEFOLD_EXTRAS: tuple[tuple[str, str], ...] = (
    ("µ", "μ"),
    ("ſ", "s"),
    ("ẛ", "s"),
    ("ς", "σ"),
    ("ϐ", "β"),
    ("ϑ", "θ"),
    ("ϕ", "φ"),
    ("ϖ", "π"),
    ("ϰ", "κ"),
    ("ϱ", "ρ"),
    ("ϵ", "ε"),
    ("\u1fbe", "ι"),
)

# Combining accents that unicode61 (remove_diacritics 2) treats as part of a word and drops.
_DROPPED_MARKS = (
    "0300 0301 0302 0303 0304 0306 0307 0308 0309 030A 030B 030C 030F 0311 031B 0323 0324 0325 "
    "0326 0327 0328 032D 032E 0330 0331"
)

# Latin letters with several accents that unicode61 keeps as they are.
_KEPT_LATIN = frozenset("ǡǠ")

# Characters assigned after Unicode 6.1 (which unicode61's tables follow) that are not letters
# or digits: unicode61 would treat them as word characters, so "great🤬service" would be one
# token. Listing them as separators in the tokenizer makes FTS5 split where Python splits.
_FTS5_SEPARATOR_RANGES = """
058D-058E 0605 061C-061D 07FD-07FF 0888 0890-0891 0898-089F 08CA-08E3 08FF 09FD-09FE 0A76
0AFA-0AFF 0B55 0C00 0C04 0C3C 0C77 0C81 0C84 0D00-0D01 0D3B-0D3C 0D4F 0D81 0EBA 1715 180F
1885-1886 1AB0-1ACE 1B7D-1B7E 1CF7-1CF9 1DE7-1DFB 2066-2069 20BA-20C0 218A-218B 23F4-23FF 2700
2B4D-2B4F 2B5A-2B73 2B76-2B95 2B97-2BFF 2E3C-2E5D 32FF A69E A82C A8C5 A8FC A8FF A9E5 AA7C-AA7D
AB5B AB6A-AB6B FBC2 FD40-FD4F FDCF FDFE-FDFF FE27-FE2F 1018C-1018E 1019C 101A0 102E0 10376-1037A
1056F 10877-10878 10AC8 10AE5-10AE6 10AF0-10AF6 10B99-10B9C 10D24-10D27 10EAB-10EAD 10F46-10F50
10F55-10F59 10F82-10F89 11070 11073-11074 1107F 110C2 110CD 11145-11146 11173-11175 111C9-111CF
111DB 111DD-111DF 1122C-1123E 112A9 112DF-112EA 11300-11303 1133B-1133C 1133E-11344 11347-11348
1134B-1134D 11357 11362-11363 11366-1136C 11370-11374 11435-11446 1144B-1144F 1145A-1145B
1145D-1145E 114B0-114C3 114C6 115AF-115B5 115B8-115D7 115DC-115DD 11630-11643 11660-1166C 116B9
1171D-1172B 1173C-1173F 1182C-1183B 11930-11935 11937-11938 1193B-1193E 11940 11942-11946
119D1-119D7 119DA-119E0 119E2 119E4 11A01-11A0A 11A33-11A39 11A3B-11A47 11A51-11A5B 11A8A-11A9C
11A9E-11AA2 11C2F-11C36 11C38-11C3F 11C41-11C45 11C70-11C71 11C92-11CA7 11CA9-11CB6 11D31-11D36
11D3A 11D3C-11D3D 11D3F-11D45 11D47 11D8A-11D8E 11D90-11D91 11D93-11D97 11EF3-11EF8 11FD5-11FF1
11FFF 12474 12FF1-12FF2 13430-13438 16A6E-16A6F 16AF0-16AF5 16B30-16B3F 16B44-16B45 16E97-16E9A
16F4F 16F7F-16F87 16FE2 16FE4 16FF0-16FF1 1BC9C-1BCA3 1CF00-1CF2D 1CF30-1CF46 1CF50-1CFC3
1D1DE-1D1EA 1D800-1DA8B 1DA9B-1DA9F 1DAA1-1DAAF 1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024
1E026-1E02A 1E130-1E136 1E14F 1E2AE 1E2EC-1E2EF 1E2FF 1E8D0-1E8D6 1E944-1E94A 1E95E-1E95F 1ECAC
1ECB0 1ED2E 1F0BF 1F0E0-1F0F5 1F10D-1F10F 1F12F 1F16C-1F16F 1F19B-1F1AD 1F23B 1F260-1F265
1F321-1F32F 1F336 1F37D-1F37F 1F394-1F39F 1F3C5 1F3CB-1F3DF 1F3F1-1F3FF 1F43F 1F441 1F4F8
1F4FD-1F4FF 1F53E-1F53F 1F544-1F54F 1F568-1F5FA 1F641-1F644 1F650-1F67F 1F6C6-1F6D7 1F6DD-1F6EC
1F6F0-1F6FC 1F780-1F7D8 1F7E0-1F7EB 1F7F0 1F800-1F80B 1F810-1F847 1F850-1F859 1F860-1F887
1F890-1F8AD 1F8B0-1F8B1 1F900-1FA53 1FA60-1FA6D 1FA70-1FA74 1FA78-1FA7C 1FA80-1FA86 1FA90-1FAAC
1FAB0-1FABA 1FAC0-1FAC5 1FAD0-1FAD9 1FAE0-1FAE7 1FAF0-1FAF6 1FB00-1FB92 1FB94-1FBCA
"""

# Letters (Unicode category Lo today) that Unicode 6.1 classed as marks.
_FTS5_TOKENCHAR_RANGES = "19B0-19C0 19C8-19C9 1CF2-1CF3"


def _expand_ranges(spec: str) -> str:
    chars: list[str] = []
    for item in spec.split():
        first, _, last = item.partition("-")
        chars.extend(chr(cp) for cp in range(int(first, 16), int(last or first, 16) + 1))
    return "".join(chars)


def _build_fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    # Latin-1 Supplement, Latin Extended-A/B and Latin Extended Additional: the ranges in which
    # unicode61 strips accents. Keys are lower case because the table runs after str.lower().
    for cp in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        char = chr(cp)
        if char != char.lower() or char in _KEPT_LATIN:
            continue
        parts = unicodedata.normalize("NFD", char)
        base = parts[0]
        if (
            len(parts) > 1
            and base.isascii()
            and base.isalpha()
            and all(unicodedata.combining(mark) for mark in parts[1:])
        ):
            table[cp] = base
    for source, target in (*_EXTRA_LETTERS, *_CASEFOLD_EXTRAS):
        table[ord(source.lower())] = target
    for mark in _DROPPED_MARKS.split():
        table[int(mark, 16)] = None
    return table


_FOLD_TABLE = _build_fold_table()

# Only the characters that fold to something else, for the substitution in fold(): a regex
# scan visits them alone, which is several times faster than str.translate on non-ASCII text.
_FOLD_STRINGS = {chr(cp): target or "" for cp, target in _FOLD_TABLE.items()}
_FOLD_RE = re.compile("[" + re.escape("".join(sorted(_FOLD_STRINGS))) + "]")

# A word character is a letter or digit or a private-use character (unicode61 keeps those too,
# e.g. the vendor logo U+F8FF inside a word). "_" is a separator: tokens() blanks it first.
_TOKEN_RE = re.compile(r"[\w\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]+")

# ASCII fast path: every ASCII character that is not a letter or digit becomes a space.
_ASCII_SEPARATORS = str.maketrans({chr(cp): " " for cp in range(128) if not chr(cp).isalnum()})


def _fold_match(match: re.Match[str]) -> str:
    return _FOLD_STRINGS[match.group()]


def fold(text: str) -> str:
    """Fold ``text`` for matching: lower case, Latin accents removed, ł/ø/ß/æ/œ/ё… mapped.

    Example:
        >>> fold("Łódź STRASSE Straße Ёлка")
        'lodz strasse strasse елка'
    """
    if text.isascii():
        return text.lower()
    return _FOLD_RE.sub(_fold_match, text.lower())


def tokens(text: str) -> list[str]:
    """Split ``text`` into folded word tokens, as the archive's FTS5 index does.

    Example:
        >>> tokens("Don't   refund? Zwrot—NIE działa! 🤬")
        ['don', 't', 'refund', 'zwrot', 'nie', 'dziala']
    """
    if text.isascii():
        return text.lower().translate(_ASCII_SEPARATORS).split()
    return _TOKEN_RE.findall(fold(text).replace("_", " "))


def SQL_FOLD(expr: str) -> str:
    """Wrap the SQL expression ``expr`` in ``replace()`` calls that fold what unicode61 does not.

    Use it in the triggers that feed the FTS5 index so that the index holds the same tokens as
    ``tokens()``; the tokenizer does the rest (case and accents).

    Example:
        >>> SQL_FOLD("new.title").count("replace(")
        17
    """
    sql = expr
    for source, target in _EXTRA_LETTERS:
        sql = f"replace({sql}, '{source}', '{target}')"
    return sql


def _tokenize_option() -> str:
    separators = _expand_ranges(_FTS5_SEPARATOR_RANGES)
    tokenchars = _expand_ranges(_FTS5_TOKENCHAR_RANGES)
    return f"\"unicode61 remove_diacritics 2 separators '{separators}' tokenchars '{tokenchars}'\""


# The value for ``tokenize=`` in ``CREATE VIRTUAL TABLE … USING fts5(…, tokenize=<this>)``,
# already quoted: unicode61 with remove_diacritics 2, adjusted to split words where ``tokens``
# does for characters newer than unicode61's Unicode 6.1 tables (newer emoji, for one).
FTS5_TOKENIZE = _tokenize_option()
