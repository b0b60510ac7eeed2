"""The ``[alerts]`` config section: rules, the routing tree, receivers, timers and delivery knobs.

Without an ``[alerts]`` section the defaults still work end to end: warning and critical events
alert one receiver, ``pr-oncall``, whose notifications are written to the outbox and the log (no
channel), so the pipeline can be tried before anyone configures email or chat.

Channel URLs may name environment variables (``mailto://bot:${SMTP_PASSWORD}@mail.example.com``);
they are expanded only at send time and never stored in the archive or written to logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.matchers import Matcher, MatcherError, parse_matchers
from monitor.config import Problems, parse_interval
from monitor.events import SEVERITIES

__all__ = [
    "DEFAULT_RECEIVER",
    "AlertSettings",
    "ChannelSpec",
    "DigestSpec",
    "InhibitRule",
    "QuietHours",
    "Receiver",
    "Route",
    "Rule",
    "default_settings",
    "is_legal_receiver",
    "legal_only_problems",
    "parse_section",
    "settings_for",
]

DEFAULT_RECEIVER = "pr-oncall"
DEFAULT_GROUP_BY = ("brand", "story")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FORMATS = ("text", "markdown", "html")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Rule:
    """Which events alert, and the labels they get (``team``, ``playbook``, …)."""

    name: str
    matchers: tuple[Matcher, ...] = ()
    min_severity: str = "warning"
    min_risk: float = 0.0
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Route:
    """A node of the routing tree; children inherit the receiver and timers of their parent."""

    path: str
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    continue_matching: bool = False
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One way to reach a receiver: an Apprise URL or a signed JSON webhook."""

    kind: str  # "apprise" | "webhook"
    url: str  # may contain ${ENV_NAME} placeholders, expanded at send time
    format: str = "markdown"  # body format for apprise: text | markdown | html
    secret_env: str | None = None  # webhook HMAC secret

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(_ENV_REF.findall(self.url))

    def display(self) -> str:
        """The URL with every ${ENV} reference and any inline password masked."""
        text = _ENV_REF.sub("***", self.url)
        return re.sub(r"(//[^:/@]+:)[^@]+@", r"\1***@", text)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (local time) when only critical alerts are sent at once."""

    start: time
    end: time
    timezone: str = "UTC"
    critical_override: bool = True

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone)).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime) -> datetime:
        """The first moment after ``moment`` at which the window is over."""
        zone = ZoneInfo(self.timezone)
        local = moment.astimezone(zone)
        candidate = local.replace(
            hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0
        )
        if candidate <= local:
            candidate = candidate + timedelta(days=1)
        return candidate.astimezone(moment.tzinfo)


@dataclass(frozen=True, slots=True)
class Receiver:
    """A team (PR on-call, community managers, support per language, executives …)."""

    name: str
    team: str = ""
    channels: tuple[ChannelSpec, ...] = ()
    quiet_hours: QuietHours | None = None
    escalate_after: float | None = None
    escalate_to: str | None = None


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """While a source alert fires, target events with the same ``equal`` labels stay quiet."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ("brand",)


