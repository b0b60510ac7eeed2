"""Configuration: ``groundswell.toml`` loaded once into immutable, typed objects.

Every problem in a file is collected and reported at once, each with its key path and a hint,
so a broken config fails fast instead of one error per run. Secrets never live in this file:
it names environment variables (see :mod:`monitor.secrets`).
"""

from __future__ import annotations

import difflib
import importlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "Brand",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "Problems",
    "SourceSpec",
    "StorageSettings",
    "freeze",
    "load_config",
    "parse_config",
    "parse_interval",
]

DEFAULT_DB = "groundswell.db"
DEFAULT_INTERVAL = 900.0

# Feature sections are parsed by the feature that owns them: "module:function" taking
# (raw mapping, Problems, key path) and returning an immutable settings object. A section whose
# parser cannot be imported is kept as a frozen mapping.
SECTION_PARSERS: Mapping[str, str] = MappingProxyType(
    {
        "alerts": "alerts.settings:parse_section",
        "model": "monitor.nlp.settings:parse_section",
        "risk": "monitor.risk_settings:parse_section",
        "web": "monitor.web.settings:parse_section",
        "retention": "monitor.retention:parse_section",
        "scheduler": "monitor.scheduler:parse_section",
        "collect": "sources.settings:parse_section",
        "queue": "monitor.workers.settings:parse_section",
    }
)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class ConfigError(Exception):
    """A configuration file that cannot be used; lists every problem found."""

    def __init__(self, source: str, problems: list[ConfigProblem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the configuration:\n{lines}")


class Problems:
    """Collects problems while a config is parsed; feature section parsers add to it too."""

    def __init__(self) -> None:
        self.items: list[ConfigProblem] = []

    def add(self, path: str, message: str, hint: str = "") -> None:
        self.items.append(ConfigProblem(path, message, hint))

    def unknown_keys(
        self, raw: Mapping[str, Any], known: set[str] | frozenset[str], path: str
    ) -> None:
        for key in raw:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"known keys: {', '.join(sorted(known))}"
                )
                self.add(_join(path, key), "unknown key", hint)

    def expect(
        self,
        raw: Mapping[str, Any],
        key: str,
        kind: type | tuple[type, ...],
        path: str,
        default: Any = None,
        required: bool = False,
    ) -> Any:
        """Return ``raw[key]`` if it has the right type, else record a problem and return default."""
        if key not in raw:
            if required:
                self.add(_join(path, key), "missing required key", f"add {key} = ...")
            return default
        value = raw[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML integers are fine where floats are expected; booleans are not numbers here.
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = " or ".join(_type_name(k) for k in kinds)
            self.add(_join(path, key), f"expected {names}, got {_type_name(type(value))} {value!r}")
            return default
        return value

    def string_list(self, raw: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = self.expect(raw, key, list, path, default=[])
        result = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                result.append(item)
            else:
                self.add(f"{_join(path, key)}[{index}]", f"expected a string, got {item!r}")
        return tuple(result)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }.get(kind, kind.__name__)


def freeze(value: Any) -> Any:
    """Deep-freeze parsed TOML: tables become read-only mappings, arrays become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


_INTERVAL_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_interval(value: str | int | float) -> float:
    """``"90s"``, ``"15m"``, ``"2h30m"``, ``"1d"`` or a number of seconds → seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like '15m', not true/false")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower().replace(" ", "")
        if not text:
            raise ValueError("empty duration")
        pos = 0
        seconds = 0.0
        for match in _INTERVAL_PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(text):
            raise ValueError(
                f"cannot read duration {value!r}; use e.g. '90s', '15m', '2h30m', '1d'"
            )
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    return seconds


@dataclass(frozen=True, slots=True)
class Brand:
    """A monitored brand (or a competitor watched the same way)."""

    name: str
    query: Any  # monitor.query.Query
    aliases: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    competitors: tuple[str, ...] = ()
    competitor_of: tuple[str, ...] = ()

    @property
    def is_competitor(self) -> bool:
        return bool(self.competitor_of)

    def search_terms(self) -> tuple[str, ...]:
        """Plain terms for APIs with their own search (name, aliases, handles without '@')."""
        terms = [self.name, *self.aliases, *(h.lstrip("@") for h in self.handles)]
        return tuple(dict.fromkeys(t for t in terms if t))


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One configured source: a source type with its parameters and polling interval."""

    name: str
    type: str
    interval: float = DEFAULT_INTERVAL
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    brands: tuple[str, ...] = ()  # empty: every brand
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class StorageSettings:
    path: str = DEFAULT_DB


@dataclass(frozen=True, slots=True)
class Config:
    brands: tuple[Brand, ...] = ()
    sources: tuple[SourceSpec, ...] = ()
    storage: StorageSettings = StorageSettings()
    sections: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    origin: str = "<default>"

    def brand(self, name: str) -> Brand:
        for brand in self.brands:
            if brand.name.casefold() == name.casefold():
                return brand
        raise KeyError(name)

    def section(self, name: str) -> Any:
        """A feature section's settings (parsed by its owner), or an empty mapping."""
        return self.sections.get(name, MappingProxyType({}))

    def with_storage(self, path: str) -> Config:
        return Config(self.brands, self.sources, StorageSettings(path), self.sections, self.origin)


_TOP_KEYS = frozenset({"brands", "sources", "storage", *SECTION_PARSERS})
_BRAND_KEYS = frozenset(
    {"name", "aliases", "handles", "domains", "query", "languages", "competitors"}
)
_SOURCE_KEYS = frozenset({"name", "type", "interval", "params", "brands", "enabled"})


def default_query_text(name: str, aliases: tuple[str, ...], handles: tuple[str, ...]) -> str:
    """A brand with no explicit query matches its name, aliases and handles as phrases."""
    parts = [name, *aliases, *(h.lstrip("@") for h in handles)]
    quoted = ['"' + p.replace('"', " ").strip() + '"' for p in dict.fromkeys(parts) if p.strip()]
    return " OR ".join(quoted)


def _parse_query(text: str, path: str, problems: Problems) -> Any:
    from monitor.query import QuerySyntaxError, parse

    try:
        return parse(text)
    except QuerySyntaxError as exc:
        problems.add(
            path,
            f"bad query syntax at column {exc.column}: {exc.reason}",
            "see README, 'Brand queries'",
        )
        return None


def _parse_brands(raw: Any, problems: Problems) -> tuple[Brand, ...]:
    if not isinstance(raw, list):
        problems.add("brands", "expected an array of tables ([[brands]])")
        return ()
    drafts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = f"brands[{index}]"
        if not isinstance(item, dict):
            problems.add(path, "expected a table")
            continue
        problems.unknown_keys(item, _BRAND_KEYS, path)
        name = problems.expect(item, "name", str, path, required=True)
        aliases = problems.string_list(item, "aliases", path)
        handles = problems.string_list(item, "handles", path)
        domains = problems.string_list(item, "domains", path)
        languages = problems.string_list(item, "languages", path)
        competitors = problems.string_list(item, "competitors", path)
        query_text = problems.expect(item, "query", str, path)
        if not name:
            continue
        if name.casefold() in seen:
            problems.add(
                f"{path}.name", f"brand {name!r} is defined twice", "merge the two entries"
            )
        seen.add(name.casefold())
        query_text = query_text or default_query_text(name, aliases, handles)
        drafts.append(
            {
                "name": name,
                "query": _parse_query(query_text, f"{path}.query", problems),
                "aliases": aliases,
                "handles": handles,
                "domains": domains,
                "languages": languages,
                "competitors": competitors,
            }
        )
    # Competitors are brands too: watched with their own query when defined, else by name.
    rivals: dict[str, list[str]] = {}
    for draft in drafts:
        for rival in draft["competitors"]:
            rivals.setdefault(rival.casefold(), []).append(draft["name"])
    for rival_key in rivals:
        if rival_key not in seen:
            name = next(r for d in drafts for r in d["competitors"] if r.casefold() == rival_key)
            drafts.append(
                {
                    "name": name,
                    "query": _parse_query(
                        default_query_text(name, (), ()), "brands.competitors", problems
                    ),
                    "aliases": (),
                    "handles": (),
                    "domains": (),
                    "languages": (),
                    "competitors": (),
                }
            )
            seen.add(rival_key)
    return tuple(
        Brand(competitor_of=tuple(rivals.get(d["name"].casefold(), ())), **d) for d in drafts
    )


def _parse_sources(
    raw: Any,
    brand_names: set[str],
    problems: Problems,
    validate: Callable[[str, str, Mapping[str, Any], Problems], None] | None,
) -> tuple[SourceSpec, ...]:
    if not isinstance(raw, list):
        problems.add("sources", "expected an array of tables ([[sources]])")
        return ()
    specs: list[SourceSpec] = []
    names: set[str] = set()
    for index, item in enumerate(raw):
        path = f"sources[{index}]"
        if not isinstance(item, dict):
            problems.add(path, "expected a table")
            continue
        problems.unknown_keys(item, _SOURCE_KEYS, path)
        kind = problems.expect(item, "type", str, path, required=True)
        name = problems.expect(item, "name", str, path) or (
            f"{kind}-{index}" if kind else f"source-{index}"
        )
        if name in names:
            problems.add(
                f"{path}.name",
                f"source name {name!r} is used twice",
                "give each source a unique name",
            )
        names.add(name)
        interval = DEFAULT_INTERVAL
        if "interval" in item:
            try:
                interval = parse_interval(item["interval"])
            except ValueError as exc:
                problems.add(f"{path}.interval", str(exc), "use e.g. '90s', '15m', '2h30m', '1d'")
        params = problems.expect(item, "params", dict, path, default={})
        brands = problems.string_list(item, "brands", path)
        for brand in brands:
            if brand.casefold() not in brand_names:
                problems.add(
                    f"{path}.brands", f"unknown brand {brand!r}", "list names from [[brands]]"
                )
        enabled = problems.expect(item, "enabled", bool, path, default=True)
        if kind and validate is not None:
            validate(kind, f"{path}.params", params, problems)
        specs.append(SourceSpec(name, kind or "", interval, freeze(params), brands, enabled))
    return tuple(specs)


def _validate_source(kind: str, path: str, params: Mapping[str, Any], problems: Problems) -> None:
    from sources.registry import UnknownSourceType, collector_class, known_types

    try:
        cls = collector_class(kind)
    except UnknownSourceType:
        close = difflib.get_close_matches(kind, known_types(), n=1)
        hint = (
            f"did you mean '{close[0]}'?" if close else f"known types: {', '.join(known_types())}"
        )
        problems.add(path.rsplit(".", 1)[0] + ".type", f"unknown source type {kind!r}", hint)
        return
    cls.validate_params(params, path, problems)


def _parse_section(name: str, raw: Any, problems: Problems) -> Any:
    if name == "queue" and isinstance(raw, str):
        raw = {"url": raw}  # queue = "postgresql://..." is short for [queue] url = "..."
    if not isinstance(raw, dict):
        problems.add(name, "expected a table")
        return MappingProxyType({})
    module_name, _, func_name = SECTION_PARSERS[name].partition(":")
    try:
        parser = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError):
        return freeze(raw)
    return parser(raw, problems, name)


def parse_config(
    raw: Mapping[str, Any], origin: str = "<config>", validate_sources: bool = True
) -> Config:
    """Build a :class:`Config` from parsed TOML, raising :class:`ConfigError` with every problem."""
    problems = Problems()
    problems.unknown_keys(raw, _TOP_KEYS, "")
    brands = _parse_brands(raw.get("brands", []), problems)
    sources = _parse_sources(
        raw.get("sources", []),
        {b.name.casefold() for b in brands},
        problems,
        _validate_source if validate_sources else None,
    )
    storage_raw = raw.get("storage", {})
    storage = StorageSettings()
    if isinstance(storage_raw, dict):
        problems.unknown_keys(storage_raw, {"path"}, "storage")
        storage = StorageSettings(problems.expect(storage_raw, "path", str, "storage", DEFAULT_DB))
    elif isinstance(storage_raw, str) and storage_raw:  # storage = "postgresql://..." (or a path)
        storage = StorageSettings(storage_raw)
    else:
        problems.add("storage", "expected a table")
    sections = {
        name: _parse_section(name, raw[name], problems) for name in SECTION_PARSERS if name in raw
    }
    if problems.items:
        raise ConfigError(origin, problems.items)
    return Config(brands, sources, storage, MappingProxyType(sections), origin)


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path), [ConfigProblem("", "file not found", "create one with 'groundswell init'")]
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(path), [ConfigProblem("", f"not UTF-8 at byte {exc.start}")]
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            str(path),
            [
                ConfigProblem(
                    "", f"TOML syntax error: {exc}", "check quotes and brackets on that line"
                )
            ],
        ) from None
    return parse_config(raw, str(path))
