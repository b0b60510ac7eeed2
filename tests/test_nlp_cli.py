"""`groundswell classify` in the interchange format, and the model commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.nlp.cli import COMMANDS, classify, model, reclassify
from tests.nlp_support import make_tiny_model


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(
        tmp_path_factory.mktemp("cli") / "m", ("negative", "neutral", "positive", "complaint")
    )


@pytest.fixture(autouse=True)
def _no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GROUNDSWELL_CONFIG", raising=False)


def _run(args: list[str], stdin: str) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(classify, args, input=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, lines, result.stderr


def test_exports() -> None:
    assert [classify, reclassify, model] == COMMANDS
    assert set(model.commands) == {"build", "evaluate", "train", "info"}


def test_jsonl_in_order_with_per_line_errors(tiny_folder: Path) -> None:
    stdin = "\n".join(
        [
            json.dumps(
                {"id": "a", "text": "They refused my refund, see you in court!", "lang": "en"}
            ),
            "{not json",
            json.dumps({"id": "b", "text": "<p>Merci beaucoup 😊</p>", "extra": 1}),
            json.dumps({"text": "no id"}),
            json.dumps({"id": 7, "text": "numeric id"}),
            json.dumps({"id": "c"}),
            json.dumps(["list"]),
            "",
            json.dumps({"id": "d", "text": ""}),
        ]
    )
    code, out, _err = _run(["--model", str(tiny_folder), "--no-progress"], stdin)
    assert code == 0
    assert [o["id"] for o in out] == ["a", "2", "b", "4", "7", "c", "7", "8", "d"]
    ok = [o for o in out if "error" not in o]
    assert [o["id"] for o in ok] == ["a", "b", "7", "d"]
    first = ok[0]
    assert set(first) >= {"id", "lang", "sentiment", "scores", "complaint", "cues", "risk"}
    assert first["lang"] == "en"
    assert first["cues"] == ["refund_refused", "legal_threat"]
    assert first["sentiment"] in {"negative", "neutral", "positive"}
    assert sum(first["scores"].values()) == pytest.approx(1.0, abs=1e-6)
    assert 0 <= first["complaint"] <= 1 and 0 <= first["risk"] <= 1
    assert ok[1]["lang"] == "fr"
    errors = {o["id"]: o["error"] for o in out if "error" in o}
    assert "invalid JSON" in errors["2"] and "'id'" in errors["4"] and "'text'" in errors["c"]
    assert errors["8"] == "empty line"


def test_exit_status_when_nothing_could_be_processed(tiny_folder: Path) -> None:
    code, out, err = _run(["--model", str(tiny_folder)], "nope\n{\n")
    assert code == 1
    assert [o["id"] for o in out] == ["1", "2"]
    assert "none of the 2 input lines" in err


def test_empty_input_is_not_an_error(tiny_folder: Path) -> None:
    code, out, _ = _run(["--model", str(tiny_folder)], "")
    assert code == 0 and out == []


def test_plain_text_mode_uses_line_numbers(tiny_folder: Path) -> None:
    code, out, _ = _run(
        ["--text", "--model", str(tiny_folder)], "Third time I call!\nDanke schön\n"
    )
    assert code == 0
    assert [o["id"] for o in out] == ["1", "2"]
    assert out[0]["cues"] == ["repeat_contact"]


def test_file_argument_and_progress_bar(tiny_folder: Path, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(json.dumps({"id": str(i), "text": f"post {i}"}) for i in range(40)) + "\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(classify, [str(path), "--model", str(tiny_folder), "--progress"])
    assert result.exit_code == 0
    assert [json.loads(x)["id"] for x in result.stdout.splitlines()] == [str(i) for i in range(40)]
    assert "40/40" in result.stderr


def test_missing_model_folder_fails_cleanly(tmp_path: Path) -> None:
    result = CliRunner().invoke(classify, ["--model", str(tmp_path / "nothing")], input="")
    assert result.exit_code == 1
    assert "cannot load model" in result.stderr


def test_model_info_on_missing_default(tmp_path: Path) -> None:
    result = CliRunner().invoke(model, ["info", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0
    assert "not built" in result.stdout


def test_help_has_examples() -> None:
    for command in (classify, reclassify, *model.commands.values()):
        assert "Example:" in (command.help or ""), command.name