@dataclass(frozen=True, slots=True)
class DigestSpec:
    """A daily or weekly summary of a receiver's alerts."""

    receiver: str
    every: str = "daily"  # daily | weekly
    at: time = time(8, 0)
    weekday: int = 0  # Monday; weekly digests only
    timezone: str = "UTC"

    @property
    def name(self) -> str:
        return f"{self.receiver}:{self.every}"

    @property
    def period(self) -> timedelta:
        return timedelta(days=7 if self.every == "weekly" else 1)

    def last_due(self, now: datetime) -> datetime:
        """The most recent scheduled moment at or before ``now``."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        due = local.replace(hour=self.at.hour, minute=self.at.minute, second=0, microsecond=0)
        if self.every == "weekly":
            due -= timedelta(days=(local.weekday() - self.weekday) % 7)
        if due > local:
            due -= self.period
        return due.astimezone(now.tzinfo)


def _default_inhibit() -> tuple[InhibitRule, ...]:
    # A brand-level burst (an outage, a recall) makes the single posts and small stories about it
    # noise; critical ones (a legal threat, a celebrity) still get through.
    return (
        InhibitRule(
            source_matchers=parse_matchers(["kind=burst"]),
            target_matchers=parse_matchers(["kind=~post|story", "severity!=critical"]),
            equal=("brand",),
        ),
    )


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Everything the alert engine and the delivery worker need, immutable."""

    rules: tuple[Rule, ...] = (Rule("default"),)
    route: Route = Route(path="root", receiver=DEFAULT_RECEIVER)
    receivers: Mapping[str, Receiver] = field(
        default_factory=lambda: MappingProxyType({DEFAULT_RECEIVER: Receiver(DEFAULT_RECEIVER)})
    )
    inhibit: tuple[InhibitRule, ...] = field(default_factory=_default_inhibit)
    digests: tuple[DigestSpec, ...] = ()
    base_url: str = "http://127.0.0.1:8080"
    link_secret_env: str = "GROUNDSWELL_LINK_SECRET"
    link_max_age: float = 7 * 86400.0
    webhook_secret_env: str = "GROUNDSWELL_WEBHOOK_SECRET"
    max_attempts: int = 8
    retry_backoff: float = 30.0
    retry_backoff_max: float = 3600.0
    send_timeout: float = 10.0
    resolve_after: float = 48 * 3600.0
    inhibit_for: float = 2 * 3600.0  # a source alert inhibits this long after its last event
    silence_duration: float = 2 * 3600.0
    batch_size: int = 200
    workers: int = 4

    def receiver(self, name: str) -> Receiver:
        try:
            return self.receivers[name]
        except KeyError:
            raise KeyError(f"unknown receiver {name!r}") from None


def default_settings() -> AlertSettings:
    """The settings used when the config has no ``[alerts]`` section."""
    return AlertSettings()


def settings_for(config: Any) -> AlertSettings:
    """The alert settings of a :class:`monitor.config.Config` (defaults when absent)."""
    section = config.section("alerts") if config is not None else None
    return section if isinstance(section, AlertSettings) else default_settings()


# -- parsing -----------------------------------------------------------------------------------

_TOP = frozenset(
    {
        "rules",
        "route",
        "receivers",
        "inhibit",
        "digests",
        "base_url",
        "link_secret_env",
        "link_max_age",
        "webhook_secret_env",
        "max_attempts",
        "retry_backoff",
        "retry_backoff_max",
        "send_timeout",
        "resolve_after",
        "inhibit_for",
        "silence_duration",
        "batch_size",
        "workers",
    }
)
_RULE_KEYS = frozenset(
    {
        "name",
        "matchers",
        "min_severity",
        "min_risk",
        "brands",
        "kinds",
        "cues",
        "sources",
        "languages",
        "competitor",
        "labels",
    }
)
_ROUTE_KEYS = frozenset(
    {
        "receiver",
        "matchers",
        "match",
        "continue",
        "group_by",
        "group_wait",
        "group_interval",
        "repeat_interval",
        "routes",
    }
)
_RECEIVER_KEYS = frozenset(
    {
        "name",
        "team",
        "apprise",
        "format",
        "webhooks",
        "quiet_hours",
        "escalate_after",
        "escalate_to",
    }
)


def _duration(
    raw: Mapping[str, Any], key: str, path: str, problems: Problems, default: float
) -> float:
    if key not in raw:
        return default
    value = raw[key]
    if value == 0 or value == "0" or value == "0s":
        return 0.0
    try:
        return parse_interval(value)
    except ValueError as exc:
        problems.add(f"{path}.{key}", str(exc), "use e.g. '0s', '30s', '5m', '4h'")
        return default


def _matchers(raw: Mapping[str, Any], path: str, problems: Problems) -> tuple[Matcher, ...]:
    items = list(problems.string_list(raw, "matchers", path))
    match = raw.get("match")
    if match is not None:
        if isinstance(match, dict):
            items.extend(f"{name}={value}" for name, value in match.items())
        else:
            problems.add(f"{path}.match", "expected a table of label = value")
    result = []
    for item in items:
        try:
            result.append(Matcher.parse(item))
        except MatcherError as exc:
            problems.add(f"{path}.matchers", str(exc), "write e.g. 'severity=critical'")
    return tuple(result)


