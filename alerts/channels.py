"""Channels: how a rendered message reaches people.

Every channel type registers in :data:`CHANNELS`: ``apprise`` (email, Slack, Teams, Telegram,
Discord, Matrix, generic webhooks … by URL), ``webhook`` (our JSON payload, versioned and signed
with HMAC-SHA256), and ``log`` (receivers without channels: the message goes to the log and stays
readable in the outbox). A channel raises :class:`ChannelError` on failure; delivery records it
and retries. Secrets in URLs are ``${ENV}`` references expanded here, at send time, and scrubbed
from any error text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from alerts.settings import ChannelSpec
from monitor import __version__
from monitor.secrets import get_secret, redact

__all__ = [
    "CHANNELS",
    "AppriseChannel",
    "Channel",
    "ChannelError",
    "LogChannel",
    "MissingSecretError",
    "WebhookChannel",
    "expand_url",
    "sign_payload",
    "verify_signature",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Groundswell-Signature"
TIMESTAMP_HEADER = "X-Groundswell-Timestamp"
USER_AGENT = f"groundswell/{__version__} (+alerts)"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_IDEMPOTENT_APPRISE = ("json", "jsons", "form", "forms", "xml", "xmls")
_EMAIL_APPRISE = ("mailto", "mailtos")


class ChannelError(Exception):
    """A delivery attempt that failed; the message is safe to store (no secrets)."""


class MissingSecretError(ChannelError):
    """A ``${ENV}`` reference (or a webhook secret) that is not set."""


class Channel(Protocol):
    def send(self, spec: ChannelSpec, message: Mapping[str, Any], key: str) -> None: ...

    def close(self) -> None: ...


def expand_url(url: str, environ: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """Replace ``${NAME}`` by the secret's value; returns the URL and the values used."""
    values: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        secret = get_secret(match.group(1), environ)
        if secret is None:
            raise MissingSecretError(f"environment variable {match.group(1)} is not set")
        values.append(str(secret))
        return str(secret)

    return _ENV_REF.sub(substitute, url), values


def sign_payload(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"{timestamp}." + body``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = 300.0,
) -> bool:
    """Check a received webhook: signature matches and the timestamp is recent."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    signature = lower.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit() or not signature:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign_payload(secret, timestamp, body), signature)


class LogChannel:
    """No channel configured: the message is logged (and kept in the outbox)."""

    def __init__(self, timeout: float, environ: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout

    def send(self, spec: ChannelSpec, message: Mapping[str, Any], key: str) -> None:
        log.info("alert notification (no channel configured): %s", message.get("title", ""))

    def close(self) -> None:
        return


class WebhookChannel:
    """POST the versioned JSON payload, signed, with an ``Idempotency-Key`` header."""

    def __init__(self, timeout: float, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_keepalive_connections=16, max_connections=32),
        )

    def send(self, spec: ChannelSpec, message: Mapping[str, Any], key: str) -> None:
        url, used = expand_url(spec.url, self.environ)
        body = json.dumps(message["data"], ensure_ascii=False, sort_keys=True).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Groundswell-Event": str(message["data"].get("type", "")),
            "X-Groundswell-Delivery": key,
            TIMESTAMP_HEADER: timestamp,
        }
        if spec.secret_env:
            secret = get_secret(spec.secret_env, self.environ)
            if secret is None:
                raise MissingSecretError(
                    f"webhook secret {spec.secret_env} is not set (or set secret_env = '')"
                )
            headers[SIGNATURE_HEADER] = sign_payload(secret, timestamp, body)
            used.append(str(secret))
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise ChannelError(f"timeout posting to {spec.display()}") from None
        except httpx.HTTPError as exc:
            raise ChannelError(
                redact(f"{type(exc).__name__} posting to {spec.display()}: {exc}", used)
            ) from None
        if not 200 <= response.status_code < 300:
            raise ChannelError(f"HTTP {response.status_code} from {spec.display()}")

    def close(self) -> None:
        self.client.close()


class AppriseChannel:
    """Any Apprise URL; the body format follows the receiver (HTML for email)."""

    def __init__(self, timeout: float, environ: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout
        self.environ = environ
        # Apprise reports failures through its logger; capturing is process-wide, so one at a time.
        self._lock = threading.Lock()

    def _url(self, spec: ChannelSpec, key: str) -> tuple[str, list[str]]:
        url, used = expand_url(spec.url, self.environ)
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query.setdefault("cto", f"{self.timeout:g}")
        query.setdefault("rto", f"{self.timeout:g}")
        if parts.scheme.lower() in _IDEMPOTENT_APPRISE:
            query.setdefault("+Idempotency-Key", key)
        elif parts.scheme.lower() in _EMAIL_APPRISE:
            # SMTP has no idempotency: a message sent again after a lost acknowledgement carries
            # the same key, so mail filters and people can tell it is the same notification.
            query.setdefault("+X-Idempotency-Key", key)
        return urlunsplit(parts._replace(query=urlencode(query))), used

    def send(self, spec: ChannelSpec, message: Mapping[str, Any], key: str) -> None:
        import apprise

        url, used = self._url(spec, key)
        body = {
            "html": message.get("html"),
            "markdown": message.get("markdown"),
            "text": message.get("text"),
        }.get(spec.format) or str(message.get("text", ""))
        body_format = {
            "html": apprise.NotifyFormat.HTML,
            "markdown": apprise.NotifyFormat.MARKDOWN,
        }.get(spec.format, apprise.NotifyFormat.TEXT)
        notify_type = (
            apprise.NotifyType.FAILURE
            if message.get("severity") == "critical"
            else apprise.NotifyType.WARNING
            if message.get("severity") == "warning"
            else apprise.NotifyType.INFO
        )
        asset = apprise.AppriseAsset(storage_mode="memory", async_mode=False)
        sender = apprise.Apprise(asset=asset)
        if not sender.add(url):
            raise ChannelError(f"Apprise cannot use URL {spec.display()}")
        with self._lock, apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            ok = sender.notify(
                body=body,
                title=str(message.get("title", "")),
                body_format=body_format,
                notify_type=notify_type,
            )
            detail = captured.getvalue().strip().splitlines()
        if not ok:
            reason = detail[-1] if detail else "no detail"
            raise ChannelError(
                redact(f"Apprise could not deliver to {spec.display()}: {reason}", used)
            )

    def close(self) -> None:
        return


CHANNELS: Mapping[str, type[AppriseChannel] | type[WebhookChannel] | type[LogChannel]] = {
    "apprise": AppriseChannel,
    "webhook": WebhookChannel,
    "log": LogChannel,
}
