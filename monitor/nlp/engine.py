"""The classifier: a transformers sequence-classification model plus cues and risk.

``load_classifier()`` loads the offline default (built on first use, see
:mod:`monitor.nlp.build`), a local model folder, or a Hugging Face model id, always through
``AutoModelForSequenceClassification.from_pretrained``. Inference sorts texts by token
length, pads each batch only to its own longest text, truncates to ``max_length`` and runs
under ``torch.inference_mode``; by default Linear layers are quantised to int8 on the fly.
"""

from __future__ import annotations

import hashlib
import html
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.nlp.cues import CUE_WEIGHTS, Cue, CueMatcher
from monitor.nlp.dataset import SENTIMENTS
from monitor.nlp.langdetect import LanguageDetector

__all__ = [
    "DEFAULT_MODEL",
    "Assessment",
    "Classifier",
    "ModelError",
    "ModelSettings",
    "combine_complaint",
    "load_classifier",
    "normalize_text",
    "text_risk",
]

DEFAULT_MODEL = "default"
_QUANTIZE = ("int8", "none")
_RUNTIMES = ("auto", "onnxruntime", "torch")
_TAG = re.compile(r"<[^>]{0,300}>")
_SPACE = re.compile(r"\s+")
_STAR = re.compile(r"^([1-5])\s*stars?$")


class ModelError(RuntimeError):
    """The model could not be loaded, built or verified."""


@dataclass(frozen=True)
class ModelSettings:
    """The ``[model]`` table of the configuration."""

    name: str = DEFAULT_MODEL
    max_length: int = 128
    batch_size: int = 32
    quantize: str = "int8"
    threads: int | None = None
    runtime: str = "auto"

    def __post_init__(self) -> None:
        if self.quantize not in _QUANTIZE:
            raise ValueError(f"[model] quantize must be one of {_QUANTIZE}, got {self.quantize!r}")
        if self.runtime not in _RUNTIMES:
            raise ValueError(f"[model] runtime must be one of {_RUNTIMES}, got {self.runtime!r}")
        if not 8 <= self.max_length <= 512:
            raise ValueError(f"[model] max_length must be 8..512, got {self.max_length}")
        if self.batch_size < 1:
            raise ValueError(f"[model] batch_size must be >= 1, got {self.batch_size}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"[model] threads must be >= 1, got {self.threads}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ModelSettings:
        """Build from a raw TOML table; unknown keys and wrong types raise ValueError."""
        known = {"name", "max_length", "batch_size", "quantize", "threads", "runtime"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"[model] unknown keys {unknown}; allowed: {sorted(known)}")
        kwargs: dict[str, Any] = {}
        for key, kind in (("name", str), ("quantize", str), ("runtime", str)):
            if key in raw:
                if not isinstance(raw[key], kind):
                    raise ValueError(f"[model] {key} must be a string")
                kwargs[key] = raw[key]
        for key in ("max_length", "batch_size", "threads"):
            if key in raw:
                value = raw[key]
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"[model] {key} must be an integer")
                kwargs[key] = value
        return cls(**kwargs)

    def resolved_runtime(self) -> str:
        """``onnxruntime`` or ``torch``: ``auto`` runs int8 on ONNX Runtime (faster and closer
        to full precision than PyTorch's dynamic int8, see docs/model-card.md) when it is
        installed, and full precision on PyTorch."""
        if self.runtime != "auto":
            return self.runtime
        from monitor.nlp import onnxrt

        return "onnxruntime" if self.quantize == "int8" and onnxrt.available() else "torch"


@dataclass(frozen=True)
class Assessment:
    """What the model says about one text."""

    lang: str | None
    sentiment: str
    scores: Mapping[str, float]
    complaint: float
    cues: tuple[Cue, ...]
    risk: float
    model_id: str
    model_version: str

    @property
    def cue_names(self) -> list[str]:
        """Names of the cues, in text order."""
        return [c.name for c in self.cues]


def normalize_text(text: str) -> str:
    """Text as the model and the cue matcher see it: tags removed, entities decoded,
    whitespace collapsed. Cue offsets index into this string."""
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return _SPACE.sub(" ", text).strip()


