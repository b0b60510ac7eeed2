"""Routing tree and config validation, table-driven."""

from __future__ import annotations

import pytest

from alerts.matchers import Matcher, MatcherError
from alerts.routing import route_for, route_matches
from alerts.rules import evaluate
from alerts.settings import DEFAULT_RECEIVER, AlertSettings, settings_for
from monitor.config import ConfigError
from tests.test_alerts_support import event, make_config

RECEIVERS = [
    {"name": "pr-oncall", "team": "pr"},
    {"name": "community", "team": "community"},
    {"name": "support-de", "team": "support"},
    {"name": "support-fr", "team": "support"},
    {"name": "execs", "team": "executives"},
    {"name": "legal", "team": "legal"},
    {"name": "competitive-intel", "team": "strategy"},
    {"name": "news-desk", "team": "pr"},
]

ROUTE = {
    "receiver": "pr-oncall",
    "group_wait": "0s",
    "routes": [
        # Competitors never page anyone: their own team, nothing else.
        {"matchers": ["competitor=true"], "receiver": "competitive-intel"},
        # Executives hear about critical items, and routing continues.
        {"matchers": ["severity=critical"], "receiver": "execs", "continue": True},
        # Legal threats: PR/community with the playbook, legal copied.
        {
            "matchers": ["cues=legal_threat"],
            "receiver": "pr-oncall",
            "continue": True,
            "routes": [{"matchers": ["lang=de"], "receiver": "support-de"}],
        },
        {"matchers": ["cues=legal_threat"], "receiver": "legal"},
        {"matchers": ["source=~news|googlenews"], "receiver": "news-desk"},
        {"matchers": ["lang=de"], "receiver": "support-de"},
        {"matchers": ["lang=fr"], "receiver": "support-fr"},
        {"matchers": ["kind=burst"], "receiver": "pr-oncall"},
        {"matchers": ["team=community"], "receiver": "community"},
        {"matchers": ["brand=Globex", "severity!=info"], "receiver": "community"},
    ],
}


@pytest.fixture(scope="module")
def settings() -> AlertSettings:
    return settings_for(make_config({"receivers": RECEIVERS, "route": ROUTE}))


CASES = [
    # (labels, expected receivers in order)
    ({"brand": "Acme", "severity": "warning"}, ["pr-oncall"]),
    ({"brand": "Acme", "severity": "info"}, ["pr-oncall"]),
    # A matched `continue` route counts as a match: the root is only the fallback.
    ({"brand": "Acme", "severity": "critical"}, ["execs"]),
    ({"brand": "Acme", "severity": "warning", "competitor": "true"}, ["competitive-intel"]),
    (
        {"brand": "Acme", "severity": "critical", "competitor": "true"},
        ["competitive-intel"],
    ),
    ({"brand": "Acme", "severity": "warning", "competitor": "false"}, ["pr-oncall"]),
    ({"severity": "warning", "cues": "legal_threat"}, ["pr-oncall", "legal"]),
    ({"severity": "warning", "cues": "refund,legal_threat"}, ["pr-oncall", "legal"]),
    ({"severity": "critical", "cues": "legal_threat"}, ["execs", "pr-oncall", "legal"]),
    ({"severity": "warning", "cues": "legal_threat", "lang": "de"}, ["support-de", "legal"]),
    ({"severity": "warning", "cues": "legal_threat_maybe"}, ["pr-oncall"]),
    ({"severity": "warning", "cues": "refund"}, ["pr-oncall"]),
    ({"severity": "warning", "source": "news"}, ["news-desk"]),
    ({"severity": "warning", "source": "googlenews"}, ["news-desk"]),
    ({"severity": "warning", "source": "newsletter"}, ["pr-oncall"]),
    ({"severity": "critical", "source": "news"}, ["execs", "news-desk"]),
    ({"severity": "warning", "lang": "de"}, ["support-de"]),
    ({"severity": "warning", "lang": "fr"}, ["support-fr"]),
    ({"severity": "warning", "lang": "es"}, ["pr-oncall"]),
    ({"severity": "warning", "lang": "de", "source": "news"}, ["news-desk"]),
    ({"severity": "critical", "lang": "fr"}, ["execs", "support-fr"]),
    ({"severity": "warning", "kind": "burst"}, ["pr-oncall"]),
    ({"severity": "warning", "kind": "story"}, ["pr-oncall"]),
    ({"severity": "warning", "team": "community"}, ["community"]),
    ({"severity": "warning", "team": "support"}, ["pr-oncall"]),
    ({"brand": "Globex", "severity": "warning"}, ["community"]),
    ({"brand": "Globex", "severity": "info"}, ["pr-oncall"]),
    ({"brand": "Globex", "severity": "critical"}, ["execs", "community"]),
    ({"brand": "globex", "severity": "warning"}, ["pr-oncall"]),  # label values are exact
    ({}, ["pr-oncall"]),
    (
        {"severity": "critical", "cues": "legal_threat", "lang": "de"},
        ["execs", "support-de", "legal"],
    ),
    ({"severity": "warning", "cues": "legal_threat", "source": "news"}, ["pr-oncall", "legal"]),
    ({"severity": "critical", "competitor": "true", "cues": "legal_threat"}, ["competitive-intel"]),
]


