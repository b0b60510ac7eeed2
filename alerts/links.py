"""Signed acknowledge/resolve links for messages: one click, no login, limited lifetime.

Tokens are ``itsdangerous`` timed signatures over ``{"a": alert_id, "do": action}`` with the
secret named by ``alerts.link_secret_env``. Without that secret messages carry no links (the CLI
command is shown instead).
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from alerts.settings import AlertSettings
from monitor.secrets import get_secret

__all__ = ["ACTIONS", "LinkClaim", "LinkError", "action_link", "make_token", "verify_token"]

ACTIONS = ("ack", "resolve")
_SALT = "groundswell.alert-link.v1"


class LinkError(ValueError):
    """A link token that is forged, expired or for an unknown action."""


@dataclass(frozen=True, slots=True)
class LinkClaim:
    alert_id: int
    action: str


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def make_token(secret: str, alert_id: int, action: str) -> str:
    """A signed token for one action on one alert."""
    if action not in ACTIONS:
        raise LinkError(f"unknown action {action!r}")
    return str(_serializer(secret).dumps({"a": alert_id, "do": action}))


def verify_token(secret: str, token: str, max_age: float) -> LinkClaim:
    """Check a token's signature and age; raises :class:`LinkError`."""
    try:
        data = _serializer(secret).loads(token, max_age=int(max_age))
    except SignatureExpired:
        raise LinkError("this link has expired; acknowledge from the web inbox instead") from None
    except BadSignature:
        raise LinkError("this link is not valid") from None
    if not isinstance(data, dict) or data.get("do") not in ACTIONS:
        raise LinkError("this link is not valid")
    return LinkClaim(int(data["a"]), str(data["do"]))


def action_link(settings: AlertSettings, alert_id: int, action: str) -> str | None:
    """``{base_url}/alerts/{id}/{action}?token=…``, or None when no link secret is configured."""
    secret = get_secret(settings.link_secret_env)
    if secret is None:
        return None
    return f"{settings.base_url}/alerts/{alert_id}/{action}?token={make_token(secret, alert_id, action)}"
