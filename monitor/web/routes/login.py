"""Sign in and sign out. Failed sign-ins are rate-limited per client address and per user name."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.records import isoformat
from monitor.web.auth import authenticate, new_nonce, valid_csrf
from monitor.web.pages import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    WebState,
    render,
    request_nonce,
    safe_next,
)
from monitor.web.reviews import audit

__all__ = ["routes"]


async def login_form(request: Request) -> Response:
    web: WebState = request.app.state.web
    next_url = safe_next(request.query_params.get("next"))
    return render(web, request, "login.html", request_nonce(request), next_url=next_url, failed="")


def _login(request: Request, name: str, password: str, next_url: str) -> Response:
    web: WebState = request.app.state.web
    client = request.client.host if request.client else "unknown"
    keys = (f"ip:{client}", f"user:{name.strip().casefold()}")
    wait = web.limiter.retry_after(*keys)
    if wait > 0:
        response: Response = render(
            web,
            request,
            "login.html",
            request_nonce(request),
            429,
            next_url=next_url,
            failed=f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds.",
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    store = web.store()
    user = authenticate(store, name, password) if name and password else None
    if user is None:
        web.limiter.failed(*keys)
        return render(
            web,
            request,
            "login.html",
            request_nonce(request),
            401,
            next_url=next_url,
            failed="Wrong user name or password.",
        )
    web.limiter.succeeded(*keys)
    if not store.readonly:
        with store.transaction() as conn:
            conn.execute(
                "UPDATE users SET last_login_at = ? WHERE id = ?", (isoformat(web.clock()), user.id)
            )
            audit(store, user.name, "user.login", f"user:{user.name}", None, {"client": client})
    redirect = RedirectResponse(next_url, status_code=303)
    secure = web.settings.cookie_secure
    redirect.set_cookie(
        SESSION_COOKIE,
        web.codec.dumps(user),
        max_age=int(web.settings.session_lifetime),
        httponly=True,
        secure=secure,
        samesite="lax",
    )
    # A fresh CSRF value after sign-in, so a value planted before it is worth nothing.
    redirect.set_cookie(CSRF_COOKIE, new_nonce(), httponly=True, secure=secure, samesite="strict")
    return redirect


async def login_submit(request: Request) -> Response:
    web: WebState = request.app.state.web
    form = await request.form(max_files=0, max_fields=10)
    token = form.get("csrf_token")
    next_url = safe_next(str(form.get("next") or "/"))
    if not valid_csrf(
        web.secret, request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
    ):
        return render(
            web,
            request,
            "login.html",
            request_nonce(request),
            403,
            next_url=next_url,
            failed="The sign-in form expired. Please try again.",
        )
    name = str(form.get("username") or "")[:64]
    password = str(form.get("password") or "")[:1024]
    return await run_in_threadpool(_login, request, name, password, next_url)


async def logout(request: Request) -> Response:
    web: WebState = request.app.state.web
    form = await request.form(max_files=0, max_fields=10)
    token = form.get("csrf_token")
    if not valid_csrf(
        web.secret, request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
    ):
        return render(
            web, request, "error.html", request_nonce(request), 403, message="Form expired."
        )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, secure=web.settings.cookie_secure)
    return response


def routes() -> list[Route]:
    return [
        Route("/login", login_form, methods=["GET"], name="login"),
        Route("/login", login_submit, methods=["POST"], name="login_submit"),
        Route("/logout", logout, methods=["POST"], name="logout"),
    ]
