"""The classifier engine on a tiny local model folder (never a hub id)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.nlp.engine import (
    Classifier,
    ModelError,
    ModelSettings,
    _label_map,
    load_classifier,
    load_model_folder,
    normalize_text,
    text_risk,
)
from monitor.nlp.onnxrt import OnnxModel
from tests.nlp_support import make_tiny_model

TEXTS = [
    "Third time I call and still no refund. I'm contacting my lawyer.",
    "ok",
    "Der Techniker war pünktlich und freundlich, danke!",
    "<p>Flight <b>cancelled</b> &amp; no refund</p> 😡😡",
    "",
    "Обслуживание ужасное, больше никогда не полечу с вами " * 3,
    "Lovely crew 👏",
    "混合 text with 日本語 and English and ÑANDÚ",
    "x" * 5000,
]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(
        tmp_path_factory.mktemp("tiny") / "model", ("negative", "neutral", "positive", "complaint")
    )


@pytest.fixture(scope="module")
def tiny(tiny_folder: Path) -> Classifier:
    return load_model_folder(tiny_folder, ModelSettings(quantize="none", batch_size=3))


def test_loads_local_folder_through_from_pretrained(tiny: Classifier, tiny_folder: Path) -> None:
    assert tiny.model_id == "model"
    assert len(tiny.model_version) == 12
    assert tiny.has_complaint_head
    again = load_classifier(str(tiny_folder), ModelSettings(quantize="none"))
    assert again.model_version == tiny.model_version


def test_batching_preserves_order(tiny: Classifier) -> None:
    together = tiny.classify(TEXTS, ["en"] * len(TEXTS))
    alone = [tiny.classify([t], ["en"])[0] for t in TEXTS]
    assert len(together) == len(TEXTS)
    for a, b in zip(together, alone, strict=True):
        assert a.sentiment == b.sentiment
        for label in ("negative", "neutral", "positive"):
            assert a.scores[label] == pytest.approx(b.scores[label], abs=2e-3)
        assert a.complaint == pytest.approx(b.complaint, abs=2e-3)


def test_scores_are_probabilities(tiny: Classifier) -> None:
    for a in tiny.classify(TEXTS):
        assert set(a.scores) == {"negative", "neutral", "positive"}
        assert sum(a.scores.values()) == pytest.approx(1.0, abs=1e-6)
        assert 0.0 <= a.complaint <= 1.0
        assert 0.0 <= a.risk <= 1.0
        assert a.sentiment in a.scores


def test_empty_text_is_neutral_with_no_risk(tiny: Classifier) -> None:
    [a] = tiny.classify([""])
    assert a.sentiment == "neutral"
    assert a.risk == 0.0
    assert a.lang is None
    assert a.cues == ()


def test_huge_input_is_truncated(tiny: Classifier) -> None:
    short = ModelSettings(quantize="none", max_length=16)
    clf = Classifier(tiny.model, tiny.tokenizer, "m", "v", short)
    [a] = clf.classify(["no refund " * 20000])
    assert a.cues and a.cues[0].name == "refund_refused"


def test_html_and_emoji_are_handled(tiny: Classifier) -> None:
    [a] = tiny.classify(
        ["<div>They <i>refused</i> my <b>refund</b> &amp; laughed 😡</div>"], ["en"]
    )
    assert [c.name for c in a.cues] == ["refund_refused"]
    assert a.cues[0].span == "refused my refund"


def test_language_hint_and_detection(tiny: Classifier) -> None:
    hinted, detected, german = tiny.classify(
        ["bonjour", "Ich warte seit drei Wochen auf meine Erstattung", "Das ist gut"],
        ["FR", None, "de"],
    )
    assert hinted.lang == "fr"
    assert detected.lang == "de"
    assert german.lang == "de"


def test_languages_and_cues_are_found_while_the_model_runs(tiny: Classifier) -> None:
    # more texts than batch_size (3): the model runs in a worker thread meanwhile
    together = tiny.classify(TEXTS)
    for text, a in zip(TEXTS, together, strict=True):
        [b] = tiny.classify([text])  # one batch: no worker thread
        assert (a.lang, a.cues, a.sentiment) == (b.lang, b.cues, b.sentiment)
        assert a.risk == pytest.approx(b.risk, abs=2e-3)
    assert together[0].lang == "en" and "repeat_contact" in together[0].cue_names
    assert together[2].lang == "de"


def test_model_errors_surface_from_the_worker_thread(tiny_folder: Path) -> None:
    clf = load_model_folder(tiny_folder, ModelSettings(quantize="none", batch_size=2))

    def broken(_ids: object, _mask: object) -> object:
        raise RuntimeError("model failed")

    clf._runner = lambda: broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="model failed"):
        clf.classify(TEXTS)


def test_langs_length_must_match(tiny: Classifier) -> None:
    with pytest.raises(ValueError):
        tiny.classify(["a", "b"], ["en"])


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_int8_quantized_path_agrees(
    tiny: Classifier, tiny_folder: Path, onnx_cache: Path, runtime: str
) -> None:
    settings = ModelSettings(quantize="int8", runtime=runtime, batch_size=3)
    quantized = load_model_folder(tiny_folder, settings, cache_dir=onnx_cache)
    assert isinstance(quantized.model, OnnxModel) == (runtime == "onnxruntime")
    full = tiny.classify(TEXTS)
    quant = quantized.classify(TEXTS)
    for a, b in zip(full, quant, strict=True):
        assert a.scores["negative"] == pytest.approx(b.scores["negative"], abs=0.05)
        assert a.complaint == pytest.approx(b.complaint, abs=0.05)


def test_int8_on_onnxruntime_is_the_default() -> None:
    assert ModelSettings().resolved_runtime() == "onnxruntime"
    assert ModelSettings(quantize="none").resolved_runtime() == "torch"
    assert ModelSettings(runtime="torch").resolved_runtime() == "torch"


def test_onnx_export_matches_pytorch_on_padded_batches(
    tiny: Classifier, tiny_folder: Path, onnx_cache: Path
) -> None:
    settings = ModelSettings(quantize="none", runtime="onnxruntime", batch_size=4)
    exported = load_model_folder(tiny_folder, settings, cache_dir=onnx_cache)
    assert isinstance(exported.model, OnnxModel)
    assert exported.model_version == tiny.model_version
    for a, b in zip(tiny.classify(TEXTS), exported.classify(TEXTS), strict=True):
        assert a.sentiment == b.sentiment
        for label in ("negative", "neutral", "positive"):
            assert a.scores[label] == pytest.approx(b.scores[label], abs=2e-3)
        assert a.complaint == pytest.approx(b.complaint, abs=2e-3)


def test_onnx_cache_is_reused_and_a_corrupted_file_is_rebuilt(
    tiny_folder: Path, tmp_path: Path
) -> None:
    settings = ModelSettings(quantize="int8", runtime="onnxruntime")
    messages: list[str] = []
    first = load_model_folder(tiny_folder, settings, cache_dir=tmp_path, progress=messages.append)
    assert isinstance(first.model, OnnxModel)
    path = first.model.path
    expected = first.classify(TEXTS[:3])
    load_model_folder(tiny_folder, settings, cache_dir=tmp_path, progress=messages.append)
    assert len(messages) == 1  # the second load used the cache
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    again = load_model_folder(tiny_folder, settings, cache_dir=tmp_path, progress=messages.append)
    assert len(messages) == 2  # the damaged file did not match its sha256 and was rebuilt
    assert [a.scores for a in again.classify(TEXTS[:3])] == [a.scores for a in expected]


def test_onnx_exports_of_removed_folders_are_pruned(tmp_path: Path) -> None:
    settings = ModelSettings(quantize="int8", runtime="onnxruntime")
    cache = tmp_path / "cache"
    gone = make_tiny_model(tmp_path / "gone", ("negative", "neutral", "positive"))
    stale = load_model_folder(gone, settings, cache_dir=cache).model.path.parent
    shutil.rmtree(gone)
    kept = make_tiny_model(tmp_path / "kept", ("negative", "neutral", "positive"))
    fresh = load_model_folder(kept, settings, cache_dir=cache).model.path.parent
    assert not stale.exists()
    assert fresh.is_dir()


def test_three_label_model_without_complaint_head(tmp_path: Path) -> None:
    folder = make_tiny_model(tmp_path / "cardiff-like", ("negative", "neutral", "positive"))
    clf = load_model_folder(folder, ModelSettings(quantize="none"))
    assert not clf.has_complaint_head
    [plain, cued] = clf.classify(["hello", "I'll see you in court, no refund"], ["en", "en"])
    assert 0.0 <= plain.complaint <= 1.0
    assert cued.complaint > plain.complaint * 0.99


def test_missing_folder_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        load_model_folder(tmp_path / "nope", ModelSettings())


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({0: "negative", 1: "neutral", 2: "positive"}, ([0], [1], [2], None)),
        ({0: "NEG", 1: "NEU", 2: "POS", 3: "complaint"}, ([0], [1], [2], 3)),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, ([0], [1], [2], None)),
        ({0: "NEGATIVE", 1: "POSITIVE"}, ([0], [], [1], None)),
        (
            {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"},
            ([0, 1], [2], [3, 4], None),
        ),
    ],
)
def test_label_maps(labels: dict[int, str], expected: tuple) -> None:
    groups, complaint = _label_map(labels)
    assert (groups["negative"], groups["neutral"], groups["positive"], complaint) == expected


def test_label_map_rejects_unknown_labels() -> None:
    with pytest.raises(ModelError):
        _label_map({0: "a", 1: "b", 2: "c", 3: "d"})


def test_normalize_text() -> None:
    assert normalize_text("<p>Hi&nbsp;<b>there</b></p>\n\n you") == "Hi there you"
    assert normalize_text("a < b") == "a < b"


def test_risk_grows_with_cues_and_negativity() -> None:
    from monitor.nlp.cues import Cue

    legal = (Cue("legal_threat", "lawyer", 0, 6),)
    assert text_risk(0.0, 0.0, ()) == 0.0
    assert text_risk(0.9, 0.9, legal) > text_risk(0.9, 0.9, ()) > text_risk(0.2, 0.2, ())
    assert text_risk(0.05, 0.02, legal) < 0.05


def test_settings_from_mapping() -> None:
    s = ModelSettings.from_mapping({"name": "x", "max_length": 64, "quantize": "none"})
    assert (s.name, s.max_length, s.quantize, s.batch_size) == ("x", 64, "none", 32)
    assert ModelSettings.from_mapping({"runtime": "torch"}).runtime == "torch"
    bad_values = (
        {"quantize": "int4"},
        {"max_length": "64"},
        {"batch_size": 0},
        {"nme": "x"},
        {"runtime": "tensorrt"},
    )
    for bad in bad_values:
        with pytest.raises(ValueError):
            ModelSettings.from_mapping(bad)


def test_parse_section_reports_problems() -> None:
    from monitor.config import Problems
    from monitor.nlp.settings import parse_section

    problems = Problems()
    settings = parse_section({"name": "folder", "threads": 2}, problems, "model")
    assert settings.name == "folder" and settings.threads == 2 and not problems.items
    parse_section({"quantize": "fp8", "batch": 3, "threads": "two"}, problems, "model")
    paths = sorted(p.path for p in problems.items)
    assert paths == ["model", "model.batch", "model.threads"]