@pytest.mark.parametrize(("labels", "expected"), CASES)
def test_route_for(settings: AlertSettings, labels: dict[str, str], expected: list[str]) -> None:
    assert [receiver.name for receiver in route_for(settings, labels)] == expected


def test_there_are_at_least_thirty_routing_cases() -> None:
    assert len(CASES) >= 30


def test_route_paths_name_the_matched_nodes(settings: AlertSettings) -> None:
    matches = route_matches(settings, {"severity": "warning", "cues": "legal_threat", "lang": "de"})
    assert [m.route.path for m in matches] == [
        "alerts.route.routes[2].routes[0]",
        "alerts.route.routes[3]",
    ]


def test_children_inherit_timers() -> None:
    settings = settings_for(
        make_config(
            {
                "receivers": [{"name": "a"}, {"name": "b"}],
                "route": {
                    "receiver": "a",
                    "group_wait": "10s",
                    "group_interval": "2m",
                    "routes": [
                        {"match": {"severity": "critical"}, "receiver": "b", "group_wait": 0}
                    ],
                },
            }
        )
    )
    (match,) = route_matches(settings, {"severity": "critical"})
    assert (match.receiver, match.route.group_wait, match.route.group_interval) == ("b", 0.0, 120.0)
    (root,) = route_matches(settings, {"severity": "warning"})
    assert (root.receiver, root.route.group_wait) == ("a", 10.0)


MATCHER_CASES = [
    ("severity=critical", {"severity": "critical"}, True),
    ("severity=critical", {"severity": "warning"}, False),
    ("lang!=en", {"lang": "de"}, True),
    ("lang!=en", {}, True),
    ("brand=~Ac.*", {"brand": "Acme"}, True),
    ("brand=~Ac", {"brand": "Acme"}, False),  # regexes are anchored
    ("brand!~Ac.*", {"brand": "Acme"}, False),
    ("cues=legal_threat", {"cues": "refund,legal_threat"}, True),
    ("cues!=legal_threat", {"cues": "refund,legal_threat"}, False),
    ("cues=~legal_.*", {"cues": "refund,legal_threat"}, True),
    ("cues=", {"cues": ""}, True),
    ("source=", {}, True),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHER_CASES)
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert Matcher.parse(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["severity", "9x=1", "brand=~(unclosed"])
def test_bad_matchers_are_rejected(text: str) -> None:
    with pytest.raises(MatcherError):
        Matcher.parse(text)


def test_defaults_without_alerts_section() -> None:
    settings = settings_for(make_config())
    assert list(settings.receivers) == [DEFAULT_RECEIVER]
    assert settings.receivers[DEFAULT_RECEIVER].channels == ()
    assert [r.name for r in route_for(settings, {"severity": "critical"})] == [DEFAULT_RECEIVER]
    assert evaluate(settings, event(severity="warning")) is not None
    assert evaluate(settings, event(severity="info")) is None


def test_legal_threats_only_to_legal_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(
            {
                "receivers": [{"name": "pr-oncall"}, {"name": "legal-mailbox", "team": "legal"}],
                "route": {
                    "receiver": "pr-oncall",
                    "routes": [{"matchers": ["cues=legal_threat"], "receiver": "legal-mailbox"}],
                },
            }
        )
    text = str(caught.value)
    assert "alerts.route.routes[0]" in text and "legal" in text and "PR/community" in text


