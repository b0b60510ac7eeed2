"""Classification metrics used by ``groundswell model evaluate`` (no third-party deps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Scores", "average_precision", "confusion_matrix", "macro_f1", "score"]


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n: int) -> list[list[int]]:
    """Rows are true labels, columns predicted labels."""
    m = [[0] * n for _ in range(n)]
    for t, p in zip(y_true, y_pred, strict=True):
        m[t][p] += 1
    return m


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n: int) -> float:
    """Unweighted mean of per-class F1 over classes present in truth or prediction."""
    cm = confusion_matrix(y_true, y_pred, n)
    f1s = []
    for k in range(n):
        tp = cm[k][k]
        fp = sum(cm[r][k] for r in range(n)) - tp
        fn = sum(cm[k]) - tp
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 0.0


def average_precision(y_true: Sequence[bool], scores: Sequence[float]) -> float:
    """Area under the precision-recall curve (step-wise average precision)."""
    positives = sum(1 for y in y_true if y)
    if positives == 0:
        return 0.0
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    tp = 0
    ap = 0.0
    for rank, i in enumerate(order, start=1):
        if y_true[i]:
            tp += 1
            ap += tp / rank
    return ap / positives


@dataclass(frozen=True)
class Scores:
    """Summary of one evaluation slice."""

    n: int
    accuracy: float
    macro_f1: float
    complaint_pr_auc: float
    confusion: tuple[tuple[int, ...], ...]


def score(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    complaint_true: Sequence[bool],
    complaint_prob: Sequence[float],
    n_labels: int = 3,
) -> Scores:
    """Accuracy, macro-F1, complaint PR-AUC and confusion matrix for one slice."""
    n = len(y_true)
    acc = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p) / n if n else 0.0
    cm = confusion_matrix(y_true, y_pred, n_labels)
    return Scores(
        n=n,
        accuracy=acc,
        macro_f1=macro_f1(y_true, y_pred, n_labels),
        complaint_pr_auc=average_precision(complaint_true, complaint_prob),
        confusion=tuple(tuple(r) for r in cm),
    )
