"""``groundswell serve`` and ``groundswell users``: run the review UI and manage its logins."""

from __future__ import annotations

import os
import sys

import click

from monitor.cli_common import (
    EXIT_FAILURE,
    config_option,
    db_option,
    db_path_for,
    load_config_or_exit,
    open_store,
)

__all__ = ["COMMANDS", "serve", "users"]

ROLE_CHOICE = click.Choice(["viewer", "reviewer", "admin", "auditor"])


@click.command()
@config_option
@db_option
@click.option("--host", default=None, help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: [web] port, 8080).")
@click.option(
    "--insecure-cookies",
    is_flag=True,
    help="Send session cookies over plain http (local testing only; default follows [web]).",
)
def serve(
    config_path: str | None,
    db_path: str | None,
    host: str | None,
    port: int | None,
    insecure_cookies: bool,
) -> None:
    """Serve the review web UI (inbox, detail pages, alerts, dashboard) with uvicorn.

    Create a login first with `groundswell users add`. Put the session signing key in the
    environment variable named by [web] secret_key_env (GROUNDSWELL_WEB_SECRET by default).

    Example:

        groundswell users add alice --role admin
        GROUNDSWELL_WEB_SECRET=$(openssl rand -hex 32) groundswell serve --port 8080
    """
    import dataclasses

    import uvicorn

    from monitor.web.app import create_app
    from monitor.web.settings import settings_of

    config = load_config_or_exit(config_path, required=False)
    settings = settings_of(config)
    if insecure_cookies:
        settings = dataclasses.replace(settings, cookie_secure=False)
    path = db_path_for(config, db_path)
    app = create_app(config, path, settings=settings)
    bind_host = host or settings.host
    bind_port = port or settings.port
    click.echo(f"groundswell review UI on http://{bind_host}:{bind_port}/ (archive {path})")
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning")


@click.group()
def users() -> None:
    """Manage the review UI's logins (roles: viewer, reviewer, admin, auditor)."""


def _read_password(password_env: str | None, stdin: bool) -> str:
    if password_env:
        value = os.environ.get(password_env)
        if not value:
            click.echo(f"error: environment variable {password_env} is empty or unset", err=True)
            raise SystemExit(EXIT_FAILURE)
        return value
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users.command("add")
@config_option
@db_option
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, default="viewer", show_default=True)
@click.option("--password-env", default=None, help="Read the password from this env variable.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first stdin line.")
def users_add(
    config_path: str | None,
    db_path: str | None,
    name: str,
    role: str,
    password_env: str | None,
    password_stdin: bool,
) -> None:
    """Create a login; prompts for the password unless told where to read it.

    Example:

        groundswell users add alice --role admin
        printf '%s\\n' "$PW" | groundswell users add bob --role reviewer --password-stdin
    """
    from monitor.web.auth import UserError, add_user

    config = load_config_or_exit(config_path, required=False)
    password = _read_password(password_env, password_stdin)
    with open_store(config, db_path) as store:
        try:
            user = add_user(store, name, password, role)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    click.echo(f"created {user.name} ({user.role})")


@users.command("list")
@config_option
@db_option
def users_list(config_path: str | None, db_path: str | None) -> None:
    """List logins and their roles.

    Example:

        groundswell users list
    """
    from monitor.web.auth import list_users

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path, readonly=True) as store:
        found = list_users(store) if store.db["users"].exists() else []
    if not found:
        click.echo("no users yet; create one with: groundswell users add NAME --role admin")
        return
    for user in found:
        click.echo(f"{user.name}\t{user.role}")


@users.command("passwd")
@config_option
@db_option
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, default=None, help="Also change the role.")
@click.option("--password-env", default=None, help="Read the password from this env variable.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first stdin line.")
def users_passwd(
    config_path: str | None,
    db_path: str | None,
    name: str,
    role: str | None,
    password_env: str | None,
    password_stdin: bool,
) -> None:
    """Set a new password (and optionally a role); the user's open sessions end.

    Example:

        groundswell users passwd alice
    """
    from monitor.web.auth import UserError, set_password

    config = load_config_or_exit(config_path, required=False)
    password = _read_password(password_env, password_stdin)
    with open_store(config, db_path) as store:
        try:
            user = set_password(store, name, password, role)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    click.echo(f"updated {user.name} ({user.role})")


@users.command("remove")
@config_option
@db_option
@click.argument("name")
def users_remove(config_path: str | None, db_path: str | None, name: str) -> None:
    """Delete a login; its sessions stop working immediately.

    Example:

        groundswell users remove bob
    """
    from monitor.web.auth import UserError, remove_user

    config = load_config_or_exit(config_path, required=False)
    with open_store(config, db_path) as store:
        try:
            remove_user(store, name)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from None
    click.echo(f"removed {name}")


COMMANDS = [serve, users]
