"""Shared fixtures for the review UI tests: a seeded archive with one user per role.

Test modules import the ``*_fixture`` functions; pytest knows them by their ``name=``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from monitor.config import Config, parse_config
from monitor.store import Store
from monitor.web.app import create_app
from monitor.web.auth import add_user, get_user
from monitor.web.pages import SESSION_COOKIE
from monitor.web.sample import SampleArchive, seed

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
SECRET = "test-secret-" + "k" * 32
USERS = {"alice": "admin", "rita": "reviewer", "vic": "viewer", "audrey": "auditor"}
CONFIG = parse_config(
    {
        "brands": [
            {"name": "Aurora Air", "competitors": ["Nimbus Airlines"], "languages": ["en", "de"]},
            {"name": "Nimbus Airlines"},
        ],
        "web": {"cookie_secure": True},
    },
    validate_sources=False,
)


@pytest.fixture(scope="session", name="web_template")
def web_template_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleArchive]:
    """Built once per run: a seeded archive with four users (hashing is deliberately slow)."""
    path = tmp_path_factory.mktemp("web") / "template.db"
    with Store.open(path) as store:
        sample = seed(store, NOW)
        for name, role in USERS.items():
            add_user(store, name, PASSWORD, role)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path, sample


@pytest.fixture(name="web_db")
def web_db_fixture(
    tmp_path: Path, web_template: tuple[Path, SampleArchive]
) -> tuple[Path, SampleArchive]:
    """A private copy of the seeded archive for one test."""
    target = tmp_path / "archive.db"
    shutil.copy(web_template[0], target)
    return target, web_template[1]


@pytest.fixture(name="web_app")
def web_app_fixture(web_db: tuple[Path, SampleArchive]) -> Starlette:
    return make_app(web_db[0])


def make_app(path: Path, config: Config = CONFIG) -> Starlette:
    return create_app(config, path, secret=SECRET, clock=lambda: NOW)


@pytest.fixture(name="anon")
def anon_fixture(web_app: Starlette) -> Iterator[TestClient]:
    with TestClient(web_app, base_url="https://testserver") as client:
        yield client


def signed_in(app: Starlette, name: str) -> TestClient:
    """A client carrying a valid session for ``name`` (the login form is tested on its own)."""
    web = app.state.web
    user = get_user(web.store(), name)
    if user is None:
        raise LookupError(name)
    client = TestClient(app, base_url="https://testserver")
    client.cookies.set(SESSION_COOKIE, web.codec.dumps(user), domain="testserver.local")
    return client


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The CSRF token of the forms on ``path`` (which also sets the browser's CSRF cookie)."""
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    if not found:
        raise AssertionError(f"no CSRF token on {path}: {page.status_code}")
    return found.group(1)
