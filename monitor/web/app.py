"""The review UI as a Starlette application: ``create_app(config, db_path)``.

Serve it with uvicorn (``groundswell serve``) or mount it in another ASGI server. Pages are
rendered on the server; ``static/`` holds one stylesheet and one small script for keyboard
shortcuts, and every page works without JavaScript.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.config import Config
from monitor.records import utcnow
from monitor.secrets import get_secret
from monitor.store import Store
from monitor.web.auth import new_nonce
from monitor.web.pages import CSRF_COOKIE, WebState
from monitor.web.settings import WebSettings, settings_of

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class SecurityMiddleware:
    """Gives every browser a CSRF cookie and every response strict security headers."""

    def __init__(self, app: ASGIApp, secure: bool):
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = None
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except CookieError:
                    continue
                if CSRF_COOKIE in jar and len(jar[CSRF_COOKIE].value) >= 16:
                    nonce = jar[CSRF_COOKIE].value
        fresh = nonce is None
        nonce = nonce or new_nonce()
        scope.setdefault("state", {})["csrf_nonce"] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", _CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if not any(k == b"cache-control" for k, _ in headers):
                    static = str(scope.get("path", "")).startswith("/static/")
                    headers.append((b"cache-control", b"max-age=3600" if static else b"no-store"))
                if fresh:
                    cookie = f"{CSRF_COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Strict"
                    if self.secure:
                        cookie += "; Secure"
                    headers.append((b"set-cookie", cookie.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secret(settings: WebSettings) -> str:
    value = get_secret(settings.secret_key_env)
    if value:
        return str(value)
    log.warning(
        "no %s set: using a random session key, so sessions end when the server restarts",
        settings.secret_key_env,
    )
    return secrets.token_urlsafe(32)


def create_app(
    config: Config,
    db_path: str | Path,
    *,
    secret: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    settings: WebSettings | None = None,
) -> Starlette:
    """Build the review UI for the archive at ``db_path`` (migrated on start-up if writable).

    Example:
        >>> app = create_app(config, "groundswell.db")
        >>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
    """
    from monitor.web.routes import alerts, dashboard, detail, health, inbox, links, login

    settings = settings or settings_of(config)
    path = str(db_path)
    with Store.open(path) as store:  # creates or migrates the archive once, up front
        log.debug("archive %s at schema version %s", path, store.schema_version())
    state = WebState(config, settings, path, secret or _secret(settings), clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.close()

    routes = [
        *login.routes(),
        *inbox.routes(),
        *detail.routes(),
        *alerts.routes(),
        *links.routes(),
        *dashboard.routes(),
        *health.routes(),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.web = state
    app.add_middleware(SecurityMiddleware, secure=settings.cookie_secure)
    return app


def route_table(app: Starlette) -> list[tuple[str, frozenset[str]]]:
    """(path, methods) of every route: used by tests that check every form needs a CSRF token."""
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            found.append((route.path, frozenset(route.methods or ())))
    return found
