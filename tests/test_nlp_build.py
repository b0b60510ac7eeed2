"""Packaged-encoder parsing, data dir resolution and manifest verification."""

from __future__ import annotations

import json
import struct
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from monitor.nlp import build
from monitor.nlp.convert import ConversionError, _state_dict, read_e5_image
from monitor.nlp.engine import ModelError, load_classifier


def _q4_blocks(values: np.ndarray) -> bytes:
    """Encode values (multiple of 32, each already scale * (q - 8)) as Q4_0 blocks."""
    out = bytearray()
    for block in values.reshape(-1, 32):
        scale = np.float16(max(abs(block).max() / 7, 1e-3))
        q = np.clip(np.round(block / np.float32(scale)) + 8, 0, 15).astype(np.uint8)
        out += scale.tobytes() + bytes((q[:16] | (q[16:] << 4)).tolist())
    return bytes(out)


def _image(path: Path, hidden: int = 32, layers: int = 1, ffn: int = 64) -> dict[str, np.ndarray]:
    """Write a tiny E5S1 image with known tensors; return the (quantised) expectations."""
    rng = np.random.default_rng(0)
    vocab, maxp, tvs = 8, 6, 2
    pieces = [b"<s>", b"<pad>", b"</s>", b"<unk>", b"a", b"b", b"\xe2\x96\x81c", b"<mask>"]
    header = b"E5S1" + struct.pack("<I", 1)
    header += struct.pack("<7i", hidden, layers, 2, ffn, vocab, maxp, tvs)
    header += struct.pack("<fi", 1e-12, 32)
    header += struct.pack("<5i", len(pieces), 0, 2, 1, 3)
    blob = b"".join(pieces)
    offs = np.cumsum([0] + [len(p) for p in pieces]).astype("<u4")
    header += struct.pack("<Q", len(blob)) + offs.tobytes()
    header += np.zeros(len(pieces), "<f4").tobytes() + blob
    header += struct.pack("<iI", 0, 0)
    specs: list[tuple[str, tuple[int, ...], bool]] = [
        ("emb.word", (vocab, hidden), True),
        ("emb.pos", (maxp, hidden), False),
        ("emb.type", (tvs, hidden), False),
        ("emb.ln.w", (hidden,), False),
        ("emb.ln.b", (hidden,), False),
    ]
    for i in range(layers):
        for short, shape in (
            ("q", (hidden, hidden)),
            ("k", (hidden, hidden)),
            ("v", (hidden, hidden)),
            ("ao", (hidden, hidden)),
            ("fi", (ffn, hidden)),
            ("fo", (hidden, ffn)),
        ):
            specs += [(f"l{i}.{short}.w", shape, True), (f"l{i}.{short}.b", (shape[0],), False)]
        specs += [(f"l{i}.{n}", (hidden,), False) for n in ("aln.w", "aln.b", "oln.w", "oln.b")]
    expected: dict[str, np.ndarray] = {}
    payloads: list[bytes] = []
    for name, dims, quant in specs:
        values = rng.normal(size=dims).astype(np.float32)
        if quant:
            raw = _q4_blocks(values.reshape(-1))
            blocks = np.frombuffer(raw, np.uint8).reshape(-1, 18)
            scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
            lo = (blocks[:, 2:] & 15).astype(np.float32) - 8
            hi = (blocks[:, 2:] >> 4).astype(np.float32) - 8
            expected[name] = (np.concatenate([lo, hi], 1) * scale).reshape(-1)
        else:
            raw = values.tobytes()
            expected[name] = values.reshape(-1)
        payloads.append(raw)
    directory = struct.pack("<i", len(specs))
    entry_sizes = sum(2 + len(n) + 1 + 4 + 16 for n, _s, _q in specs)
    offset = len(header) + len(directory) + entry_sizes
    entries = b""
    for (name, dims, quant), raw in zip(specs, payloads, strict=True):
        n = int(np.prod(dims))
        entries += struct.pack("<H", len(name)) + name.encode() + bytes([1 if quant else 0])
        entries += struct.pack("<I", n) + struct.pack("<QQ", offset, len(raw))
        offset += len(raw)
    path.write_bytes(header + directory + entries + b"".join(payloads))
    return expected


