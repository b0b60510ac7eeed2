"""Users, roles, password hashing, signed session cookies, CSRF tokens and login rate limiting.

Roles: ``viewer`` reads; ``reviewer`` also acts on posts and alerts; ``admin`` does all of that;
``auditor`` reads only, and the UI opens the archive read-only (``mode=ro``) for its requests.
Passwords are stored as argon2id hashes. A session is a cookie signed with the server's secret
key that names the user and the user's ``session_version``: changing a password or removing the
user bumps the version, which ends every open session at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from monitor.records import isoformat, utcnow
from monitor.store import Store

__all__ = [
    "ACTING_ROLES",
    "ROLES",
    "LoginLimiter",
    "SessionCodec",
    "User",
    "UserError",
    "add_user",
    "authenticate",
    "csrf_token",
    "ensure_user",
    "get_user",
    "hash_password",
    "list_users",
    "new_nonce",
    "remove_user",
    "set_password",
    "valid_csrf",
    "verify_password",
]

ROLES = ("viewer", "reviewer", "admin", "auditor")
ACTING_ROLES = frozenset({"reviewer", "admin"})
MIN_PASSWORD = 8


class UserError(ValueError):
    """A user could not be created or changed (bad role, short password, unknown name ...)."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str
    session_version: int = 1

    @property
    def can_act(self) -> bool:
        """Whether this user may change review state, alerts and silences."""
        return self.role in ACTING_ROLES

    @property
    def read_only(self) -> bool:
        """Auditors see everything through a read-only connection."""
        return self.role == "auditor"


def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the parameters are stored in the hash)."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password too short: use at least {MIN_PASSWORD} characters")
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Check a password against a stored hash without raising on mismatch."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A fixed hash checked when the user does not exist, so that timing does not reveal names.
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$Z2nbO8tkQlk9/1P62nlh3A$1K2j6rVRUGbQoUzRz3lArjTwqgGjtCWSljVAgs/atAI"


def _row_user(row: Any) -> User:
    return User(int(row[0]), str(row[1]), str(row[2]), int(row[3]))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise UserError("user names are 1-64 printable characters without spaces")
    return name


def get_user(store: Store, name: str) -> User | None:
    """The user called ``name`` (case-insensitive), or None."""
    row = store.conn.execute(
        "SELECT id, name, role, session_version FROM users WHERE name = ?", (name,)
    ).fetchone()
    return _row_user(row) if row else None


def list_users(store: Store) -> list[User]:
    """Every user, by name."""
    return [
        _row_user(row)
        for row in store.conn.execute(
            "SELECT id, name, role, session_version FROM users ORDER BY name"
        )
    ]


def _audit(store: Store, actor: str, action: str, subject: str, **kw: Any) -> None:
    try:
        from monitor.audit import record
    except ImportError:
        return
    record(store, actor=actor, action=action, subject=subject, **kw)


def add_user(store: Store, name: str, password: str, role: str, actor: str = "system") -> User:
    """Create a user; raises :class:`UserError` when the name is taken or the input is bad."""
    name = _check_name(name)
    _check_role(role)
    hashed = hash_password(password)
    now = isoformat(utcnow())
    with store.transaction() as conn:
        if get_user(store, name) is not None:
            raise UserError(f"user {name!r} already exists")
        conn.execute(
            "INSERT INTO users (name, role, password_hash, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, role, hashed, now, now),
        )
        _audit(store, actor, "user.add", f"user:{name}", after={"role": role})
    user = get_user(store, name)
    if user is None:  # pragma: no cover - inserted just above
        raise UserError(f"user {name!r} vanished")
    return user


def set_password(
    store: Store, name: str, password: str, role: str | None = None, actor: str = "system"
) -> User:
    """Change a user's password (and role); every open session of that user ends."""
    if role is not None:
        _check_role(role)
    hashed = hash_password(password)
    with store.transaction() as conn:
        user = get_user(store, name)
        if user is None:
            raise UserError(f"no user {name!r}")
        conn.execute(
            "UPDATE users SET password_hash = ?, role = ?, session_version = session_version + 1, "
            "updated_at = ? WHERE id = ?",
            (hashed, role or user.role, isoformat(utcnow()), user.id),
        )
        _audit(
            store,
            actor,
            "user.passwd",
            f"user:{user.name}",
            before={"role": user.role},
            after={"role": role or user.role},
        )
    updated = get_user(store, name)
    if updated is None:  # pragma: no cover
        raise UserError(f"no user {name!r}")
    return updated


def remove_user(store: Store, name: str, actor: str = "system") -> None:
    """Delete a user (their sessions stop working on the next request)."""
    with store.transaction() as conn:
        user = get_user(store, name)
        if user is None:
            raise UserError(f"no user {name!r}")
        conn.execute("DELETE FROM users WHERE id = ?", (user.id,))
        _audit(store, actor, "user.remove", f"user:{user.name}", before={"role": user.role})


def ensure_user(store: Store, name: str, password: str, role: str) -> User:
    """Create ``name`` or reset its password and role: how the demo makes its login."""
    if get_user(store, name) is None:
        return add_user(store, name, password, role)
    return set_password(store, name, password, role)


def authenticate(store: Store, name: str, password: str) -> User | None:
    """The user when ``password`` is right, else None (same work whether or not the name exists)."""
    row = store.conn.execute(
        "SELECT id, name, role, session_version, password_hash FROM users WHERE name = ?",
        (name.strip(),),
    ).fetchone()
    if row is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(row[4], password):
        return None
    return _row_user(row)


class SessionCodec:
    """Signs and checks the session cookie: ``{"u": name, "v": session_version}`` with a timestamp."""

    def __init__(self, secret: str, lifetime: float):
        self._serializer = URLSafeTimedSerializer(secret, salt="groundswell.session")
        self.lifetime = lifetime

    def dumps(self, user: User) -> str:
        return self._serializer.dumps({"u": user.name, "v": user.session_version})

    def loads(self, cookie: str) -> tuple[str, int] | None:
        """(name, session_version) from a valid, unexpired cookie, else None."""
        try:
            data = self._serializer.loads(cookie, max_age=int(self.lifetime))
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            return None
        version = data.get("v")
        return (data["u"], int(version)) if isinstance(version, int) else None


def new_nonce() -> str:
    """A fresh random value for the CSRF cookie."""
    return secrets.token_urlsafe(24)


def csrf_token(secret: str, nonce: str) -> str:
    """The form token that matches the browser's CSRF cookie (HMAC, so a cookie alone cannot forge it)."""
    return hmac.new(secret.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def valid_csrf(secret: str, nonce: str | None, token: str | None) -> bool:
    """Whether a submitted form token belongs to this browser's CSRF cookie."""
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, nonce), token)


class LoginLimiter:
    """Sliding-window limit on failed logins, per client address and per user name."""

    def __init__(self, attempts: int, window: float, clock: Callable[[], float]):
        self.attempts = attempts
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> float:
        """Seconds until another attempt is allowed for these keys (0 when allowed now)."""
        wait = 0.0
        for key in keys:
            times = self._recent(key)
            if len(times) >= self.attempts:
                wait = max(wait, self.window - (self._clock() - times[0]))
        return wait

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._recent(key).append(self._clock())
        if len(self._failures) > 10_000:  # bound memory under a spray of names
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
