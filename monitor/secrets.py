"""Secrets come from the environment or from a file outside the repository, never from config.

The config names a secret (``client_secret_env = "REDDIT_CLIENT_SECRET"``); this module resolves it.
``GROUNDSWELL_SECRETS_FILE`` may point at a ``KEY=value`` file (mode 0600 recommended) for hosts
where environment variables are awkward. Values are wrapped so they never end up in logs or reprs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["Secret", "get_secret", "redact"]

SECRETS_FILE_ENV = "GROUNDSWELL_SECRETS_FILE"


class Secret(str):
    """A string that does not show itself in ``repr`` (and so not in logs or tracebacks)."""

    def __repr__(self) -> str:
        return "Secret('***')"


def _file_values(environ: Mapping[str, str]) -> dict[str, str]:
    location = environ.get(SECRETS_FILE_ENV)
    if not location:
        return {}
    values: dict[str, str] = {}
    try:
        lines = Path(location).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def get_secret(name: str, environ: Mapping[str, str] | None = None) -> Secret | None:
    """The secret named ``name`` from the environment, else from the secrets file, else None."""
    env = os.environ if environ is None else environ
    value = env.get(name)
    if value is None:
        value = _file_values(env).get(name)
    return Secret(value) if value else None


def redact(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of any secret value in ``text`` (for error messages and logs)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
