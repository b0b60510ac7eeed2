"""The labeled multilingual post set shipped with groundswell, and its fixed splits.

Each ``data/posts_<lang>.txt`` line is ``<sentiment> <complaint> <cues>\\t<text>`` where
sentiment is ``neg``/``neu``/``pos``, complaint is ``0``/``1`` and cues is a comma list or
``-``. The first :data:`SHARED_SCENARIOS` lines of every file describe the same scenario
written natively in each language (same situation, local brands, idioms and details); later
lines are unique to their language. Splits are drawn by *scenario*, so no rendering of a
test scenario, in any language, is ever seen in training; every language gets the same
share of test posts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

__all__ = [
    "LANGUAGES",
    "SENTIMENTS",
    "SHARED_SCENARIOS",
    "DatasetError",
    "LabeledPost",
    "load_posts",
    "split_posts",
]

SENTIMENTS: tuple[str, str, str] = ("negative", "neutral", "positive")
LANGUAGES: tuple[str, ...] = ("en", "de", "es", "pl", "ru", "fr", "it", "pt")
SHARED_SCENARIOS = 158
_SHORT = {"neg": "negative", "neu": "neutral", "pos": "positive"}
Split = Literal["train", "dev", "test", "all"]


class DatasetError(ValueError):
    """A line of the labeled set is malformed."""


@dataclass(frozen=True)
class LabeledPost:
    """One labeled post: text, language, sentiment, complaint flag, cues, scenario group."""

    text: str
    lang: str
    sentiment: str
    complaint: bool
    cues: tuple[str, ...]
    group: str

    @property
    def label(self) -> int:
        """Index of the sentiment in :data:`SENTIMENTS`."""
        return SENTIMENTS.index(self.sentiment)


def parse_line(line: str, lang: str, index: int, source: str = "<string>") -> LabeledPost:
    """Parse one ``<sentiment> <complaint> <cues>\\t<text>`` line."""
    head, sep, text = line.rstrip("\n").partition("\t")
    parts = head.split(" ")
    if not sep or len(parts) != 3 or parts[0] not in _SHORT or parts[1] not in {"0", "1"}:
        raise DatasetError(
            f"{source}:{index + 1}: expected '<neg|neu|pos> <0|1> <cues|->\\t<text>', got {line!r}"
        )
    cues = () if parts[2] == "-" else tuple(parts[2].split(","))
    group = f"s{index}" if index < SHARED_SCENARIOS else f"{lang}{index}"
    return LabeledPost(
        text=text.strip(),
        lang=lang,
        sentiment=_SHORT[parts[0]],
        complaint=parts[1] == "1",
        cues=cues,
        group=group,
    )


def load_posts(languages: Iterable[str] = LANGUAGES) -> list[LabeledPost]:
    """Load every shipped labeled post for ``languages`` (in file order)."""
    posts: list[LabeledPost] = []
    root = resources.files("monitor.nlp") / "data"
    for lang in languages:
        name = f"posts_{lang}.txt"
        text = (root / name).read_text(encoding="utf-8")
        for i, line in enumerate(text.splitlines()):
            if line.strip():
                posts.append(parse_line(line, lang, i, name))
    return posts


def _rank(group: str) -> str:
    return hashlib.sha256(f"groundswell-split-v1:{group}".encode()).hexdigest()


def split_posts(
    posts: Sequence[LabeledPost], split: Split, *, test_share: float = 0.25, dev_share: float = 0.15
) -> list[LabeledPost]:
    """Return the fixed ``train``/``dev``/``test`` part of ``posts`` (or ``all``).

    Scenario groups are ordered by a keyed hash; the first ``test_share`` of them is the
    held-out test split, the next ``dev_share`` is the tuning split, the rest trains.
    ``train`` excludes ``dev``; the shipped model is trained on train + dev.
    """
    if split == "all":
        return list(posts)
    # Shared scenarios are ranked once for all languages, so each scenario lands in the same
    # split in every language; language-specific lines are placed by their hash quantile.
    shared = sorted({p.group for p in posts if p.group.startswith("s")}, key=_rank)
    n_test = round(len(shared) * test_share)
    n_dev = round(len(shared) * dev_share)
    assignment: dict[str, str] = {}
    for i, g in enumerate(shared):
        assignment[g] = "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
    for p in posts:
        if p.group not in assignment:
            u = int(_rank(p.group)[:8], 16) / 0xFFFFFFFF
            assignment[p.group] = (
                "test" if u < test_share else "dev" if u < test_share + dev_share else "train"
            )
    return [p for p in posts if assignment[p.group] == split]
