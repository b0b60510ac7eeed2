"""Users, password hashes, session cookies, CSRF tokens, the login limiter, [web] settings."""

from __future__ import annotations

import pytest

from monitor.config import Problems
from monitor.store import Store
from monitor.web.auth import (
    LoginLimiter,
    SessionCodec,
    UserError,
    add_user,
    authenticate,
    csrf_token,
    ensure_user,
    list_users,
    remove_user,
    valid_csrf,
)
from monitor.web.settings import WebSettings, parse_section


def test_users_are_stored_with_argon2_and_authenticate(store: Store) -> None:
    user = add_user(store, "Alice", "correct horse", "admin")
    (stored,) = store.conn.execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert authenticate(store, "alice", "correct horse") == user  # names are case-insensitive
    assert authenticate(store, "alice", "wrong horse") is None
    assert authenticate(store, "nobody", "correct horse") is None
    with pytest.raises(UserError):
        add_user(store, "alice", "another password", "viewer")
    with pytest.raises(UserError):
        add_user(store, "bob", "short", "viewer")
    with pytest.raises(UserError):
        add_user(store, "bob", "long enough pw", "superuser")
    actions = [r[0] for r in store.conn.execute("SELECT action FROM audit_log")]
    assert actions == ["user.add"]


def test_ensure_user_creates_then_resets(store: Store) -> None:
    first = ensure_user(store, "demo", "demo password", "reviewer")
    second = ensure_user(store, "demo", "new demo password", "admin")
    assert second.role == "admin" and second.session_version == first.session_version + 1
    assert authenticate(store, "demo", "new demo password") is not None
    assert [u.name for u in list_users(store)] == ["demo"]
    remove_user(store, "demo")
    assert list_users(store) == []


def test_session_cookie_is_signed_and_expires(store: Store) -> None:
    user = add_user(store, "alice", "correct horse", "admin")
    codec = SessionCodec("secret-one", lifetime=3600)
    cookie = codec.dumps(user)
    assert codec.loads(cookie) == ("alice", user.session_version)
    assert SessionCodec("secret-two", 3600).loads(cookie) is None
    assert codec.loads(cookie[:-2] + "xx") is None
    assert SessionCodec("secret-one", lifetime=-1).loads(cookie) is None


def test_csrf_tokens_are_bound_to_the_cookie() -> None:
    token = csrf_token("k", "nonce-a")
    assert valid_csrf("k", "nonce-a", token)
    assert not valid_csrf("k", "nonce-b", token)
    assert not valid_csrf("other", "nonce-a", token)
    assert not valid_csrf("k", None, token) and not valid_csrf("k", "nonce-a", "")


def test_login_limiter_window() -> None:
    now = [1000.0]
    limiter = LoginLimiter(attempts=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("ip:1") == 0
        limiter.failed("ip:1", "user:a")
    assert limiter.retry_after("ip:1") == pytest.approx(60)
    assert limiter.retry_after("ip:2", "user:a") > 0  # the name is limited from anywhere
    now[0] += 61
    assert limiter.retry_after("ip:1", "user:a") == 0
    limiter.failed("ip:1")
    limiter.succeeded("ip:1")
    assert limiter.retry_after("ip:1") == 0


def test_web_settings_parse_and_report_problems() -> None:
    problems = Problems()
    parsed = parse_section(
        {"port": 9000, "session_lifetime": "30m", "cookie_secure": False, "colour": "red"}, problems
    )
    assert parsed == WebSettings(port=9000, session_lifetime=1800.0, cookie_secure=False)
    assert [p.path for p in problems.items] == ["web.colour"]
    problems = Problems()
    parse_section(
        {"port": 70000, "session_lifetime": "soon", "translate_url": "https://x/"}, problems
    )
    assert {p.path for p in problems.items} == {
        "web.port",
        "web.session_lifetime",
        "web.translate_url",
    }
