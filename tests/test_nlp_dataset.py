"""The shipped labeled set and its fixed, leakage-free splits."""

from __future__ import annotations

from collections import Counter

import pytest

from monitor.nlp.cues import CUE_NAMES
from monitor.nlp.dataset import (
    LANGUAGES,
    SENTIMENTS,
    DatasetError,
    load_posts,
    parse_line,
    split_posts,
)
from monitor.nlp.metrics import average_precision, confusion_matrix, macro_f1


def test_size_languages_and_labels() -> None:
    posts = load_posts()
    assert len(posts) >= 1200
    counts = Counter(p.lang for p in posts)
    assert set(counts) == set(LANGUAGES) and min(counts.values()) >= 140
    assert {p.sentiment for p in posts} == set(SENTIMENTS)
    assert {c for p in posts for c in p.cues} == set(CUE_NAMES)
    assert len({(p.lang, p.text) for p in posts}) == len(posts)


def test_splits_partition_and_never_share_a_scenario() -> None:
    posts = load_posts()
    parts = {s: split_posts(posts, s) for s in ("train", "dev", "test")}
    assert sum(len(v) for v in parts.values()) == len(posts)
    groups = {s: {p.group for p in v} for s, v in parts.items()}
    assert not groups["test"] & groups["train"]
    assert not groups["test"] & groups["dev"]
    assert not groups["dev"] & groups["train"]
    test_langs = Counter(p.lang for p in parts["test"])
    assert set(test_langs) == set(LANGUAGES)
    assert 0.22 <= len(parts["test"]) / len(posts) <= 0.28
    # every language gets the same scenarios in the test split
    shared = {
        lang: {p.group for p in parts["test"] if p.lang == lang and p.group[0] == "s"}
        for lang in LANGUAGES
    }
    assert len({frozenset(v) for v in shared.values()}) == 1


def test_split_is_fixed() -> None:
    test = split_posts(load_posts(), "test")
    assert len(test) == 324  # 40 scenarios x 8 languages + 4 language-specific lines
    assert (
        sorted({p.group for p in test if p.group.startswith("s")})[:3]
        == sorted(
            {p.group for p in split_posts(load_posts(["en"]), "test") if p.group.startswith("s")}
        )[:3]
    )


@pytest.mark.parametrize("line", ["neg 1 -", "bad 1 -\ttext", "neg 2 -\ttext", "neg 1\ttext", ""])
def test_malformed_lines_are_rejected(line: str) -> None:
    with pytest.raises(DatasetError):
        parse_line(line, "en", 0, "x.txt")


def test_metrics() -> None:
    assert confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], 3) == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert macro_f1([0, 0, 1, 1], [0, 0, 1, 1], 3) == 1.0
    assert macro_f1([0, 1, 2, 2], [0, 2, 2, 1], 3) == pytest.approx((1 + 0 + 0.5) / 3)
    assert average_precision([True, False, True], [0.9, 0.8, 0.7]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([False, False], [0.1, 0.2]) == 0.0
