"""A throwaway PostgreSQL server for the tests, started from the Debian binaries.

The session fixture ``pg_dsn`` runs ``initdb`` + ``pg_ctl`` on a data directory in a temporary
folder, listening on 127.0.0.1 on a free port with ``fsync=off``; it yields an admin DSN and stops
the server at the end of the session. ``initdb`` refuses to run as root, so as root the server runs
as the ``postgres`` system user (``runuser``). When no server can be started the tests that use it
are skipped with a message saying what is missing.

``GROUNDSWELL_TEST_PG_DSN`` points the tests at an existing server instead (its role must be allowed
to CREATE DATABASE). ``fresh_database(dsn)`` creates an isolated database per test.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

__all__ = [
    "PgUnavailable",
    "TestServer",
    "database_dsn",
    "drop_database",
    "find_pg_bin",
    "fresh_database",
    "pg_archive",
    "pg_db",
    "pg_dsn",
    "pg_store",
    "pg_template",
    "start_server",
    "temporary_database",
]

ENV_DSN = "GROUNDSWELL_TEST_PG_DSN"
ENV_BIN = "GROUNDSWELL_PG_BIN"
SYSTEM_USER = "postgres"
START_TIMEOUT_S = 60


class PgUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says what is missing."""


@dataclass(frozen=True)
class TestServer:
    """A running throwaway server: its admin DSN, data folder and binaries."""

    __test__ = False  # not a test class despite the name

    dsn: str
    root: Path
    bindir: Path
    run_as: tuple[str, ...]

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def stop(self) -> None:
        """Stop the server (immediate mode: the data is thrown away) and remove its folder."""
        subprocess.run(
            [
                *self.run_as,
                str(self.bindir / "pg_ctl"),
                "stop",
                "-D",
                str(self.datadir),
                "-m",
                "immediate",
                "-w",
            ],
            capture_output=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit()) or (0,)


def find_pg_bin() -> Path:
    """The folder holding ``initdb``/``pg_ctl``: $GROUNDSWELL_PG_BIN, the newest Debian
    /usr/lib/postgresql/*/bin, or the PATH; raises PgUnavailable when there is none."""
    override = os.environ.get(ENV_BIN)
    if override:
        if (Path(override) / "initdb").is_file():
            return Path(override)
        raise PgUnavailable(f"{ENV_BIN}={override} holds no initdb")
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    raise PgUnavailable(
        "PostgreSQL binaries not found (initdb, pg_ctl): install the Debian package postgresql "
        "(scripts/setup.sh --test does) or set GROUNDSWELL_TEST_PG_DSN"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> tuple[str, ...]:
    if os.geteuid() != 0:
        return ()
    try:
        import pwd

        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PgUnavailable(
            f"running as root and there is no '{SYSTEM_USER}' system user to run initdb as "
            "(install the Debian package postgresql, which creates it)"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PgUnavailable("running as root and runuser (util-linux) is not installed")
    return (runuser, "-u", SYSTEM_USER, "--")


def start_server() -> TestServer:
    """initdb a data folder in a new temporary directory and start a server on 127.0.0.1."""
    bindir = find_pg_bin()
    run_as = _run_as()
    root = Path(tempfile.mkdtemp(prefix="gs-pg-"))
    try:
        if run_as:
            shutil.chown(root, user=SYSTEM_USER)
        datadir = root / "data"
        problem = ""
        for locale in ("C.UTF-8", "C"):  # C.UTF-8 where the system has it
            shutil.rmtree(datadir, ignore_errors=True)
            init = subprocess.run(
                [
                    *run_as,
                    str(bindir / "initdb"),
                    "-D",
                    str(datadir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    f"--locale={locale}",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S,
                check=False,
            )
            if init.returncode == 0:
                break
            problem = (init.stderr or init.stdout).strip()[-500:]
        else:
            raise PgUnavailable(f"initdb failed: {problem}")
        last_error = ""
        for _attempt in range(3):
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=60 -c shared_buffers=32MB"
            )
            started = subprocess.run(
                [
                    *run_as,
                    str(bindir / "pg_ctl"),
                    "start",
                    "-D",
                    str(datadir),
                    "-w",
                    "-t",
                    str(START_TIMEOUT_S),
                    "-l",
                    str(root / "server.log"),
                    "-o",
                    options,
                ],
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S + 10,
                check=False,
            )
            if started.returncode == 0:
                dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
                return TestServer(dsn=dsn, root=root, bindir=bindir, run_as=run_as)
            log = root / "server.log"
            last_error = log.read_text(errors="replace")[-500:] if log.exists() else started.stderr
        raise PgUnavailable(f"pg_ctl start failed: {last_error.strip()}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def database_dsn(dsn: str, dbname: str) -> str:
    """The same server and credentials as ``dsn`` with another database name."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def _admin_execute(dsn: str, sql: str) -> None:
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'groundswell[postgres]'")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)


def fresh_database(dsn: str, template: str = "template1", prefix: str = "gs_test") -> str:
    """CREATE DATABASE a new, uniquely named database from ``template``; returns its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin_execute(dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return database_dsn(dsn, name)


def drop_database(dsn: str, dbname: str) -> None:
    """DROP DATABASE (closing any sessions still connected to it)."""
    _admin_execute(dsn, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """Admin DSN of a PostgreSQL server for this test session; skips when none can start."""
    external = os.environ.get(ENV_DSN)
    if external:
        yield external
        return
    try:
        server = start_server()
    except PgUnavailable as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"PostgreSQL tests skipped: cannot start a server ({exc})")
    try:
        yield server.dsn
    finally:
        server.stop()


@contextlib.contextmanager
def temporary_database(dsn: str, template: str = "template1") -> Iterator[str]:
    """A fresh database for the block, dropped afterwards."""
    db_dsn = fresh_database(dsn, template)
    try:
        yield db_dsn
    finally:
        drop_database(dsn, urlsplit(db_dsn).path.lstrip("/"))


@pytest.fixture
def pg_db(pg_dsn: str) -> Iterator[str]:
    """DSN of a fresh, empty database (from template1) for one test, dropped afterwards."""
    with temporary_database(pg_dsn) as db_dsn:
        yield db_dsn


@pytest.fixture(scope="session")
def pg_template(pg_dsn: str) -> Iterator[str]:
    """Name of a database migrated once per session, to copy with ``fresh_database``."""
    pytest.importorskip(
        "sqlglot", reason="sqlglot is not installed: pip install 'groundswell[postgres]'"
    )
    from monitor.pg.store import PgStore

    db_dsn = fresh_database(pg_dsn, prefix="gs_template")
    name = urlsplit(db_dsn).path.lstrip("/")
    PgStore.open(db_dsn).close()
    try:
        yield name
    finally:
        drop_database(pg_dsn, name)


@pytest.fixture
def pg_archive(pg_dsn: str, pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL archive for one test."""
    with temporary_database(pg_dsn, template=pg_template) as db_dsn:
        yield db_dsn


@pytest.fixture
def pg_store(pg_archive: str) -> Iterator[Any]:
    """A :class:`monitor.pg.store.PgStore` on a fresh, migrated database."""
    from monitor.pg.store import PgStore

    with PgStore.open(pg_archive) as store:
        yield store