def _severity(raw: Mapping[str, Any], key: str, path: str, problems: Problems, default: str) -> str:
    value = problems.expect(raw, key, str, path, default)
    if value not in SEVERITIES:
        problems.add(f"{path}.{key}", f"unknown severity {value!r}", f"one of {SEVERITIES}")
        return default
    return str(value)


def _str_map(raw: Mapping[str, Any], key: str, path: str, problems: Problems) -> dict[str, str]:
    table = problems.expect(raw, key, dict, path, {})
    result = {}
    for name, value in table.items():
        if isinstance(value, str):
            result[str(name)] = value
        else:
            problems.add(f"{path}.{key}.{name}", f"expected a string, got {value!r}")
    return result


def _parse_rule(raw: Any, index: int, problems: Problems, path: str) -> Rule | None:
    path = f"{path}[{index}]"
    if not isinstance(raw, dict):
        problems.add(path, "expected a table")
        return None
    problems.unknown_keys(raw, _RULE_KEYS, path)
    name = problems.expect(raw, "name", str, path, f"rule-{index}")
    matchers = list(_matchers(raw, path, problems))
    for key, label in (
        ("brands", "brand"),
        ("kinds", "kind"),
        ("sources", "source"),
        ("languages", "lang"),
    ):
        values = problems.string_list(raw, key, path)
        if values:
            matchers.append(Matcher.parse(f"{label}=~{'|'.join(re.escape(v) for v in values)}"))
    for cue in problems.string_list(raw, "cues", path):
        matchers.append(Matcher.parse(f"cues={cue}"))
    competitor = problems.expect(raw, "competitor", bool, path)
    if competitor is not None:
        matchers.append(Matcher.parse(f"competitor={'true' if competitor else 'false'}"))
    min_risk = float(problems.expect(raw, "min_risk", float, path, 0.0))
    if not 0.0 <= min_risk <= 1.0:
        problems.add(f"{path}.min_risk", "must be between 0 and 1")
    return Rule(
        name=name,
        matchers=tuple(matchers),
        min_severity=_severity(raw, "min_severity", path, problems, "warning"),
        min_risk=min_risk,
        labels=MappingProxyType(_str_map(raw, "labels", path, problems)),
    )


def _parse_route(raw: Any, path: str, parent: Route | None, problems: Problems) -> Route:
    if not isinstance(raw, dict):
        problems.add(path, "expected a table")
        raw = {}
    problems.unknown_keys(raw, _ROUTE_KEYS, path)
    base = parent or Route(path="root", receiver=DEFAULT_RECEIVER)
    group_by = problems.string_list(raw, "group_by", path) if "group_by" in raw else base.group_by
    draft = Route(
        path=path,
        receiver=problems.expect(raw, "receiver", str, path, base.receiver),
        matchers=_matchers(raw, path, problems) if parent is not None else (),
        continue_matching=problems.expect(raw, "continue", bool, path, False),
        group_by=group_by,
        group_wait=_duration(raw, "group_wait", path, problems, base.group_wait),
        group_interval=_duration(raw, "group_interval", path, problems, base.group_interval),
        repeat_interval=_duration(raw, "repeat_interval", path, problems, base.repeat_interval),
    )
    if parent is None and ("matchers" in raw or "match" in raw):
        problems.add(f"{path}.matchers", "the root route matches everything", "move it to a child")
    children = problems.expect(raw, "routes", list, path, [])
    routes = tuple(
        _parse_route(child, f"{path}.routes[{index}]", draft, problems)
        for index, child in enumerate(children)
    )
    return Route(
        draft.path,
        draft.receiver,
        draft.matchers,
        draft.continue_matching,
        draft.group_by,
        draft.group_wait,
        draft.group_interval,
        draft.repeat_interval,
        routes,
    )


def _clock(value: Any, path: str, problems: Problems) -> time | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value):
        problems.add(path, f"expected a time like '22:00', got {value!r}")
        return None
    hour, minute = (int(part) for part in value.split(":"))
    if hour > 23 or minute > 59:
        problems.add(path, f"no such time of day: {value!r}")
        return None
    return time(hour, minute)


