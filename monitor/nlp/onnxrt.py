"""ONNX Runtime inference path: export, fuse and quantise a transformers classifier once,
cache the result, and run it with ONNX Runtime.

The first load of a model on this path exports the PyTorch model to ONNX (TorchScript
exporter, dynamic batch and sequence axes), fuses attention into one operator with
``onnxruntime.transformers.optimizer`` when the architecture is BERT-like (minus the
fusions that measured slower, see ``_SLOWER_FUSIONS``), and, for
``quantize = "int8"``, quantises every MatMul and the embedding gathers with per-channel
int8 weights (``onnxruntime.quantization.quantize_dynamic``; activations are quantised per
batch at run time, 8-bit, asymmetric), except the first layer's feed-forward output. The file is cached under
``<data dir>/onnx/<key>/`` (the key covers the model version, the recipe below and the
package versions) with the sha256 of the ONNX file, which is checked on every load.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

__all__ = [
    "RECIPE",
    "OnnxModel",
    "available",
    "cache_key",
    "export_model",
    "load_onnx_model",
]

# Bump when the export, fusion or quantisation steps change: cached files are rebuilt.
RECIPE = "ort-3"
_MODEL_FILE = "model.onnx"
_META_FILE = "onnx.json"
_CHUNK = 1 << 20
# architectures whose encoder layers the BERT fusion rules recognise
_BERT_LIKE = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "distilbert"})
# Fusions that made this small encoder slower on the CPUs measured (docs/model-card.md):
# the fused SkipLayerNormalization kernel took ~4x as long as LayerNormalization + Add, and
# BiasGelu a little longer than Add + Gelu. Attention fusion (QAttention) is kept.
_SLOWER_FUSIONS = (
    "enable_skip_layer_norm",
    "enable_bias_skip_layer_norm",
    "enable_bias_gelu",
    "enable_gelu",
)
_SLOWER_SESSION_FUSIONS = ("SkipLayerNormFusion", "BiasGeluFusion")
# The first layer's feed-forward output projection stays in float: chosen by agreement with
# full precision on the train and dev posts (docs/model-card.md); one of 48 int8 products.
_KEEP_FLOAT_NODES = re.compile(r"/layer\.0/output/dense/MatMul$")


class OnnxError(RuntimeError):
    """The ONNX file could not be produced or does not match its record."""


def available() -> bool:
    """True when onnxruntime and onnx can be imported."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cache_key(source: str, model_version: str, quantize: str) -> str:
    """Cache folder name for ``source`` at ``model_version`` on this recipe and these
    package versions."""
    parts = [
        RECIPE,
        source,
        model_version,
        quantize,
        *(f"{m}={_version(m)}" for m in ("torch", "transformers", "onnx", "onnxruntime")),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class OnnxModel:
    """An ONNX Runtime session that answers like a sequence classifier: logits per row."""

    session: Any
    config: Any
    path: Path

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Logits (rows × labels, float32) for int64 ``input_ids`` and ``attention_mask``."""
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        out: np.ndarray = self.session.run(None, feeds)[0]
        return out


def export_model(load_torch: Callable[[], Any], dest: Path, quantize: str) -> None:
    """Write ``dest`` (an .onnx file) from the transformers sequence-classification model
    that ``load_torch()`` returns; the PyTorch model is released right after the export."""
    import gc

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = load_torch()
    config = model.config
    work = dest.parent
    raw = work / "exported.onnx"
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 5, 2, 1, 1]], dtype=torch.long)
    pad = config.pad_token_id if config.pad_token_id is not None else 1
    ids[1, 3:] = pad
    mask = (torch.arange(ids.shape[1]) < torch.tensor([[5], [3]])).long()
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript; the traced graph is checked against PyTorch by the tests
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask),
            str(raw),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    del model
    gc.collect()
    current = raw
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the optimizer and quantizer log advice at WARNING
    try:
        if config.model_type in _BERT_LIKE:
            from onnxruntime.transformers import optimizer
            from onnxruntime.transformers.fusion_options import FusionOptions

            options = FusionOptions("bert")
            for flag in _SLOWER_FUSIONS:
                setattr(options, flag, False)
            fused = optimizer.optimize_model(
                str(raw),
                model_type="bert",
                num_heads=int(config.num_attention_heads),
                hidden_size=int(config.hidden_size),
                optimization_options=options,
                opt_level=0,
            )
            current = work / "fused.onnx"
            fused.save_model_to_file(str(current))
            del fused
            gc.collect()
        if quantize == "int8":
            graph = onnx.load(str(current), load_external_data=False).graph
            keep = [n.name for n in graph.node if _KEEP_FLOAT_NODES.search(n.name)]
            del graph
            quantize_dynamic(
                str(current),
                str(dest),
                nodes_to_exclude=keep,
                per_channel=True,
                weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        else:
            shutil.copyfile(current, dest)
    finally:
        root.setLevel(level)


def _session(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    # spinning worker threads help an idle machine a little and hurt a shared one a lot
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(path),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(_SLOWER_SESSION_FUSIONS),
    )


def load_onnx_model(
    *,
    config: Any,
    key: str,
    cache_dir: Path,
    source: str,
    quantize: str,
    threads: int | None,
    load_torch: Callable[[], Any],
    progress: Callable[[str], None] | None = None,
) -> OnnxModel:
    """The cached ONNX model under ``cache_dir/key``, exported from ``load_torch()`` first
    when missing or when its file does not match the recorded sha256. ``source`` (a local
    folder's absolute path or a hub id) is recorded so that a new export replaces the
    previous one of the same source."""
    folder = cache_dir / key
    path = folder / _MODEL_FILE
    meta = folder / _META_FILE
    if _intact(path, meta):
        return OnnxModel(_session(path, threads), config, path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / f".{key}.lock")):
        if not _intact(path, meta):
            if progress:
                progress(f"exporting the model to ONNX Runtime ({quantize}) into {folder}")
            _export_into(folder, key, quantize, load_torch, source)
            _prune(cache_dir, keep=key, source=source, quantize=quantize)
    return OnnxModel(_session(path, threads), config, path)


def _intact(path: Path, meta: Path) -> bool:
    if not (path.is_file() and meta.is_file()):
        return False
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("sha256") == _sha256(path)


def _prune(cache_dir: Path, *, keep: str, source: str, quantize: str) -> None:
    """Remove cached exports of ``source`` at ``quantize`` other than ``keep`` (an older
    model version or recipe) and exports of local folders that no longer exist."""
    for meta in cache_dir.glob(f"*/{_META_FILE}"):
        folder = meta.parent
        if folder.name == keep:
            continue
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or not isinstance(record.get("source"), str):
            continue
        origin: str = record["source"]
        replaced = origin == source and record.get("quantize") == quantize
        if replaced or (origin.startswith("/") and not Path(origin).exists()):
            shutil.rmtree(folder, ignore_errors=True)
            (cache_dir / f".{folder.name}.lock").unlink(missing_ok=True)


def _export_into(
    folder: Path, key: str, quantize: str, load_torch: Callable[[], Any], source: str
) -> None:
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
    work.chmod(0o755)
    try:
        export_model(load_torch, work / _MODEL_FILE, quantize)
        for name in os.listdir(work):
            if name != _MODEL_FILE:
                (work / name).unlink()
        record = {
            "source": source,
            "recipe": RECIPE,
            "quantize": quantize,
            "sha256": _sha256(work / _MODEL_FILE),
        }
        (work / _META_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(work, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
