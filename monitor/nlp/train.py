"""Fine-tune a transformers encoder into groundswell's sentiment + complaint classifier.

The trained model is a standard ``XLMRobertaForSequenceClassification`` (or whatever
``AutoModelForSequenceClassification`` resolves for the base) with four outputs: the
softmax over ``negative``/``neutral``/``positive`` and an independent sigmoid ``complaint``
logit. It saves and loads with ``save_pretrained`` / ``from_pretrained`` like any other.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.nlp.dataset import SENTIMENTS

__all__ = ["COMPLAINT_LABEL", "ENCODER_LAYERS", "Example", "TrainSettings", "fine_tune"]

COMPLAINT_LABEL = "complaint"
# How many of the base encoder's layers the classifier keeps (the first ones; the rest are
# dropped before training, as DistilBERT-style students do). Inference time is roughly
# proportional to the layer count. Chosen on the dev split (docs/model-card.md); ``None``
# keeps every layer.
ENCODER_LAYERS: int | None = 6


@dataclass(frozen=True)
class Example:
    """One training example."""

    text: str
    label: int  # index into SENTIMENTS
    complaint: bool


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of :func:`fine_tune` (chosen on the dev split, never on test).

    The encoder is first cut to its first ``encoder_layers`` layers (``None``: all of them).
    Only the top ``trainable_layers`` of those and the head are trained. The frozen
    lower layers run once per example and their output is cached, so an epoch costs a
    fraction of a full forward/backward pass: this is what makes ``groundswell model build``
    finish in minutes on a 2-core CPU.
    """

    epochs: int = 8
    learning_rate: float = 1e-4
    batch_size: int = 16
    max_length: int = 96
    warmup: float = 0.1
    weight_decay: float = 0.01
    complaint_weight: float = 1.0
    encoder_layers: int | None = ENCODER_LAYERS
    trainable_layers: int = 4
    seed: int = 13
    threads: int | None = None


def fine_tune(
    base: Path,
    examples: Sequence[Example],
    out_dir: Path,
    settings: TrainSettings = TrainSettings(),
    *,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Train a four-output head (and the encoder) on ``examples``; save to ``out_dir``."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not examples:
        raise ValueError("fine_tune needs at least one example")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    labels = [*SENTIMENTS, COMPLAINT_LABEL]
    from transformers.utils import logging as hf_logging

    tokenizer = AutoTokenizer.from_pretrained(base)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the new head is expected to be "newly initialized"
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
            ignore_mismatched_sizes=True,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    encoder = model.base_model
    if settings.encoder_layers is not None and settings.encoder_layers < 1:
        raise ValueError(f"encoder_layers must be >= 1, got {settings.encoder_layers}")
    if settings.encoder_layers is not None and settings.encoder_layers < len(encoder.encoder.layer):
        # keep the first layers; the saved config and weights describe the shorter encoder
        encoder.encoder.layer = encoder.encoder.layer[: settings.encoder_layers]
        model.config.num_hidden_layers = settings.encoder_layers
    layers = encoder.encoder.layer
    n_layers = len(layers)
    k = n_layers - max(0, min(settings.trainable_layers, n_layers))
    for p in model.parameters():
        p.requires_grad_(False)
    for module in [*layers[k:], model.classifier]:
        for p in module.parameters():
            p.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    started = time.monotonic()
    cached = _frozen_states(model, tokenizer, examples, k, settings)
    if progress:
        progress(
            f"cached layer-{k} states for {len(examples)} examples "
            f"({time.monotonic() - started:.0f} s)"
        )
    per_epoch = (len(examples) + settings.batch_size - 1) // settings.batch_size
    total = max(1, per_epoch * settings.epochs)
    warm = max(1, int(total * settings.warmup))

    def schedule(step: int) -> float:
        return min(1.0, (step + 1) / warm) * max(0.0, (total - step) / total)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    order = list(range(len(examples)))
    model.train()
    for epoch in range(settings.epochs):
        rng.shuffle(order)
        running = 0.0
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            width = max(cached[i].shape[0] for i in batch)
            hidden = torch.zeros((len(batch), width, cached[0].shape[1]))
            keep = torch.zeros((len(batch), width))
            for row, i in enumerate(batch):
                hidden[row, : cached[i].shape[0]] = cached[i]
                keep[row, : cached[i].shape[0]] = 1.0
            mask = (1.0 - keep)[:, None, None, :] * torch.finfo(hidden.dtype).min
            for layer in layers[k:]:
                hidden = layer(hidden, attention_mask=mask)
            logits = model.classifier(hidden)
            sentiment = torch.tensor([examples[i].label for i in batch])
            complaint = torch.tensor([float(examples[i].complaint) for i in batch])
            loss = torch.nn.functional.cross_entropy(logits[:, :3], sentiment)
            loss = loss + settings.complaint_weight * (
                torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 3], complaint)
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running += loss.item() * len(batch)
        if progress:
            progress(
                f"epoch {epoch + 1}/{settings.epochs}: loss {running / len(order):.3f} "
                f"({time.monotonic() - started:.0f} s)"
            )
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _frozen_states(
    model: Any, tokenizer: Any, examples: Sequence[Example], k: int, settings: TrainSettings
) -> list[Any]:
    """Hidden states after the first ``k`` (frozen) layers, one unpadded tensor per example."""
    import torch

    texts = [e.text for e in examples]
    ids = tokenizer(texts, truncation=True, max_length=settings.max_length)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    out: list[Any] = [None] * len(texts)
    pad = tokenizer.pad_token_id or 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), 32):
            chunk = order[start : start + 32]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            states = model.base_model(
                input_ids=input_ids, attention_mask=mask, output_hidden_states=True
            ).hidden_states[k]
            for row, i in enumerate(chunk):
                out[i] = states[row, : len(ids[i])].clone()
    return out
