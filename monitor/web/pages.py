"""How a page is served: the per-app state, the request context, and the view/action wrappers.

Views run in a worker thread with a per-thread SQLite connection. Every request is checked for a
signed session; anonymous requests are sent to the login page. Actions (POST forms) are refused
without a valid CSRF token, and refused for roles that may not act (viewers and auditors).
Auditors' pages read through a connection opened read-only (``mode=ro``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from monitor.config import Config
from monitor.store import Store
from monitor.web.auth import LoginLimiter, SessionCodec, User, csrf_token, get_user, valid_csrf
from monitor.web.formatting import FILTERS
from monitor.web.settings import WebSettings

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "Ctx",
    "Forbidden",
    "WebState",
    "action",
    "safe_next",
    "view",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "gs_session"
CSRF_COOKIE = "gs_csrf"
TEMPLATES = Path(__file__).parent / "templates"


class Forbidden(Exception):
    """The signed-in user's role may not do this."""


class WebState:
    """Everything the app keeps between requests (no module-level state)."""

    def __init__(
        self,
        config: Config,
        settings: WebSettings,
        db_path: str,
        secret: str,
        clock: Callable[[], datetime],
    ):
        self.config = config
        self.settings = settings
        self.db_path = db_path
        self.secret = secret
        self.clock = clock
        self.codec = SessionCodec(secret, settings.session_lifetime)
        self.limiter = LoginLimiter(
            settings.login_attempts, settings.login_window, lambda: clock().timestamp()
        )
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,  # post texts are untrusted HTML: escape everything, always
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(FILTERS)
        self._local = threading.local()
        self._opened: list[Store] = []
        self._lock = threading.Lock()

    def store(self, readonly: bool = False) -> Store:
        """This thread's connection to the archive (read-only for auditors)."""
        attr = "ro" if readonly else "rw"
        found = getattr(self._local, attr, None)
        if found is None:
            found = Store.open(self.db_path, readonly=readonly, migrate=False)
            setattr(self._local, attr, found)
            with self._lock:
                self._opened.append(found)
        return found

    def close(self) -> None:
        with self._lock:
            for store in self._opened:
                try:
                    store.close()
                except sqlite3.Error:
                    log.debug("could not close a connection", exc_info=True)
            self._opened.clear()

    def user_for(self, request: Request) -> User | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        found = self.codec.loads(cookie)
        if found is None:
            return None
        name, version = found
        user = get_user(self.store(), name)
        if user is None or user.session_version != version:
            return None
        return user


@dataclass(frozen=True)
class Ctx:
    """One request as a view sees it."""

    web: WebState
    request: Request
    user: User
    nonce: str

    @property
    def store(self) -> Store:
        """The archive for reading: read-only for auditors."""
        return self.web.store(readonly=self.user.read_only)

    @property
    def writer(self) -> Store:
        if not self.user.can_act:
            raise Forbidden(f"role {self.user.role} cannot change anything")
        return self.web.store()

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return render(
            self.web, self.request, template, self.nonce, status_code, user=self.user, **context
        )

    def redirect(self, path: str, notice: str = "", error: str = "") -> RedirectResponse:
        params = {k: v for k, v in (("notice", notice), ("error", error)) if v}
        sep = "&" if "?" in path else "?"
        return RedirectResponse(path + (sep + urlencode(params) if params else ""), status_code=303)


def render(
    web: WebState,
    request: Request,
    template: str,
    nonce: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("user", None)
    html = web.env.get_template(template).render(
        request=request,
        csrf_token=csrf_token(web.secret, nonce),
        notice=request.query_params.get("notice", "")[:300],
        error_notice=request.query_params.get("error", "")[:300],
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def request_nonce(request: Request) -> str:
    return str(request.scope.get("state", {}).get("csrf_nonce", ""))


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths are followed after login or an action (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _forbidden(web: WebState, request: Request, user: User | None, message: str) -> Response:
    return render(
        web, request, "error.html", request_nonce(request), 403, user=user, message=message
    )


def view(func: Callable[[Ctx], Response]) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in users; anonymous visitors are sent to the login page."""

    def run(request: Request) -> Response:
        web: WebState = request.app.state.web
        user = web.user_for(request)
        if user is None:
            return _login_redirect(request)
        try:
            return func(Ctx(web, request, user, request_nonce(request)))
        except Forbidden as exc:
            return _forbidden(web, request, user, str(exc))

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(run, request)

    endpoint.__name__ = func.__name__
    return endpoint


def action(
    func: Callable[[Ctx, FormData], Response], *, anonymous: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """A form submission: needs a valid CSRF token, a session, and a role that may act."""

    def run(request: Request, form: FormData) -> Response:
        web: WebState = request.app.state.web
        user = web.user_for(request)
        if user is None:
            return _login_redirect(request)
        if not user.can_act:
            return _forbidden(web, request, user, f"Your role ({user.role}) can only read.")
        try:
            return func(Ctx(web, request, user, request_nonce(request)), form)
        except Forbidden as exc:
            return _forbidden(web, request, user, str(exc))

    async def endpoint(request: Request) -> Response:
        web: WebState = request.app.state.web
        form = await request.form(max_files=0, max_fields=50)
        token = form.get("csrf_token")
        if not valid_csrf(
            web.secret, request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
        ):
            return render(
                web,
                request,
                "error.html",
                request_nonce(request),
                403,
                user=None,
                message="This form has expired or did not come from this site. "
                "Go back, reload the page and try again.",
            )
        return await run_in_threadpool(run, request, form)

    endpoint.__name__ = func.__name__
    return endpoint
