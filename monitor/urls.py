"""Canonical URLs: the same article reached through tracking links, AMP or mobile hosts is one URL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["canonical_url", "site_of"]

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


def canonical_url(url: str) -> str:
    """Lower-case scheme/host, https, no ``www``/``m``/``amp`` host prefixes, no tracking
    parameters, no fragment, no AMP path suffix, no trailing slash."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return url.strip()
    host = parts.hostname.lower()
    for prefix in _MOBILE_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
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


def site_of(url: str | None) -> str:
    """The host of a URL without ``www.``, or ``""``."""
    if not url:
        return ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")