def combine_complaint(model_complaint: float, p_negative: float, cues: Sequence[Cue]) -> float:
    """Complaint probability after the escalation cues: a negative post with a concrete cue
    (a refused refund, days without service, ...) is very likely a complaint even when the
    model hesitates."""
    if not cues:
        return model_complaint
    lift = min(0.6, 0.3 * len({c.name for c in cues})) * p_negative
    return 1.0 - (1.0 - model_complaint) * (1.0 - lift)


def text_risk(complaint: float, p_negative: float, cues: Sequence[Cue]) -> float:
    """Text-only risk in 0..1: a negative complaint, raised by each distinct cue."""
    base = complaint * (0.4 + 0.6 * p_negative)
    gate = max(complaint, p_negative)
    keep = 1.0 - base
    for name in {c.name for c in cues}:
        keep *= 1.0 - CUE_WEIGHTS.get(name, 0.1) * gate
    return round(min(1.0, max(0.0, 1.0 - keep)), 4)


def _label_map(id2label: Mapping[int, str]) -> tuple[dict[str, list[int]], int | None]:
    """Which output indices feed each sentiment, and the complaint index if any."""
    groups: dict[str, list[int]] = {s: [] for s in SENTIMENTS}
    complaint: int | None = None
    names = {int(i): str(n).strip().lower() for i, n in id2label.items()}
    aliases = {
        "negative": "negative",
        "neg": "negative",
        "neutral": "neutral",
        "neu": "neutral",
        "positive": "positive",
        "pos": "positive",
    }
    for i, name in sorted(names.items()):
        if name == "complaint":
            complaint = i
        elif name in aliases:
            groups[aliases[name]].append(i)
        elif m := _STAR.match(name):
            stars = int(m.group(1))
            groups["negative" if stars <= 2 else "neutral" if stars == 3 else "positive"].append(i)
    if not any(groups.values()):
        generic = sorted(i for i in names if i != complaint)
        if len(generic) == 3:  # LABEL_0..2, by convention negative, neutral, positive
            for s, i in zip(SENTIMENTS, generic, strict=True):
                groups[s].append(i)
        elif len(generic) == 2:
            groups["negative"].append(generic[0])
            groups["positive"].append(generic[1])
        else:
            raise ModelError(
                f"cannot map labels {sorted(names.values())} to negative/neutral/positive"
            )
    return groups, complaint


def _version_of(path: Path) -> str:
    manifest = path / "manifest.json"
    digest = hashlib.sha256()
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    else:
        for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
            st = f.stat()
            digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        digest.update(
            (path / "config.json").read_bytes() if (path / "config.json").exists() else b""
        )
    return digest.hexdigest()[:12]