def _zone(raw: Mapping[str, Any], path: str, problems: Problems) -> str:
    name = problems.expect(raw, "timezone", str, path, "UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add(f"{path}.timezone", f"unknown time zone {name!r}", "e.g. 'Europe/Berlin'")
        return "UTC"
    return str(name)


def _parse_receiver(
    raw: Any, index: int, problems: Problems, path: str, webhook_env: str
) -> Receiver | None:
    path = f"{path}[{index}]"
    if not isinstance(raw, dict):
        problems.add(path, "expected a table")
        return None
    problems.unknown_keys(raw, _RECEIVER_KEYS, path)
    name = problems.expect(raw, "name", str, path, required=True)
    if not name:
        return None
    fmt = problems.expect(raw, "format", str, path)
    if fmt is not None and fmt not in _FORMATS:
        problems.add(f"{path}.format", f"unknown format {fmt!r}", f"one of {_FORMATS}")
        fmt = None
    channels: list[ChannelSpec] = []
    for url in problems.string_list(raw, "apprise", path):
        if "://" not in url:
            problems.add(f"{path}.apprise", f"not an Apprise URL: {url!r}", "e.g. mailto://…")
            continue
        scheme = url.split("://", 1)[0].lower()
        channels.append(
            ChannelSpec(
                "apprise", url, fmt or ("html" if scheme.startswith("mailto") else "markdown")
            )
        )
    for hook_index, hook in enumerate(problems.expect(raw, "webhooks", list, path, [])):
        hook_path = f"{path}.webhooks[{hook_index}]"
        if isinstance(hook, str):
            hook = {"url": hook}
        if not isinstance(hook, dict):
            problems.add(hook_path, "expected a URL or a table with url and secret_env")
            continue
        problems.unknown_keys(hook, {"url", "secret_env"}, hook_path)
        url = problems.expect(hook, "url", str, hook_path, required=True)
        if url and not url.startswith(("http://", "https://")):
            problems.add(f"{hook_path}.url", "webhooks need an http(s) URL")
            continue
        if url:
            secret_env = problems.expect(hook, "secret_env", str, hook_path, webhook_env)
            channels.append(ChannelSpec("webhook", url, "json", secret_env))
    quiet = None
    if "quiet_hours" in raw:
        quiet_raw = problems.expect(raw, "quiet_hours", dict, path, {})
        quiet_path = f"{path}.quiet_hours"
        problems.unknown_keys(
            quiet_raw, {"start", "end", "timezone", "critical_override"}, quiet_path
        )
        start = _clock(quiet_raw.get("start"), f"{quiet_path}.start", problems)
        end = _clock(quiet_raw.get("end"), f"{quiet_path}.end", problems)
        if start is not None and end is not None:
            quiet = QuietHours(
                start,
                end,
                _zone(quiet_raw, quiet_path, problems),
                problems.expect(quiet_raw, "critical_override", bool, quiet_path, True),
            )
    escalate_after = None
    if "escalate_after" in raw:
        escalate_after = _duration(raw, "escalate_after", path, problems, 1800.0)
    return Receiver(
        name=name,
        team=problems.expect(raw, "team", str, path, ""),
        channels=tuple(channels),
        quiet_hours=quiet,
        escalate_after=escalate_after,
        escalate_to=problems.expect(raw, "escalate_to", str, path),
    )


def _parse_inhibit(raw: Any, index: int, problems: Problems, path: str) -> InhibitRule | None:
    path = f"{path}[{index}]"
    if not isinstance(raw, dict):
        problems.add(path, "expected a table")
        return None
    problems.unknown_keys(raw, {"source_matchers", "target_matchers", "equal"}, path)
    try:
        source = parse_matchers(problems.string_list(raw, "source_matchers", path))
        target = parse_matchers(problems.string_list(raw, "target_matchers", path))
    except MatcherError as exc:
        problems.add(path, str(exc))
        return None
    if not source or not target:
        problems.add(path, "needs source_matchers and target_matchers")
        return None
    equal = problems.string_list(raw, "equal", path) if "equal" in raw else ("brand",)
    return InhibitRule(source, target, equal)


def _parse_digest(raw: Any, index: int, problems: Problems, path: str) -> DigestSpec | None:
    path = f"{path}[{index}]"
    if not isinstance(raw, dict):
        problems.add(path, "expected a table")
        return None
    problems.unknown_keys(raw, {"receiver", "every", "at", "weekday", "timezone"}, path)
    receiver = problems.expect(raw, "receiver", str, path, required=True)
    every = problems.expect(raw, "every", str, path, "daily")
    if every not in ("daily", "weekly"):
        problems.add(f"{path}.every", f"expected 'daily' or 'weekly', got {every!r}")
        every = "daily"
    at = _clock(raw.get("at", "08:00"), f"{path}.at", problems) or time(8, 0)
    weekday_name = str(problems.expect(raw, "weekday", str, path, "mon")).lower()[:3]
    if weekday_name not in _WEEKDAYS:
        problems.add(f"{path}.weekday", f"unknown weekday {weekday_name!r}", "e.g. 'mon'")
        weekday_name = "mon"
    if not receiver:
        return None
    return DigestSpec(
        receiver, every, at, _WEEKDAYS.index(weekday_name), _zone(raw, path, problems)
    )


def is_legal_receiver(receiver: Receiver) -> bool:
    """A receiver that is (only) the legal department."""
    return receiver.team.casefold() == "legal" or "legal" in receiver.name.casefold()


def _route_paths(route: Route, ancestors: tuple[Route, ...] = ()) -> list[tuple[Route, ...]]:
    """Every node with the chain of nodes leading to it (root first)."""
    chain = (*ancestors, route)
    paths = [chain]
    for child in route.routes:
        paths.extend(_route_paths(child, chain))
    return paths


def _route_nodes(route: Route) -> list[Route]:
    return [path[-1] for path in _route_paths(route)]


def legal_only_problems(settings: AlertSettings) -> list[tuple[str, str]]:
    """Routes that would send legal threats only to a legal mailbox: (path, message) pairs.

    Legal threats are a reputation emergency first: PR/community must answer fast and in person.
    Probes the tree with label sets that reach each node mentioning the cue, plus plain
    legal-threat events of every kind and severity.
    """
    from alerts.routing import route_matches

    probes: list[tuple[str, dict[str, str]]] = []
    for chain in _route_paths(settings.route):
        node = chain[-1]
        if not any(
            m.name == "cues" and m.op in ("=", "=~") and m.matches({"cues": "legal_threat"})
            for m in node.matchers
        ):
            continue
        fixed = {m.name: m.value for link in chain for m in link.matchers if m.op == "="}
        probes.append((node.path, {**fixed, "cues": "legal_threat"}))
    probes.append((settings.route.path, {"cues": "legal_threat"}))
    found: list[tuple[str, str]] = []
    for origin, base in probes:
        for kind in ("post", "story", "burst"):
            for severity in SEVERITIES:
                labels = {"kind": kind, "severity": severity, **base}
                matched = route_matches(settings, labels)
                receivers = [settings.receivers.get(m.route.receiver) for m in matched]
                if not receivers or not all(
                    r is not None and is_legal_receiver(r) for r in receivers
                ):
                    continue
                path = matched[0].route.path if origin == settings.route.path else origin
                message = (
                    f"a {labels['severity']} {labels['kind']} with cue legal_threat reaches only "
                    f"legal receivers ({', '.join(m.route.receiver for m in matched)})"
                )
                if all(p != path for p, _ in found):
                    found.append((path, message))
    return found


def parse_section(raw: Mapping[str, Any], problems: Problems, path: str) -> AlertSettings:
    """Parse ``[alerts]`` into :class:`AlertSettings`, recording every problem."""
    problems.unknown_keys(raw, _TOP, path)
    defaults = AlertSettings()
    webhook_env = problems.expect(raw, "webhook_secret_env", str, path, defaults.webhook_secret_env)
    rules_raw = problems.expect(raw, "rules", list, path, None)
    rules = (
        tuple(
            rule
            for index, item in enumerate(rules_raw)
            if (rule := _parse_rule(item, index, problems, f"{path}.rules")) is not None
        )
        if rules_raw is not None
        else defaults.rules
    )
    receivers: dict[str, Receiver] = {}
    for index, item in enumerate(problems.expect(raw, "receivers", list, path, [])):
        receiver = _parse_receiver(item, index, problems, f"{path}.receivers", webhook_env)
        if receiver is None:
            continue
        if receiver.name in receivers:
            problems.add(f"{path}.receivers[{index}].name", f"receiver {receiver.name!r} twice")
        receivers[receiver.name] = receiver
    if not receivers:
        receivers[DEFAULT_RECEIVER] = Receiver(DEFAULT_RECEIVER, team="pr")
    route = _parse_route(raw.get("route", {}), f"{path}.route", None, problems)
    if "route" not in raw and DEFAULT_RECEIVER not in receivers:
        route = Route(path=f"{path}.route", receiver=next(iter(receivers)))
    for node in _route_nodes(route):
        if node.receiver not in receivers:
            problems.add(
                f"{node.path}.receiver",
                f"unknown receiver {node.receiver!r}",
                f"define it under [[alerts.receivers]]; known: {', '.join(receivers)}",
            )
    for name, receiver in receivers.items():
        if receiver.escalate_to is not None and receiver.escalate_to not in receivers:
            problems.add(
                f"{path}.receivers.{name}.escalate_to",
                f"unknown receiver {receiver.escalate_to!r}",
            )
    inhibit_raw = problems.expect(raw, "inhibit", list, path, None)
    inhibit = (
        tuple(
            inhibit_rule
            for index, item in enumerate(inhibit_raw)
            if (inhibit_rule := _parse_inhibit(item, index, problems, f"{path}.inhibit"))
            is not None
        )
        if inhibit_raw is not None
        else defaults.inhibit
    )
    digests = tuple(
        digest
        for index, item in enumerate(problems.expect(raw, "digests", list, path, []))
        if (digest := _parse_digest(item, index, problems, f"{path}.digests")) is not None
    )
    for index, digest in enumerate(digests):
        if digest.receiver not in receivers:
            problems.add(
                f"{path}.digests[{index}].receiver", f"unknown receiver {digest.receiver!r}"
            )
    max_attempts = int(problems.expect(raw, "max_attempts", int, path, defaults.max_attempts))
    if max_attempts < 1:
        problems.add(f"{path}.max_attempts", "must be at least 1")
    settings = AlertSettings(
        rules=rules,
        route=route,
        receivers=MappingProxyType(receivers),
        inhibit=inhibit,
        digests=digests,
        base_url=str(problems.expect(raw, "base_url", str, path, defaults.base_url)).rstrip("/"),
        link_secret_env=problems.expect(
            raw, "link_secret_env", str, path, defaults.link_secret_env
        ),
        link_max_age=_duration(raw, "link_max_age", path, problems, defaults.link_max_age),
        webhook_secret_env=webhook_env,
        max_attempts=max(1, max_attempts),
        retry_backoff=_duration(raw, "retry_backoff", path, problems, defaults.retry_backoff),
        retry_backoff_max=_duration(
            raw, "retry_backoff_max", path, problems, defaults.retry_backoff_max
        ),
        send_timeout=_duration(raw, "send_timeout", path, problems, defaults.send_timeout),
        resolve_after=_duration(raw, "resolve_after", path, problems, defaults.resolve_after),
        inhibit_for=_duration(raw, "inhibit_for", path, problems, defaults.inhibit_for),
        silence_duration=_duration(
            raw, "silence_duration", path, problems, defaults.silence_duration
        ),
        batch_size=max(1, int(problems.expect(raw, "batch_size", int, path, defaults.batch_size))),
        workers=max(1, int(problems.expect(raw, "workers", int, path, defaults.workers))),
    )
    if not any(item.path.startswith(f"{path}.route") for item in problems.items):
        for route_path, message in legal_only_problems(settings):
            problems.add(
                route_path,
                message,
                "legal threats are a PR emergency: route them to PR/community (with the playbook) "
                "and copy legal with continue = true",
            )
    return settings
