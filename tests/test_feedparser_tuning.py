"""feedparser with ContentParams gives the same results as feedparser as shipped, object for object."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import feedparser
import pytest
from feedparser.util import FeedParserDict

import sources.rss  # noqa: F401 - installs the tuning, as every feed source does
from sources import feedparser_tuning
from sources.feedparser_tuning import PARAMETER_KEYS, ContentParams
from tests.conftest import FIXTURES, SHARED_PAYLOADS

RECORDED = sorted(
    path
    for folder in ("rss", "youtube", "google_news")
    for root in (FIXTURES, SHARED_PAYLOADS)
    if (root / folder).is_dir()
    for path in (root / folder).iterdir()
    if path.is_file() and path.suffix != ".json" and path.name != "MANIFEST.md"
)

XHTML = "http://www.w3.org/1999/xhtml"
# Every kind of content element feedparser handles: Atom text/html/xhtml/base64/src content,
# RSS description and content:encoded, plain text that looks like HTML, iTunes and Media RSS
# texts, xml:base and xml:lang, an entry's source feed, RSS 1.0 and 0.91.
SYNTHETIC = {
    "atom_content_kinds": f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de" xml:base="https://blog.example/">
  <title type="html">Acme &lt;b&gt;Blog&lt;/b&gt;</title>
  <subtitle type="xhtml"><div xmlns="{XHTML}">Nie <em>wieder</em></div></subtitle>
  <rights type="text">© Acme</rights>
  <id>urn:feed</id><updated>2026-11-02T09:00:00Z</updated>
  <entry xml:lang="pl">
    <title type="text">Zwrot &amp; reklamacja</title><id>urn:1</id>
    <link rel="alternate" href="/a/1"/><updated>2026-11-02T09:00:00+01:00</updated>
    <summary type="html">&lt;p&gt;Łódź &lt;a href="/x"&gt;link&lt;/a&gt;&lt;/p&gt;</summary>
    <content type="xhtml"><div xmlns="{XHTML}"><p>Five <b>days</b></p><div>nested</div></div></content>
    <source><title>Origin</title><id>urn:origin</id><subtitle>src sub</subtitle></source>
  </entry>
  <entry>
    <title type="xhtml"><div xmlns="{XHTML}">A <i>title</i></div></title><id>urn:2</id>
    <content type="text/plain">plain &lt;b&gt;not html&lt;/b&gt;</content>
    <content type="application/octet-stream">{base64.b64encode("bytes é".encode()).decode()}</content>
  </entry>
  <entry>
    <title>Linked</title><id>urn:3</id>
    <content src="https://cdn.example/video.mp4" type="video/mp4"/>
    <content type="html" xml:base="/deep/">&lt;img src="i.png"&gt; refund</content>
  </entry>
</feed>""",
    "atom03_base64": """<?xml version="1.0"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#">
  <title mode="escaped" type="text/html">T &lt;i&gt;x&lt;/i&gt;</title>
  <tagline>tag</tagline>
  <entry><title>E</title><id>e1</id>
    <content mode="base64" type="text/html">PHA+cmVmdW5kPC9wPg==</content>
    <summary mode="xml" type="application/xhtml+xml"><div xmlns="http://www.w3.org/1999/xhtml">s</div></summary>
  </entry>
</feed>""",
    "rss_content_kinds": """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:media="http://search.yahoo.com/mrss/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>News</title><link>https://news.example/</link><description>Desc &amp;amp; more</description>
<language>es-ES</language><itunes:summary>Pod &lt;b&gt;sum&lt;/b&gt;</itunes:summary>
<image><title>img</title><url>https://news.example/i.png</url><link>https://news.example/</link></image>
<item><title>Vuelo &#8220;retrasado&#8221;</title><link>https://news.example/a?x=1&amp;y=2</link>
<guid isPermaLink="false">g1</guid><description>&lt;p&gt;reembolso &lt;script&gt;x()&lt;/script&gt;&lt;/p&gt;</description>
<content:encoded><![CDATA[<p>Full <a href="/rel">text</a> \x93quoted\x94</p>]]></content:encoded>
<dc:creator>Ana</dc:creator><category>quejas</category><pubDate>Mon, 02 Nov 2026 09:00:00 GMT</pubDate>
<media:description type="plain">media text</media:description>
<media:title>Media title</media:title><media:keywords>a, b</media:keywords>
<enclosure url="https://news.example/a.mp3" length="1" type="audio/mpeg"/></item>
<item><description>plain text with 5 &lt; 6 and no tags</description><guid>https://news.example/p/2</guid>
<itunes:subtitle>sub</itunes:subtitle></item>
</channel></rss>""",
    "rss_windows_1252": """<?xml version="1.0" encoding="windows-1252"?>
<rss version="2.0"><channel><title>Café “news”</title>
<item><title>Nunca más – €50</title><description>refund …</description></item>
</channel></rss>""".encode("cp1252"),
    "rdf_and_091": """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<channel rdf:about="https://x.example/"><title>RDF</title><link>https://x.example/</link>
<description>d</description></channel>
<item rdf:about="https://x.example/1"><title>One</title><link>https://x.example/1</link>
<description>&lt;b&gt;never again&lt;/b&gt;</description></item>
</rdf:RDF>""",
    "rss091_loose": """<rss version="0.91"><channel><title>Loose &amp; broken
<item><title>Unclosed <b>bold</title><description>Refund &nbsp; refused & lawyers</description>
<link>http://loose.example/1</link></item><item><title>Second""",
}