@dataclass
class Classifier:
    """Sentiment + complaint model with cue matching and language detection."""

    model: Any
    tokenizer: Any
    model_id: str
    model_version: str
    settings: ModelSettings = field(default_factory=ModelSettings)
    detector: LanguageDetector | None = None
    cue_matcher: CueMatcher = field(default_factory=CueMatcher)

    def __post_init__(self) -> None:
        import numpy as np

        self._groups, self._complaint = _label_map(self.model.config.id2label)
        self._sentiment_idx = [i for s in SENTIMENTS for i in self._groups[s]]
        # column k of the softmax over _sentiment_idx feeds sentiment row[k]
        matrix = np.zeros((len(self._sentiment_idx), len(SENTIMENTS)))
        col = 0
        for k, s in enumerate(SENTIMENTS):
            for _ in self._groups[s]:
                matrix[col, k] = 1.0
                col += 1
        self._group_matrix = matrix

    @property
    def has_complaint_head(self) -> bool:
        """True when the model predicts complaints itself (the default model does)."""
        return self._complaint is not None

    def detect_language(self, text: str) -> str | None:
        """Detect the language of one (normalised) text."""
        if self.detector is None:
            self.detector = LanguageDetector()
        return self.detector.detect(text)

    def predict_raw(
        self,
        texts: Sequence[str],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[list[float]], list[float | None]]:
        """Sentiment probabilities (in SENTIMENTS order) and model complaint probability
        (None without a complaint head), in input order."""
        import numpy as np

        n = len(texts)
        probs: list[list[float]] = [[0.0, 1.0, 0.0]] * n
        complaint: list[float | None] = [None] * n
        if n == 0:
            return probs, complaint
        enc = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.settings.max_length,
            add_special_tokens=True,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        ids: list[list[int]] = enc["input_ids"]
        lengths = [len(x) for x in ids]
        order = sorted(range(n), key=lengths.__getitem__)
        pad = self.tokenizer.pad_token_id
        pad = 0 if pad is None else pad
        bs = self.settings.batch_size
        run = self._runner()
        for start in range(0, n, bs):
            chunk = order[start : start + bs]
            width = lengths[chunk[-1]]
            input_ids = np.full((len(chunk), width), pad, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                input_ids[row, : lengths[i]] = ids[i]
                mask[row, : lengths[i]] = 1
            self._collect(run(input_ids, mask), chunk, probs, complaint)
            if progress:
                progress(len(chunk))
        return probs, complaint

    def _runner(self) -> Callable[[Any, Any], Any]:
        """A function from int64 (ids, mask) arrays to float32 logits for this model."""
        from monitor.nlp.onnxrt import OnnxModel

        model = self.model
        if isinstance(model, OnnxModel):
            return model.logits
        import torch

        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)

        def run(input_ids: Any, mask: Any) -> Any:
            with torch.inference_mode():
                out = model(
                    input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(mask)
                )
                return out.logits.float().numpy()

        return run

    def _collect(
        self,
        logits: Any,
        chunk: Sequence[int],
        probs: list[list[float]],
        complaint: list[float | None],
    ) -> None:
        import numpy as np

        logits = np.asarray(logits, dtype=np.float64)
        sentiment = logits[:, self._sentiment_idx]
        soft = np.exp(sentiment - sentiment.max(axis=1, keepdims=True))
        soft /= soft.sum(axis=1, keepdims=True)
        summed = soft @ self._group_matrix
        rows = summed.tolist()
        comp = (
            (1.0 / (1.0 + np.exp(-logits[:, self._complaint]))).tolist()
            if self._complaint is not None
            else [None] * len(chunk)
        )
        for row, i in enumerate(chunk):
            probs[i] = rows[row]
            complaint[i] = comp[row]

    def _languages_and_cues(
        self, clean: Sequence[str], langs: Sequence[str | None] | None
    ) -> list[tuple[str | None, tuple[Cue, ...]]]:
        """Language (hint or detected) and escalation cues of each normalised text."""
        found: list[tuple[str | None, tuple[Cue, ...]]] = []
        for i, text in enumerate(clean):
            hint = langs[i] if langs is not None else None
            lang = hint.lower() if hint else (self.detect_language(text) if text else None)
            found.append((lang, self.cue_matcher.find(text, lang)))
        return found

    def classify(
        self,
        texts: Sequence[str],
        langs: Sequence[str | None] | None = None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> list[Assessment]:
        """Assess each text (any language, HTML and emoji allowed); order is preserved.

        ``langs`` gives ISO 639-1 hints per text; missing hints are detected. When there is
        more than one batch, the model runs in a worker thread while this thread detects
        languages and matches cues (ONNX Runtime and PyTorch release the GIL while they
        compute): on 2 cores this was 10-20 % faster end to end than one after the other.
        """
        if langs is not None and len(langs) != len(texts):
            raise ValueError("langs must have one entry per text")
        clean = [normalize_text(t) for t in texts]
        if len(clean) > self.settings.batch_size:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="groundswell-model") as pool:
                pending = pool.submit(self.predict_raw, clean, progress=progress)
                found = self._languages_and_cues(clean, langs)
                probs, model_complaint = pending.result()
        else:
            found = self._languages_and_cues(clean, langs)
            probs, model_complaint = self.predict_raw(clean, progress=progress)
        out: list[Assessment] = []
        for i, text in enumerate(clean):
            lang, cues = found[i]
            p = probs[i]
            scores = {s: round(p[k], 4) for k, s in enumerate(SENTIMENTS)}
            fix = 1.0 - sum(scores.values())
            scores[max(scores, key=lambda s: scores[s])] = round(
                scores[max(scores, key=lambda s: scores[s])] + fix, 4
            )
            p_neg = p[0]
            mc = model_complaint[i]
            if mc is None:
                mc = p_neg * (0.5 + 0.5 * min(1.0, float(len(cues))))
            comp = combine_complaint(mc, p_neg, cues) if text else 0.0
            sentiment = SENTIMENTS[max(range(3), key=lambda k: p[k])] if text else "neutral"
            out.append(
                Assessment(
                    lang=lang,
                    sentiment=sentiment,
                    scores=scores,
                    complaint=round(comp, 4),
                    cues=cues,
                    risk=text_risk(comp, p_neg, cues) if text else 0.0,
                    model_id=self.model_id,
                    model_version=self.model_version,
                )
            )
        return out


