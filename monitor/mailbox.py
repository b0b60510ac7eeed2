"""A local mailbox (SMTP on 127.0.0.1) and a webhook log: where the demo's alerts really arrive."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import socket
import threading
import warnings
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

from monitor.loopback import LoopbackServer, Reply, Request

__all__ = ["LocalMailbox", "WebhookLog", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalMailbox:
    """aiosmtpd on 127.0.0.1 requiring ``user``/``password``; messages go to an mbox file too."""

    def __init__(self, path: Path, user: str, password: str, port: int | None = None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from aiosmtpd.controller import Controller
            from aiosmtpd.smtp import AuthResult, LoginPassword

        self.path = path
        self.port = port or free_port()
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        box = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                with box._lock:
                    box.messages.append(message)
                    store = mailbox.mbox(str(box.path))
                    try:
                        store.add(message)
                        store.flush()
                    finally:
                        store.close()
                return "250 OK"

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> Any:
            ok = (
                isinstance(data, LoginPassword)
                and data.login == user.encode()
                and data.password == password.encode()
            )
            return AuthResult(success=ok)

        self._controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
        )

    def __enter__(self) -> LocalMailbox:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(m.get("Subject", "")) for m in self.messages]


class WebhookLog:
    """A loopback webhook receiver that checks the HMAC signature and appends JSON lines to a file."""

    def __init__(self, path: Path, secret: str):
        self.path = path
        self.secret = secret
        self.payloads: list[dict[str, Any]] = []
        self.arrivals: list[datetime] = []  # when each payload arrived (wall clock, UTC)
        self.bad_signatures = 0
        self._lock = threading.Lock()
        self.server = LoopbackServer({"/hook": self._receive})

    @property
    def url(self) -> str:
        return self.server.url("/hook")

    def _receive(self, request: Request) -> Reply:
        from alerts.channels import verify_signature

        ok = verify_signature(self.secret, request.headers, request.body)
        try:
            payload = json.loads(request.body)
        except ValueError:
            return Reply(400, b"invalid JSON")
        with self._lock:
            if not ok:
                self.bad_signatures += 1
                return Reply(401, b"bad signature")
            self.payloads.append(payload)
            self.arrivals.append(datetime.now(UTC))
            with self.path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return Reply(200, b"ok", etag=False)

    def __enter__(self) -> WebhookLog:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