def _inputs() -> Iterator[Any]:
    for path in RECORDED:
        yield pytest.param(path.read_bytes(), id=f"{path.parent.name}/{path.name}")
    for name, text in SYNTHETIC.items():
        yield pytest.param(text.encode() if isinstance(text, str) else text, id=name)


def _same(stock: Any, tuned: Any, where: str = "result") -> None:
    assert type(stock) is type(tuned), f"{where}: {type(stock).__name__} vs {type(tuned).__name__}"
    if isinstance(stock, BaseException):
        assert str(stock) == str(tuned), where
    elif isinstance(stock, dict):
        assert list(stock) == list(tuned), f"{where}: keys differ"
        for key in stock:
            _same(dict.__getitem__(stock, key), dict.__getitem__(tuned, key), f"{where}.{key}")
    elif isinstance(stock, list | tuple):
        assert len(stock) == len(tuned), f"{where}: lengths differ"
        for i, (a, b) in enumerate(zip(stock, tuned, strict=True)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert stock == tuned, where


def _parse_both(data: bytes, **options: Any) -> tuple[Any, Any]:
    assert feedparser_tuning.installed()
    tuned = feedparser.parse(data, **options)
    feedparser_tuning.uninstall()
    try:
        stock = feedparser.parse(data, **options)
    finally:
        assert feedparser_tuning.install()
    return stock, tuned


@pytest.mark.parametrize("data", list(_inputs()))
@pytest.mark.parametrize(
    "options",
    [
        {"sanitize_html": False, "resolve_relative_uris": False},  # how groundswell parses
        {},  # feedparser's defaults: sanitising and URI resolution on
    ],
    ids=["groundswell", "defaults"],
)
def test_results_are_identical_with_and_without_the_tuning(
    data: bytes, options: dict[str, Any]
) -> None:
    stock, tuned = _parse_both(data, **options)
    _same(stock, tuned)


def test_the_corpus_reaches_every_kind_of_content_element() -> None:
    """The comparison above is only as good as its inputs: they must exercise detail copies of
    every content type, base64 decoding, Atom xhtml, the loose parser and a parse error."""
    seen_types: set[str] = set()
    bozo = loose = base64_decoded = 0
    for data in (p.values[0] for p in _inputs()):
        parsed = feedparser.parse(data)
        bozo += bool(parsed.bozo)
        loose += parsed.bozo and bool(parsed.entries)
        for entry in parsed.entries:
            for key, value in entry.items():
                details = value if key == "content" else [value] if key.endswith("_detail") else []
                seen_types.update(d.get("type", "") for d in details)
                base64_decoded += any(d.get("value") == "<p>refund</p>" for d in details)
    assert {"text/plain", "text/html", "application/xhtml+xml"} <= seen_types
    assert base64_decoded and bozo and loose


@pytest.mark.parametrize("key", sorted(PARAMETER_KEYS))
def test_content_params_answer_like_feedparser_dict(key: str) -> None:
    stock, tuned = FeedParserDict({key: "v"}), ContentParams({key: "v"})
    assert (stock[key], stock.get(key), key in stock) == (tuned[key], tuned.get(key), key in tuned)
    empty_stock, empty_tuned = FeedParserDict(), ContentParams()
    assert empty_stock.get(key, 0) == empty_tuned.get(key, 0) == 0
    assert (key in empty_stock) is (key in empty_tuned) is False
    with pytest.raises(KeyError):
        empty_tuned[key]
    with pytest.raises(AttributeError):
        getattr(empty_tuned, key)


def test_a_detail_copy_is_a_plain_independent_feedparser_dict() -> None:
    import copy

    params = ContentParams({"type": "text/html", "language": None, "base": "", "extra": ["x"]})
    copied = copy.deepcopy(params)
    assert type(copied) is FeedParserDict and copied == params
    copied["extra"].append("y")
    copied["type"] = "text/plain"
    assert params == {"type": "text/html", "language": None, "base": "", "extra": ["x"]}


def test_install_refuses_when_a_parameter_name_gains_an_alias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feedparser_tuning.uninstall()
    try:
        monkeypatch.setitem(FeedParserDict.keymap, "type", "kind")
        assert feedparser_tuning.install() is False
        assert not feedparser_tuning.installed()
    finally:
        monkeypatch.undo()
        assert feedparser_tuning.install()
