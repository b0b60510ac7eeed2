"""Signed acknowledge/resolve links from alert messages: one click from the email, no login.

The link opens a confirmation page (mail scanners that prefetch links change nothing); its form
posts the same signed token back with a CSRF token. The token names one alert and one action,
expires (``alerts.link_max_age``), and is checked again on submit.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.secrets import get_secret
from monitor.web.auth import valid_csrf
from monitor.web.pages import CSRF_COOKIE, WebState, render, request_nonce

__all__ = ["routes"]

_VERBS = {"ack": "Acknowledge", "resolve": "Resolve"}


def _claim(web: WebState, alert_id: int, action: str, token: str) -> str | None:
    """None when the token is valid for this alert and action, else the reason it is not."""
    from alerts.links import LinkError, verify_token
    from alerts.settings import settings_for

    settings = settings_for(web.config)
    secret = get_secret(settings.link_secret_env)
    if secret is None:
        return "links are not enabled on this server"
    try:
        claim = verify_token(secret, token, settings.link_max_age)
    except LinkError as exc:
        return str(exc)
    if claim.alert_id != alert_id or claim.action != action:
        return "this link is not valid"
    return None


def _error(web: WebState, request: Request, message: str, status: int = 400) -> Response:
    return render(web, request, "error.html", request_nonce(request), status, message=message)


async def confirm(request: Request) -> Response:
    web: WebState = request.app.state.web
    alert_id = int(request.path_params["alert_id"])
    action = str(request.path_params["action"])
    token = request.query_params.get("token", "")
    if action not in _VERBS:
        return _error(web, request, "unknown action", 404)
    problem = await run_in_threadpool(_claim, web, alert_id, action, token)
    if problem:
        return _error(web, request, problem)
    row = (
        web.store()
        .conn.execute("SELECT brand, kind, severity, status FROM alerts WHERE id = ?", (alert_id,))
        .fetchone()
    )
    if row is None:
        return _error(web, request, f"alert {alert_id} does not exist", 404)
    return render(
        web,
        request,
        "link.html",
        request_nonce(request),
        alert_id=alert_id,
        action=action,
        verb=_VERBS[action],
        token=token,
        brand=row[0],
        kind=row[1],
        severity=row[2],
        status=row[3],
        done=False,
    )


async def submit(request: Request) -> Response:
    from alerts.lifecycle import ack, resolve

    web: WebState = request.app.state.web
    alert_id = int(request.path_params["alert_id"])
    action = str(request.path_params["action"])
    form = await request.form(max_files=0, max_fields=10)
    csrf = form.get("csrf_token")
    if not valid_csrf(
        web.secret, request.cookies.get(CSRF_COOKIE), csrf if isinstance(csrf, str) else None
    ):
        return _error(
            web, request, "This form has expired. Open the link from the message again.", 403
        )
    token = form.get("token")
    if action not in _VERBS or not isinstance(token, str):
        return _error(web, request, "this link is not valid")
    problem = await run_in_threadpool(_claim, web, alert_id, action, token)
    if problem:
        return _error(web, request, problem)
    change = ack if action == "ack" else resolve

    def apply() -> None:
        change(web.store(), alert_id, "link", via="link", now=web.clock())

    try:
        await run_in_threadpool(apply)
    except (LookupError, ValueError) as exc:
        return _error(web, request, str(exc))
    return render(
        web,
        request,
        "link.html",
        request_nonce(request),
        alert_id=alert_id,
        action=action,
        verb=_VERBS[action],
        token="",
        brand="",
        kind="",
        severity="",
        status="",
        done=True,
    )


def routes() -> list[Route]:
    return [
        Route("/alerts/{alert_id:int}/{action}", confirm, methods=["GET"], name="alert_link"),
        Route(
            "/alerts/{alert_id:int}/{action}", submit, methods=["POST"], name="alert_link_submit"
        ),
    ]
