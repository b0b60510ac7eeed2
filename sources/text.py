"""Turning source markup into plain text for matching, models and people."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

__all__ = ["clean_text", "html_to_text"]

_BLOCK_TAGS = frozenset(
    {
        "p",
        "br",
        "div",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "section",
        "article",
        "ul",
        "ol",
        "table",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")  # control characters other than \t and \n


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def clean_text(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks, drop control characters."""
    text = _SPACES.sub(" ", _CONTROL.sub("", text))  # spaces never span a line break
    if "\n" not in text:  # one line (a title, most short posts)
        return text.strip()
    lines = [line.strip() for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


# Elements whose content a parser may read as text rather than tags (version-dependent).
_RAW_TEXT_TAGS = frozenset(
    {"title", "textarea", "xmp", "iframe", "noembed", "noframes", "plaintext"}
)
# A tag without attributes (``<p>``, ``</b>``, ``<br/>``): most feed summaries hold nothing else.
_BARE_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\s*(/?)>")


def _bare_tags_to_text(markup: str) -> str | None:
    """What the parser would extract from markup whose every ``<`` opens a bare tag, without
    running it (several times cheaper); None for anything else: attributes, comments, scripts,
    a stray ``<``."""
    parts = _BARE_TAG.split(markup)  # text, (closing, name, self-closing, text) per tag
    if markup.count("<") != (len(parts) - 1) // 4:
        return None
    unescape = html.unescape
    pieces = [unescape(parts[0]) if "&" in parts[0] else parts[0]]
    for index in range(1, len(parts), 4):
        closing, name, self_closing, text = parts[index : index + 4]
        name = name.lower()
        if name in _SKIP_TAGS or name in _RAW_TEXT_TAGS or (closing and self_closing):
            return None
        if name in _BLOCK_TAGS:
            # <br/> is a start and an end tag to the parser: two breaks.
            pieces.append("\n\n" if self_closing else "\n")
        pieces.append(unescape(text) if "&" in text else text)
    return "".join(pieces)


def _parsed_to_text(markup: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except (ValueError, AssertionError):  # pathological markup: fall back to a crude strip
        return clean_text(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    return clean_text("".join(parser.parts))


def html_to_text(markup: str | None) -> str:
    """Strip tags (HTML is untrusted), decode entities, keep block breaks as newlines."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return clean_text(markup)
    bare = _bare_tags_to_text(markup)
    if bare is not None:
        return clean_text(bare)
    return _parsed_to_text(markup)