def test_legal_copied_with_continue_is_accepted() -> None:
    config = make_config(
        {
            "receivers": [{"name": "pr-oncall"}, {"name": "legal-mailbox", "team": "legal"}],
            "route": {
                "receiver": "pr-oncall",
                "routes": [
                    {"matchers": ["cues=legal_threat"], "receiver": "pr-oncall", "continue": True},
                    {"matchers": ["cues=legal_threat"], "receiver": "legal-mailbox"},
                ],
            },
        }
    )
    names = [r.name for r in route_for(settings_for(config), {"cues": "legal_threat"})]
    assert names == ["pr-oncall", "legal-mailbox"]


def test_a_legal_only_root_is_caught_by_probing() -> None:
    with pytest.raises(ConfigError, match="reaches only legal receivers"):
        make_config({"receivers": [{"name": "counsel", "team": "legal"}]})


@pytest.mark.parametrize(
    ("alerts", "needle"),
    [
        ({"route": {"receiver": "nobody"}}, "unknown receiver 'nobody'"),
        ({"receivers": [{"name": "a", "apprise": ["not a url"]}]}, "not an Apprise URL"),
        ({"receivers": [{"name": "a", "webhooks": ["ftp://x"]}]}, "http(s) URL"),
        ({"receivers": [{"name": "a", "escalate_to": "b"}]}, "unknown receiver 'b'"),
        ({"rules": [{"name": "r", "min_severity": "huge"}]}, "unknown severity"),
        ({"rules": [{"name": "r", "matchers": ["sev"]}]}, "cannot read matcher"),
        ({"route": {"group_wait": "soon"}}, "cannot read duration"),
        (
            {"receivers": [{"name": "a", "quiet_hours": {"start": "25:00", "end": "07:00"}}]},
            "no such time",
        ),
        (
            {
                "receivers": [
                    {
                        "name": "a",
                        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Base"},
                    }
                ]
            },
            "unknown time zone",
        ),
        ({"digests": [{"receiver": "pr-oncall", "every": "hourly"}]}, "'daily' or 'weekly'"),
        ({"recievers": []}, "did you mean 'receivers'"),
    ],
)
def test_config_problems_name_the_key(alerts: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(alerts)
    assert needle in str(caught.value)


def test_rule_shorthands_and_labels() -> None:
    settings = settings_for(
        make_config(
            {
                "rules": [
                    {
                        "name": "legal",
                        "cues": ["legal_threat"],
                        "min_severity": "info",
                        "labels": {"team": "pr"},
                    },
                    {"name": "german", "languages": ["de"], "min_risk": 0.5},
                    {"name": "rivals", "competitor": True, "min_severity": "critical"},
                ]
            }
        )
    )
    legal = evaluate(settings, event(severity="info", cues=("legal_threat",)))
    assert legal is not None and legal.labels["team"] == "pr" and legal.labels["rule"] == "legal"
    assert evaluate(settings, event(lang="de", risk=0.4)) is None
    german = evaluate(settings, event(lang="de", risk=0.7))
    assert german is not None and german.rule.name == "german"
    assert evaluate(settings, event(lang="en")) is None
    assert evaluate(settings, event(competitor=True, severity="critical", lang="en")) is not None
    assert evaluate(settings, event(competitor=True, severity="warning", lang="en")) is None


def test_channel_urls_keep_env_references_and_mask_them() -> None:
    settings = settings_for(
        make_config(
            {
                "receivers": [
                    {
                        "name": "pr-oncall",
                        "apprise": [
                            "mailto://bot:${SMTP_PASSWORD}@mail.example.com?to=pr@example.com"
                        ],
                        "webhooks": [{"url": "https://hooks.example.com/gs"}],
                    }
                ]
            }
        )
    )
    email, hook = settings.receivers["pr-oncall"].channels
    assert email.format == "html" and email.env_names == ("SMTP_PASSWORD",)
    assert "${SMTP_PASSWORD}" in email.url and "***" in email.display()
    assert hook.kind == "webhook" and hook.secret_env == "GROUNDSWELL_WEBHOOK_SECRET"