# The feed-forward output projections read post-GELU activations with large outliers; with
# per-tensor int8 activations they cost several points of macro-F1 on the dev split, so they
# stay in float. Everything else uses per-channel int8 weights.
_KEEP_FLOAT = re.compile(r"layer\.\d+\.output\.dense$")


def _quantize(model: Any) -> Any:
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig

    spec = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not _KEEP_FLOAT.search(name)
    }
    with warnings.catch_warnings():
        # quantize_dynamic is deprecated in favour of torchao, which is not installed here;
        # it still works and is the fastest CPU path measured (benchmarks/bench_sentiment.py).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        # in place: a copy would double peak memory while loading
        return torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


def load_model_folder(
    source: str | Path,
    settings: ModelSettings,
    *,
    model_id: str | None = None,
    model_version: str | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Classifier:
    """Load a sequence-classification model (local folder or hub id) into a Classifier.

    On the ONNX Runtime path (``settings.resolved_runtime()``) the exported model is cached
    under ``cache_dir`` (default: ``<data dir>/onnx``) and the PyTorch weights are only read
    when that cache has to be (re)built.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    runtime = settings.resolved_runtime()
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    def load_torch(**kwargs: Any) -> Any:
        try:
            loaded = AutoModelForSequenceClassification.from_pretrained(str(source), **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load model {str(source)!r}: {exc}") from exc
        return loaded.eval()

    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(source))
            config = AutoConfig.from_pretrained(str(source))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load model {str(source)!r}: {exc}") from exc
        path = Path(source)
        if model_version is None:
            if path.is_dir():
                model_version = _version_of(path)
            else:
                model_version = str(getattr(config, "_commit_hash", None) or "hub")
        model: Any
        if runtime == "onnxruntime":
            from monitor.nlp import onnxrt

            if cache_dir is None:
                from monitor.nlp.build import data_dir

                cache_dir = data_dir() / "onnx"
            ident = str(path.resolve()) if path.is_dir() else str(source)
            model = onnxrt.load_onnx_model(
                config=config,
                key=onnxrt.cache_key(ident, model_version, settings.quantize),
                cache_dir=cache_dir,
                source=ident,
                quantize=settings.quantize,
                threads=settings.threads,
                # eager attention traces into the pattern the attention fusion recognises
                load_torch=lambda: load_torch(attn_implementation="eager"),
                progress=progress,
            )
        else:
            model = load_torch()
            if settings.quantize == "int8":
                model = _quantize(model)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    return Classifier(
        model=model,
        tokenizer=tokenizer,
        model_id=model_id or (path.name if path.is_dir() else str(source)),
        model_version=model_version,
        settings=settings,
    )


def load_classifier(
    model: str | None = None,
    settings: ModelSettings | None = None,
    *,
    data_dir: Path | None = None,
    build_if_missing: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Classifier:
    """Load the classifier named by ``model`` (or ``settings.name``).

    ``None``/``"default"`` is the offline default model, built into the user data dir on
    first use (see ``groundswell model build``) and verified against its manifest; any
    other value is a local folder or a Hugging Face model id.
    """
    settings = settings or ModelSettings()
    name = model or settings.name or DEFAULT_MODEL
    if name == DEFAULT_MODEL:
        from monitor.nlp import build

        folder = build.ensure_default_model(
            data_dir, build_if_missing=build_if_missing, progress=progress
        )
        manifest = build.read_manifest(folder)
        return load_model_folder(
            folder,
            settings,
            model_id=manifest.model_id,
            model_version=manifest.version,
            cache_dir=(data_dir or build.data_dir()) / "onnx",
            progress=progress,
        )
    return load_model_folder(
        name,
        settings,
        cache_dir=data_dir / "onnx" if data_dir is not None else None,
        progress=progress,
    )
