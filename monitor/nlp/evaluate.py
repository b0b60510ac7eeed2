"""Score a classifier on labeled posts: overall, per language, cues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.nlp.cues import CUE_NAMES
from monitor.nlp.dataset import SENTIMENTS, LabeledPost
from monitor.nlp.metrics import score

__all__ = ["evaluate_posts", "format_report"]


def _slice(
    idx: Sequence[int], posts: Sequence[LabeledPost], preds: Sequence[Any]
) -> dict[str, Any]:
    s = score(
        [posts[i].label for i in idx],
        [SENTIMENTS.index(preds[i].sentiment) for i in idx],
        [posts[i].complaint for i in idx],
        [preds[i].complaint for i in idx],
    )
    return {
        "n": s.n,
        "accuracy": round(s.accuracy, 4),
        "macro_f1": round(s.macro_f1, 4),
        "complaint_pr_auc": round(s.complaint_pr_auc, 4),
        "confusion": [list(r) for r in s.confusion],
    }


def evaluate_posts(classifier: Any, posts: Sequence[LabeledPost]) -> dict[str, Any]:
    """Run ``classifier`` over ``posts`` (language hints given) and score it."""
    preds = classifier.classify([p.text for p in posts], [p.lang for p in posts])
    everything = list(range(len(posts)))
    langs = sorted({p.lang for p in posts})
    per_lang = {
        lang: _slice([i for i in everything if posts[i].lang == lang], posts, preds)
        for lang in langs
    }
    cues: dict[str, dict[str, float]] = {}
    for name in CUE_NAMES:
        tp = fp = fn = 0
        for p, a in zip(posts, preds, strict=True):
            got = name in a.cue_names
            want = name in p.cues
            tp += got and want
            fp += got and not want
            fn += want and not got
        cues[name] = {
            "precision": round(tp / (tp + fp), 3) if tp + fp else 0.0,
            "recall": round(tp / (tp + fn), 3) if tp + fn else 0.0,
            "support": tp + fn,
        }
    return {
        "model_id": classifier.model_id,
        "model_version": classifier.model_version,
        "overall": _slice(everything, posts, preds),
        "languages": per_lang,
        "cues": cues,
    }


def _table(rows: Sequence[Sequence[Any]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows
    )


def format_report(report: dict[str, Any]) -> str:
    """Human-readable report of :func:`evaluate_posts` output."""
    lines = [f"model {report['model_id']} {report['model_version']}, split {report['split']}"]

    def block(title: str, part: dict[str, Any]) -> None:
        rows: list[list[Any]] = [["slice", "n", "accuracy", "macro-F1", "complaint PR-AUC"]]
        o = part["overall"]
        rows.append(["all", o["n"], o["accuracy"], o["macro_f1"], o["complaint_pr_auc"]])
        for lang, r in part["languages"].items():
            rows.append([lang, r["n"], r["accuracy"], r["macro_f1"], r["complaint_pr_auc"]])
        lines.extend(["", title, _table(rows), "", "confusion (rows true, columns predicted):"])
        cm = [["", *SENTIMENTS]] + [[s, *o["confusion"][i]] for i, s in enumerate(SENTIMENTS)]
        lines.append(_table(cm))
        cue_rows: list[list[Any]] = [["cue", "precision", "recall", "support"]]
        for name, c in part["cues"].items():
            cue_rows.append([name, c["precision"], c["recall"], c["support"]])
        lines.extend(["", _table(cue_rows)])

    block("shipped labeled set", report)
    if report.get("feedback"):
        block("reviewer corrections", report["feedback"])
    return "\n".join(lines)
