"""Configuration: typed, immutable, and every problem reported at once with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config, parse_config, parse_interval

GOOD = {
    "storage": {"path": "x.db"},
    "brands": [
        {
            "name": "Acme Air",
            "aliases": ["AcmeAir"],
            "query": '"acme air" OR acmeair',
            "languages": ["en"],
            "competitors": ["Globex"],
        },
    ],
    "sources": [
        {
            "name": "news",
            "type": "rss",
            "interval": "15m",
            "params": {"url": "https://n.example/rss"},
        }
    ],
}


def test_good_config_is_typed_and_frozen() -> None:
    config = parse_config(GOOD)
    assert config.storage.path == "x.db"
    acme = config.brand("acme air")
    assert acme.aliases == ("AcmeAir",)
    assert acme.competitors == ("Globex",)
    globex = config.brand("Globex")  # competitors are watched as brands of their own
    assert globex.competitor_of == ("Acme Air",) and globex.is_competitor
    assert globex.query.source == '"Globex"'
    (source,) = config.sources
    assert source.interval == 900.0
    with pytest.raises(TypeError):
        source.params["url"] = "other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.storage.path = "y.db"  # type: ignore[misc]


def test_default_query_from_name_aliases_handles() -> None:
    config = parse_config(
        {"brands": [{"name": "Acme", "aliases": ["ACME Corp"], "handles": ["@acme_hq"]}]}
    )
    assert config.brands[0].query.source == '"Acme" OR "ACME Corp" OR "acme_hq"'


def test_every_problem_reported_with_path_and_hint() -> None:
    raw = {
        "brandz": [],
        "brands": [
            {"name": "Acme", "query": "refund AND (never", "langauges": ["en"]},
            {"name": "Acme"},
            {"aliases": "not-a-list"},
        ],
        "sources": [
            {"name": "a", "type": "rss", "interval": "every day", "params": {"url": "ftp://x"}},
            {"name": "a", "type": "rsss", "params": {}},
            {
                "type": "rss",
                "interval": "-5m",
                "params": {"url": "https://ok.example", "colour": 1},
            },
            {"type": "rss", "brands": ["Nobody"], "params": {}},
        ],
        "storage": {"path": 5},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "groundswell.toml")
    problems = {(p.path, p.message.split(":")[0]) for p in info.value.problems}
    paths = [p.path for p in info.value.problems]
    assert ("brandz", "unknown key") in problems
    assert any(
        p.path == "brandz" and "did you mean 'brands'" in p.hint for p in info.value.problems
    )
    assert any(p.startswith("brands[0].query") for p in paths)
    assert any(p.path == "brands[0].query" and "column" in p.message for p in info.value.problems)
    assert "brands[0].langauges" in paths
    assert "brands[1].name" in paths  # duplicate brand
    assert "brands[2].name" in paths  # missing name
    assert "brands[2].aliases" in paths
    assert "sources[0].interval" in paths
    assert "sources[0].params.url" in paths
    assert "sources[1].name" in paths  # duplicate source name
    assert any(
        p.path == "sources[1].type" and "did you mean 'rss'" in p.hint for p in info.value.problems
    )
    assert "sources[2].interval" in paths
    assert "sources[2].params.colour" in paths
    assert "sources[3].brands" in paths
    assert "sources[3].params.url" in paths
    assert "storage.path" in paths
    assert "groundswell.toml" in str(info.value)


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[storage]\npath = "unterminated\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml")


def test_example_config_is_valid() -> None:
    from importlib.resources import files

    text = files("monitor").joinpath("templates/groundswell.example.toml").read_text("utf-8")
    import tomllib

    config = parse_config(tomllib.loads(text))
    assert [b.name for b in config.brands] == ["Aurora Air", "Nimbus Airlines"]
    assert config.brand("Nimbus Airlines").is_competitor


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h30m", 9000),
        ("1d", 86400),
        ("1w", 604800),
        (30, 30),
        ("1.5h", 5400),
        ("500ms", 0.5),
    ],
)
def test_parse_interval(text: str | int, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15 minutes", "0s", "-1m", "5x"])
def test_parse_interval_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)
