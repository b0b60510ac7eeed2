"""Canonical URLs: the same article reached through tracking links, AMP or mobile hosts is one URL."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["canonical_url", "decode_google_news_link", "site_of"]

_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "__hs", "_hs")
_TRACKING_KEYS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "igshid",
        "mkt_tok",
        "ref_src",
        "ref_url",
        "cmpid",
        "ocid",
        "smid",
        "spm",
        "share",
        "s_cid",
        "oc",
        "guccounter",
        "amp",
        "outputtype",
        "at_medium",
        "at_campaign",
        "ito",
        "xtor",
        "ncid",
        "sr_share",
        "rss",
    }
)
_MOBILE_PREFIXES = ("m.", "mobile.", "amp.", "www.")


_GOOGLE_NEWS_ARTICLE = re.compile(r"^/(?:__i/rss/rd/|rss/)?articles/([A-Za-z0-9_-]+)")
_AMP_CACHE_PATH = re.compile(r"^/[cvi]/(?:s/)?([^/]+)(/.*)?$")
_REDIRECTORS = {
    # host: query parameter holding the target
    "google.com": "url",
    "www.google.com": "url",
    "l.facebook.com": "u",
    "lm.facebook.com": "u",
    "out.reddit.com": "url",
}


def decode_google_news_link(url: str) -> str | None:
    """The publisher URL inside a Google News article link, when it can be read offline.

    Links minted before mid-2024 carry the target URL in a base64 protobuf; newer ones
    (``AU_yqL…`` payloads) need Google's own endpoint to resolve, and give ``None`` here.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if (parts.hostname or "").lower() != "news.google.com":
        return None
    match = _GOOGLE_NEWS_ARTICLE.match(parts.path)
    if not match:
        return None
    token = match.group(1)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    for value in _protobuf_strings(raw):
        if value.startswith((b"http://", b"https://")):
            try:
                return value.decode("ascii")
            except UnicodeDecodeError:
                return None
    return None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise ValueError("truncated varint")


def _protobuf_strings(data: bytes) -> list[bytes]:
    """Length-delimited fields at the top level of a protobuf message (best effort)."""
    found: list[bytes] = []
    pos = 0
    try:
        while pos < len(data):
            tag, pos = _varint(data, pos)
            wire = tag & 7
            if wire == 0:
                _, pos = _varint(data, pos)
            elif wire == 2:
                length, pos = _varint(data, pos)
                found.append(data[pos : pos + length])
                pos += length
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            else:
                break
    except ValueError:
        pass
    return found


def _unwrap(parts: tuple[str, str, str, str, str], host: str) -> str | None:
    """The real target of a redirector, AMP cache or Google News link, if it is knowable."""
    scheme, _, path, query, _ = parts
    if host.endswith(".cdn.ampproject.org"):
        match = _AMP_CACHE_PATH.match(path)
        if match:
            secure = "/s/" in path[:4]
            return f"{'https' if secure else 'http'}://{match.group(1)}{match.group(2) or '/'}"
    if host in _REDIRECTORS:
        for key, value in parse_qsl(query):
            if key == _REDIRECTORS[host] and value.startswith(("http://", "https://")):
                return value
    if host == "news.google.com":
        return decode_google_news_link(urlunsplit((scheme, host, path, query, "")))
    return None


def canonical_url(url: str) -> str:
    """Lower-case scheme/host, https, no ``www``/``m``/``amp`` host prefixes, no tracking
    parameters, no fragment, no AMP path suffix, no trailing slash.

    Redirect wrappers are unwrapped: AMP cache URLs, ``google.com/url?url=``, Facebook and
    Reddit out-links, and Google News article links whose target can be decoded offline; the
    other Google News links become ``https://news.google.com/rss/articles/<id>`` (one form for
    the ``__i/rss/rd`` and ``rss`` variants). YouTube ``/shorts/<id>``, ``youtu.be/<id>`` and
    ``/watch?v=<id>`` are one video.
    """
    return _canonical(url, depth=0)


def _canonical(url: str, depth: int) -> str:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return url.strip()
    host = parts.hostname.lower()
    if depth < 3:
        target = _unwrap(tuple(parts), host)  # type: ignore[arg-type]
        if target:
            return _canonical(unquote(target) if "%3A%2F%2F" in target[:20] else target, depth + 1)
    if host == "news.google.com":
        match = _GOOGLE_NEWS_ARTICLE.match(parts.path)
        if match:
            return f"https://news.google.com/rss/articles/{match.group(1)}"
    if host in ("youtu.be", "www.youtube.com", "youtube.com", "m.youtube.com"):
        video = _youtube_id(host, parts.path, parts.query)
        if video:
            return f"https://youtube.com/watch?v={video}"
    for prefix in _MOBILE_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    if ".m." in host and host.count(".") >= 3:  # en.m.wikipedia.org
        host = host.replace(".m.", ".", 1)
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = parts.path or "/"
    for suffix in ("/amp/", "/amp", ".amp.html", ".amp"):
        if path.endswith(suffix):
            path = path[: -len(suffix)] + (".html" if suffix == ".amp.html" else "")
            break
    if path.startswith("/amp/"):
        path = path[4:]
    if len(path) > 1:
        path = path.rstrip("/")
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith(_TRACKING_PREFIXES) and key.lower() not in _TRACKING_KEYS
    ]
    query.sort()
    return urlunsplit(("https", host, path, urlencode(query), ""))


def _youtube_id(host: str, path: str, query: str) -> str | None:
    if host == "youtu.be":
        return path.strip("/").split("/")[0] or None
    if path.startswith(("/shorts/", "/live/", "/embed/")):
        return path.split("/")[2] or None
    if path == "/watch":
        return dict(parse_qsl(query)).get("v") or None
    return None


def site_of(url: str | None) -> str:
    """The host of a URL without ``www.``, or ``""``."""
    if not url:
        return ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")
