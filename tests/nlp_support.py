"""Helpers for the model tests: a tiny random XLM-R classifier folder built locally."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

_CHARS = sorted(
    set(
        string.ascii_letters
        + string.digits
        + string.punctuation
        + "äöüßéèêàâçñóíúãõąęłńśźżćабвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    )
)
_WORDS = ("refund", "no", "the", "lawyer", "court", "again", "never", "danke", "нет")


def make_tiny_tokenizer() -> object:
    """An XLM-R style (SentencePiece unigram) fast tokenizer with a few hundred pieces."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -5.0) for c in _CHARS] + [("▁" + c, -5.5) for c in _CHARS]
    vocab += [("▁" + w, -4.0) for w in _WORDS] + [("<mask>", 0.0)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tokenizer_class = getattr(transformers, "XLMRobertaTokenizerFast", None) or (
        transformers.XLMRobertaTokenizer
    )
    return tokenizer_class(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        mask_token="<mask>",
    )


def make_tiny_model(folder: Path, labels: tuple[str, ...], seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide random XLM-R sequence classifier and its tokenizer."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    tokenizer = make_tiny_tokenizer()
    torch.manual_seed(seed)
    options: dict[str, Any] = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {name: i for i, name in enumerate(labels)},
    }
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        **options,
    )
    model = XLMRobertaForSequenceClassification(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder
