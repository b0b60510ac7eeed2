"""feedparser, without the cost of its aliasing dictionary where no alias can apply.

While it reads an element that carries content, feedparser keeps that element's parameters
(``type``, ``language``, ``base``, ``base64``, ``mode``, ``src``, then ``value``) in a
``FeedParserDict``. Every item access on that class first compares the key with five special
names and looks it up in a table of legacy aliases (``channel`` → ``feed``, ``description`` →
``summary`` …), and ``get`` answers a missing key by raising and catching ``KeyError``;
``pop`` reads the parameters about ten times for each element. Each ``title_detail``,
``summary_detail`` and ``content`` entry is then made with ``copy.deepcopy``, which for a
``dict`` subclass goes through ``__reduce_ex__`` and sets the keys one by one. Together that
is about a fifth of the time feedparser spends on a typical item.

None of those parameter names has an alias, so plain ``dict`` access answers exactly as
``FeedParserDict`` does. :func:`install` makes feedparser keep the parameters in
:class:`ContentParams`: a ``FeedParserDict`` whose item access is ``dict``'s, and whose deep
copy is the plain ``FeedParserDict`` a stock deep copy makes. Nothing else changes, and nothing
of this class reaches a parse result: ``tests/test_feedparser_tuning.py`` parses every recorded
feed with and without it and compares the results object for object, type included.

:func:`install` refuses (and feedparser runs as shipped) when a feedparser release changes what
this relies on: ``_FeedParserMixin.push_content``, or an alias for one of the parameter names.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import feedparser.mixin
from feedparser.util import FeedParserDict

__all__ = ["PARAMETER_KEYS", "ContentParams", "install", "installed", "uninstall"]

# Every key feedparser 6.0 reads or writes in ``contentparams``.
PARAMETER_KEYS = frozenset({"type", "language", "base", "base64", "mode", "src", "value"})
# Keys FeedParserDict.__getitem__ answers specially before looking at its alias table.
_SPECIAL_KEYS = frozenset({"category", "enclosures", "license", "updated", "updated_parsed"})
_IMMUTABLE = (str, int, bool, float, type(None))

_stock_push_content: Callable[..., None] | None = None


class ContentParams(FeedParserDict):
    """The parameters of the content element being parsed: ``dict`` access, no aliases."""

    __getitem__ = dict.__getitem__
    __setitem__ = dict.__setitem__
    __contains__ = dict.__contains__
    get = dict.get

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        result = FeedParserDict(
            {
                key: value if type(value) in _IMMUTABLE else copy.deepcopy(value, memo)
                for key, value in self.items()
            }
        )
        memo[id(self)] = result
        return result


def _push_content(self: Any, *args: Any, **kwargs: Any) -> None:
    assert _stock_push_content is not None
    _stock_push_content(self, *args, **kwargs)
    self.contentparams = ContentParams(self.contentparams)


def _compatible() -> bool:
    mixin = getattr(feedparser.mixin, "_FeedParserMixin", None)
    keymap = getattr(FeedParserDict, "keymap", None)
    return (
        mixin is not None
        and callable(getattr(mixin, "push_content", None))
        and isinstance(keymap, dict)
        and not (PARAMETER_KEYS & (set(keymap) | _SPECIAL_KEYS))
    )


def installed() -> bool:
    return _stock_push_content is not None


def install() -> bool:
    """Use :class:`ContentParams` in feedparser's parsers; returns whether it is in use."""
    global _stock_push_content
    if _stock_push_content is None and _compatible():
        mixin = feedparser.mixin._FeedParserMixin
        _stock_push_content = mixin.push_content
        mixin.push_content = _push_content
    return installed()


def uninstall() -> None:
    """Back to feedparser as shipped."""
    global _stock_push_content
    if _stock_push_content is not None:
        feedparser.mixin._FeedParserMixin.push_content = _stock_push_content
        _stock_push_content = None
