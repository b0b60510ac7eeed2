"""Markup to text: the bare-tag fast path gives exactly what the HTML parser gives."""

from __future__ import annotations

import random
import re

import pytest

from sources.text import _bare_tags_to_text, _parsed_to_text, clean_text, html_to_text

PIECES = [
    "Lost luggage, ",
    "refund refused",
    " ",
    "\n",
    "<p>",
    "</p>",
    "<P>",
    "<b>",
    "</b>",
    "<br>",
    "<br/>",
    "<br />",
    "<li>",
    "</li>",
    "<div >",
    "&amp;",
    "&lt;b&gt;",
    "&#39;",
    "&eacute;",
    "&am",
    "p;",
    "Łódź zwrot",
    "возврат денег",
    " < 3 ",
    "a<3",
    "<a href='x'>",
    "</a>",
    "<!-- note -->",
    "<script>alert(1)</script>",
    "<style>p{}</style>",
    "<title>x<b>y</b></title>",
    "<o:p>",
    "</p/>",
    "<img src=x>",
]


@pytest.mark.parametrize("seed", range(300))
def test_bare_tag_path_matches_the_parser(seed: int) -> None:
    rng = random.Random(seed)
    markup = "".join(rng.choices(PIECES, k=rng.randint(1, 14)))
    expected = _parsed_to_text(markup)
    bare = _bare_tags_to_text(markup)
    if bare is not None:
        assert clean_text(bare) == expected, markup
    assert html_to_text(markup) == expected


BARE = [p for p in PIECES if _bare_tags_to_text(p) is not None]


@pytest.mark.parametrize("seed", range(200))
def test_bare_markup_takes_the_fast_path_with_the_parsers_result(seed: int) -> None:
    rng = random.Random(seed)
    markup = "".join(rng.choices(BARE, k=rng.randint(1, 20)))
    bare = _bare_tags_to_text(markup)
    assert bare is not None, markup
    assert clean_text(bare) == _parsed_to_text(markup), markup


@pytest.mark.parametrize(
    ("markup", "fast"),
    [
        ("<p>Refund refused &amp; no reply</p><p>never again</p>", True),
        ("line<br/>break", True),
        ('<a href="https://x.example">link</a>', False),
        ("<script>alert(1)</script>text", False),
        ("<!-- c -->text", False),
        ("1 < 2 <b>bold</b>", False),
    ],
)
def test_which_markup_takes_the_fast_path(markup: str, fast: bool) -> None:
    assert (_bare_tags_to_text(markup) is not None) is fast
    assert html_to_text(markup) == _parsed_to_text(markup)


def test_text_of_a_typical_summary() -> None:
    markup = "<p>Refund refused &amp; no reply</p><p>never <b>again</b></p>"
    assert html_to_text(markup) == "Refund refused & no reply\n\nnever again"


def _clean_text_line_by_line(text: str) -> str:
    """The plain statement of clean_text: control characters out, each line's spaces
    collapsed and trimmed, runs of blank lines as one paragraph break."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f]", "", text)
    lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n\s*\n+", "\n\n", "\n".join(lines)).strip()


TEXT_PIECES = [
    "Refund",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n",
    "\r\n",
    "\u00a0",
    "\u2003",
    "\x0b",
    "\x0c",
    "\x01",
    "\x1f",
    "Łódź",
    "возврат",
    " never again ",
    "\u3000",
    "\x85",
    "\u2028",
    "é",
]


@pytest.mark.parametrize("seed", range(300))
def test_clean_text_is_the_line_by_line_rule(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choices(TEXT_PIECES, k=rng.randint(0, 16)))
    assert clean_text(text) == _clean_text_line_by_line(text), repr(text)