def test_read_packed_image_dequantises_exactly(tmp_path: Path) -> None:
    path = tmp_path / "tiny.bin"
    expected = _image(path)
    image = read_e5_image(path)
    assert (image.hidden, image.layers, image.vocab_size, image.max_positions) == (32, 1, 8, 6)
    assert image.pieces[6] == "▁c"
    for name, values in expected.items():
        np.testing.assert_allclose(image.tensors[name], values, rtol=0, atol=1e-6)
    state = _state_dict(image)
    pos = state["embeddings.position_embeddings.weight"]
    assert pos.shape == (8, 32) and not pos[:2].any()  # XLM-R offsets positions by 2
    assert state["encoder.layer.0.intermediate.dense.weight"].shape == (64, 32)


def test_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ConversionError):
        read_e5_image(bad)


def test_data_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GROUNDSWELL_DATA_DIR", str(tmp_path / "explicit"))
    assert build.data_dir() == tmp_path / "explicit"
    monkeypatch.delenv("GROUNDSWELL_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert build.data_dir() == tmp_path / "xdg" / "groundswell"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert build.data_dir() == tmp_path / "home" / ".local" / "share" / "groundswell"


def _fake_install(root: Path) -> Path:
    folder = build.default_model_dir(root)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights" * 100)
    files = {p.name: build._sha256(p) for p in folder.iterdir()}
    manifest = build.Manifest(
        model_id="m",
        version="1.x",
        built_at="2026-01-01T00:00:00Z",
        build_seconds=1.0,
        sources={},
        training={},
        dataset_sha256="0",
        files=files,
    )
    (folder / build.MANIFEST).write_text(json.dumps(asdict(manifest)))
    return folder


def test_manifest_verifies_and_detects_corruption(tmp_path: Path) -> None:
    folder = _fake_install(tmp_path)
    assert build.verify_model(folder).version == "1.x"
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"corrupted.*groundswell model build --force"):
        build.verify_model(folder)
    weights.unlink()
    with pytest.raises(ModelError, match="missing"):
        build.verify_model(folder)
    (folder / build.MANIFEST).write_text("{broken")
    with pytest.raises(ModelError, match="not a valid manifest"):
        build.verify_model(folder)


def test_corrupted_default_is_not_loaded_or_rebuilt_silently(tmp_path: Path) -> None:
    folder = _fake_install(tmp_path)
    (folder / "config.json").write_text('{"tampered": true}')
    with pytest.raises(ModelError, match="corrupted"):
        load_classifier(None, data_dir=tmp_path)


def test_missing_default_without_build_permission(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="groundswell model build"):
        build.ensure_default_model(tmp_path, build_if_missing=False)


def test_fine_tune_keeps_only_the_first_encoder_layers(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    from monitor.nlp.train import Example, TrainSettings, fine_tune
    from tests.nlp_support import make_tiny_model

    base = make_tiny_model(tmp_path / "base", ("a", "b"))  # two encoder layers
    examples = [Example("refund never again", 0, True), Example("danke", 2, False)] * 4
    settings = TrainSettings(
        epochs=1, batch_size=4, encoder_layers=1, trainable_layers=0, threads=1
    )
    out = fine_tune(base, examples, tmp_path / "cut", settings)

    saved = load_file(str(out / "model.safetensors"))
    layers = {k.split(".")[3] for k in saved if ".encoder.layer." in k}
    assert layers == {"0"}
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.num_hidden_layers == 1 and len(model.base_model.encoder.layer) == 1
    original = load_file(str(base / "model.safetensors"))
    for name, value in saved.items():
        if ".encoder.layer.0." in name:  # frozen: carried over unchanged
            assert torch.equal(value, original[name]), name
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive", 3: "complaint"}


def test_fine_tune_rejects_an_empty_encoder(tmp_path: Path) -> None:
    from monitor.nlp.train import Example, TrainSettings, fine_tune
    from tests.nlp_support import make_tiny_model

    base = make_tiny_model(tmp_path / "base", ("a", "b"))
    with pytest.raises(ValueError, match="encoder_layers"):
        fine_tune(base, [Example("x", 0, False)], tmp_path / "out", TrainSettings(encoder_layers=0))
