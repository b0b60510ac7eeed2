"""The ``[web]`` section of groundswell.toml: where the review UI listens and how it keeps sessions.

Example::

    [web]
    host = "127.0.0.1"
    port = 8080
    secret_key_env = "GROUNDSWELL_WEB_SECRET"   # name of the env var holding the signing key
    cookie_secure = true                       # false only for plain-http local testing
    session_lifetime = "8h"
    page_size = 50
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.config import Problems, parse_interval

__all__ = ["WebSettings", "parse_section", "settings_of"]


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Settings of the review UI; every field has a safe default."""

    host: str = "127.0.0.1"
    port: int = 8080
    secret_key_env: str = "GROUNDSWELL_WEB_SECRET"
    cookie_secure: bool = True
    session_lifetime: float = 8 * 3600.0
    login_attempts: int = 5
    login_window: float = 300.0
    page_size: int = 50
    metrics_token_env: str = "GROUNDSWELL_METRICS_TOKEN"
    translate_url: str = "https://translate.google.com/?sl={lang}&tl=en&op=translate&text={text}"
    warning_risk: float = 0.5
    critical_risk: float = 0.8


_KEYS = frozenset(
    {
        "host",
        "port",
        "secret_key_env",
        "cookie_secure",
        "session_lifetime",
        "login_attempts",
        "login_window",
        "page_size",
        "metrics_token_env",
        "translate_url",
        "warning_risk",
        "critical_risk",
    }
)


def _duration(
    raw: Mapping[str, Any], key: str, path: str, default: float, problems: Problems
) -> float:
    value = problems.expect(raw, key, (str, int, float), path, default=default)
    try:
        return parse_interval(value)
    except ValueError as exc:
        problems.add(f"{path}.{key}", str(exc), "use e.g. '8h' or '30m'")
        return default


def parse_section(raw: Mapping[str, Any], problems: Problems, path: str = "web") -> WebSettings:
    """Validate the ``[web]`` table; every problem is recorded with its key path."""
    d = WebSettings()
    problems.unknown_keys(raw, _KEYS, path)
    port = problems.expect(raw, "port", int, path, default=d.port)
    if not 0 < port < 65536:
        problems.add(f"{path}.port", f"port {port} out of range", "use 1..65535")
        port = d.port
    page_size = problems.expect(raw, "page_size", int, path, default=d.page_size)
    if not 5 <= page_size <= 500:
        problems.add(f"{path}.page_size", "must be between 5 and 500")
        page_size = d.page_size
    attempts = problems.expect(raw, "login_attempts", int, path, default=d.login_attempts)
    if attempts < 1:
        problems.add(f"{path}.login_attempts", "must be at least 1")
        attempts = d.login_attempts
    translate = problems.expect(raw, "translate_url", str, path, default=d.translate_url)
    if "{text}" not in translate:
        problems.add(f"{path}.translate_url", "must contain {text}", "e.g. https://...?q={text}")
        translate = d.translate_url
    warning = float(problems.expect(raw, "warning_risk", float, path, default=d.warning_risk))
    critical = float(problems.expect(raw, "critical_risk", float, path, default=d.critical_risk))
    if not 0 <= warning <= critical <= 1:
        problems.add(f"{path}.warning_risk", "need 0 <= warning_risk <= critical_risk <= 1")
        warning, critical = d.warning_risk, d.critical_risk
    return WebSettings(
        host=problems.expect(raw, "host", str, path, default=d.host),
        port=port,
        secret_key_env=problems.expect(raw, "secret_key_env", str, path, default=d.secret_key_env),
        cookie_secure=problems.expect(raw, "cookie_secure", bool, path, default=d.cookie_secure),
        session_lifetime=_duration(raw, "session_lifetime", path, d.session_lifetime, problems),
        login_attempts=attempts,
        login_window=_duration(raw, "login_window", path, d.login_window, problems),
        page_size=page_size,
        metrics_token_env=problems.expect(
            raw, "metrics_token_env", str, path, default=d.metrics_token_env
        ),
        translate_url=translate,
        warning_risk=warning,
        critical_risk=critical,
    )


def settings_of(config: Any) -> WebSettings:
    """The web settings of a config, defaults when the section is absent or was not parsed."""
    section = config.section("web") if config is not None else None
    if isinstance(section, WebSettings):
        return section
    if isinstance(section, Mapping) and section:
        problems = Problems()
        parsed = parse_section(dict(section), problems)
        return parsed
    return WebSettings()
