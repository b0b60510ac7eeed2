"""The real offline default model: built once from the packaged weights, then held to the
quality floor on the shipped held-out test split. Slow (a few minutes on 2 cores)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from monitor.nlp import build
from monitor.nlp.dataset import load_posts, split_posts
from monitor.nlp.engine import Classifier, ModelError, ModelSettings, load_classifier
from monitor.nlp.evaluate import evaluate_posts
from monitor.nlp.onnxrt import OnnxModel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

OVERALL_MACRO_F1 = 0.75
LANGUAGE_MACRO_F1 = 0.65
COMPLAINT_PR_AUC = 0.80
INT8_MAX_LOSS = 0.01


@pytest.fixture(scope="session")
def model_root() -> Path:
    """Data dir holding the built default model: the user's data dir, which the demo and the
    service use too, so one build serves the whole test run (GROUNDSWELL_TEST_MODEL_DIR overrides)."""
    explicit = os.environ.get("GROUNDSWELL_TEST_MODEL_DIR")
    root = Path(explicit) if explicit else build.data_dir()
    build.ensure_default_model(root)
    return root


@pytest.fixture(scope="session")
def default(model_root: Path) -> Classifier:
    return load_classifier(None, data_dir=model_root)


@pytest.fixture(scope="session")
def report(default: Classifier) -> dict:
    return evaluate_posts(default, split_posts(load_posts(), "test"))


def test_manifest_describes_the_build(model_root: Path, default: Classifier) -> None:
    manifest = build.verify_model(build.default_model_dir(model_root))
    assert manifest.model_id == default.model_id == build.DEFAULT_MODEL_ID
    assert default.model_version == manifest.version
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(manifest.files)
    assert manifest.training["examples"] == len(split_posts(load_posts(), "train")) + len(
        split_posts(load_posts(), "dev")
    )


def test_default_int8_path_is_onnx_and_within_a_point_of_fp32(
    model_root: Path, default: Classifier, report: dict
) -> None:
    assert isinstance(default.model, OnnxModel)
    fp32 = load_classifier(None, ModelSettings(quantize="none"), data_dir=model_root)
    full = evaluate_posts(fp32, split_posts(load_posts(), "test"))["overall"]["macro_f1"]
    assert report["overall"]["macro_f1"] >= full - INT8_MAX_LOSS, (report["overall"], full)


def test_quality_floor_on_held_out_split(report: dict) -> None:
    overall = report["overall"]
    assert overall["macro_f1"] >= OVERALL_MACRO_F1, overall
    assert overall["complaint_pr_auc"] >= COMPLAINT_PR_AUC, overall
    for lang in ("en", "de", "es", "pl", "ru"):
        assert report["languages"][lang]["macro_f1"] >= LANGUAGE_MACRO_F1, (lang, report)


@pytest.mark.parametrize(
    ("lang", "text", "sentiment"),
    [
        (
            "en",
            "Fourth day without internet and nobody answers the phone. Unacceptable.",
            "negative",
        ),
        ("de", "Vielen Dank an das Team, die Reparatur war schnell und perfekt!", "positive"),
        ("pl", "Od tygodnia czekam na zwrot pieniędzy, nikt nie odpowiada na maile.", "negative"),
        ("ru", "Компания объявила о выходе новой версии приложения в марте.", "neutral"),
    ],
)
def test_clear_cases(default: Classifier, lang: str, text: str, sentiment: str) -> None:
    [a] = default.classify([text])
    assert a.lang == lang
    assert a.sentiment == sentiment
    if sentiment == "negative":
        assert a.complaint > 0.5


def test_corrupted_copy_is_refused(model_root: Path, tmp_path: Path) -> None:
    copy = build.default_model_dir(tmp_path)
    shutil.copytree(build.default_model_dir(model_root), copy)
    with (copy / "config.json").open("a", encoding="utf-8") as fh:
        fh.write(" ")
    with pytest.raises(ModelError, match="rebuild it with"):
        load_classifier(None, data_dir=tmp_path, build_if_missing=False)
