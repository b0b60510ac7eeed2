"""Shared fixtures: a fresh archive, loopback HTTP servers, recorded payloads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.loopback import LoopbackServer, Reply
from monitor.store import Store
from tests.pg_support import (  # noqa: F401 - PostgreSQL fixtures, registered by import
    pg_archive,
    pg_db,
    pg_dsn,
    pg_store,
    pg_template,
)

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_PAYLOADS = Path(
    os.environ.get(
        "GROUNDSWELL_REAL_PAYLOADS",
        Path(__file__).resolve().parents[2] / "shared" / "real-payloads",
    )
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated archive in a temporary directory."""
    with Store.open(tmp_path / "test.db") as archive:
        yield archive


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def real_payloads() -> Path:
    """The shared folder of real recorded responses; tests skip when it is absent."""
    if not SHARED_PAYLOADS.is_dir():
        pytest.skip(f"real payloads not found at {SHARED_PAYLOADS} (set GROUNDSWELL_REAL_PAYLOADS)")
    return SHARED_PAYLOADS


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A loopback HTTP server; add routes with ``loopback.routes[path] = Reply(...)``."""
    with LoopbackServer() as server:
        yield server


def feed_reply(path: Path, content_type: str = "application/rss+xml") -> Reply:
    return Reply(200, path.read_bytes(), {"Content-Type": content_type})
