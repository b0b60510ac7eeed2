"""Sentiment engine throughput against the naive transformers pipeline, same model, same run.

2,000 realistic multilingual posts are drawn (fixed seed) from the shipped labeled set, a
third of them joined with a second post so lengths vary like real mentions (truncated to
``--max-length`` tokens, 64 by default). The baseline is ``transformers.pipeline`` called one
text at a time on the full-precision model (timed on ``--baseline-posts`` posts and reported
per post). The engine is the product's default path, ``load_classifier()`` with default
settings apart from max length and threads: int8 on ONNX Runtime, classifying all posts end to
end (HTML cleanup, language detection, tokenisation, length-sorted dynamically padded batches,
cues and risk). The one-time ONNX export is done beforehand in a child process, as a first
``load_classifier()`` would, so the engine's peak RSS is that of a warm start. For comparison
the same run measures PyTorch's dynamic int8 path and full precision, and scores the held-out
test split with each path.

Usage: python benchmarks/bench_sentiment.py [--model FOLDER] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, replace
from itertools import pairwise

from monitor.nlp.dataset import SENTIMENTS, load_posts, split_posts
from monitor.nlp.engine import Classifier, ModelSettings, load_classifier
from monitor.nlp.metrics import macro_f1


def _posts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    texts = [p.text for p in load_posts()]
    out = []
    for _ in range(n):
        text = rng.choice(texts)
        if rng.random() < 1 / 3:
            text = f"{text} {rng.choice(texts)}"
        out.append(text)
    return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _macro_f1(clf: Classifier) -> float:
    test = split_posts(load_posts(), "test")
    got = clf.classify([p.text for p in test], [p.lang for p in test])
    return macro_f1([p.label for p in test], [SENTIMENTS.index(a.sentiment) for a in got], 3)


def _end_to_end(clf: Classifier, texts: list[str]) -> tuple[float, list[float]]:
    """posts/s over ``texts`` and the per-batch latencies in ms."""
    clf.classify(texts[:64])  # warm-up: language model, kernels
    stamps = [time.perf_counter()]
    started = stamps[0]
    results = clf.classify(texts, progress=lambda _n: stamps.append(time.perf_counter()))
    elapsed = time.perf_counter() - started
    if len(results) != len(texts):
        raise SystemExit("engine returned the wrong number of results")
    # the first interval also holds the up-front tokenisation of every post; skip it
    return len(texts) / elapsed, sorted((b - a) * 1000 for a, b in pairwise(stamps[1:]))


def _prepare(model: str | None, settings: ModelSettings) -> tuple[float, bool]:
    """Load once in a child process, which exports the ONNX file when it is not cached yet;
    seconds taken and whether an export happened."""
    code = (
        "import sys, json\n"
        "from monitor.nlp.engine import ModelSettings, load_classifier\n"
        "settings = ModelSettings(**json.loads(sys.argv[2]))\n"
        "load_classifier(sys.argv[1] or None, settings, progress=print)\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, model or "", json.dumps(asdict(settings))],
        check=True,
        timeout=1800,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started, "exporting the model" in done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: built default)")
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--baseline-posts", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    texts = _posts(args.posts)
    settings = ModelSettings(
        batch_size=args.batch_size, max_length=args.max_length, threads=args.threads
    )
    if settings.resolved_runtime() != "onnxruntime":
        raise SystemExit("onnxruntime is not installed: the default int8 path is not available")
    prepare_s, exported = _prepare(args.model, settings)
    load_before = os.getloadavg()[0]

    started = time.perf_counter()
    engine = load_classifier(args.model, settings)  # the product path: defaults
    load_s = time.perf_counter() - started
    lengths = [
        len(x)
        for x in engine.tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]
    ]
    engine_rate, batch_ms = _end_to_end(engine, texts)
    load_engine = os.getloadavg()[0]
    engine_rss = _rss_mb()
    ort_f1 = _macro_f1(engine)
    del engine

    import torch
    from transformers import pipeline

    torch.set_num_threads(args.threads)
    torch_int8 = load_classifier(args.model, replace(settings, runtime="torch"))
    torch_int8_rate, _ = _end_to_end(torch_int8, texts)
    torch_int8_f1 = _macro_f1(torch_int8)
    del torch_int8

    fp32 = load_classifier(args.model, replace(settings, quantize="none", runtime="torch"))
    fp32_rate, _ = _end_to_end(fp32, texts)
    fp32_f1 = _macro_f1(fp32)

    naive = pipeline(
        "text-classification",
        model=fp32.model,
        tokenizer=fp32.tokenizer,
        device=-1,
        truncation=True,
        max_length=args.max_length,
    )
    sample = texts[: args.baseline_posts]
    naive(sample[:5])
    started = time.perf_counter()
    for text in sample:
        naive(text)
    naive_rate = len(sample) / (time.perf_counter() - started)
    load_after = os.getloadavg()[0]

    p50 = statistics.median(batch_ms)
    p95 = batch_ms[min(len(batch_ms) - 1, int(0.95 * len(batch_ms)))]
    print(f"posts: {len(texts)}, tokens mean {statistics.mean(lengths):.1f} max {max(lengths)}")
    print(f"model: {fp32.model_id} {fp32.model_version}")
    print(
        f"1-min load average: {load_before:.2f} before, {load_engine:.2f} after the engine, "
        f"{load_after:.2f} after the baseline (2 cores; other jobs raise it)"
    )
    what = "ONNX export + load" if exported else "load (ONNX file already cached)"
    print(f"child process {what} {prepare_s:.1f} s; engine load {load_s:.1f} s")
    print(f"baseline pipeline one at a time (fp32): {naive_rate:.1f} posts/s")
    print(f"engine fp32 (PyTorch) end to end: {fp32_rate:.1f} posts/s")
    print(f"engine int8 (PyTorch dynamic) end to end: {torch_int8_rate:.1f} posts/s")
    print(f"engine int8 (ONNX Runtime, default) end to end: {engine_rate:.1f} posts/s")
    print(f"batch latency p50 {p50:.1f} ms")
    print(f"batch latency p95 {p95:.1f} ms")
    print(f"peak RSS (engine) {engine_rss:.0f} MB")
    print(f"test macro-F1 fp32 {fp32_f1:.4f}")
    print(f"test macro-F1 int8 PyTorch {torch_int8_f1:.4f} ({torch_int8_f1 - fp32_f1:+.4f})")
    print(f"test macro-F1 int8 ONNX Runtime {ort_f1:.4f} ({ort_f1 - fp32_f1:+.4f})")
    print(f"speed-up vs baseline {engine_rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()
