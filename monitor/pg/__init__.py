"""The PostgreSQL archive backend: ``storage = "postgresql://..."`` in the configuration.

:class:`monitor.pg.store.PgStore` offers the public methods of :class:`monitor.store.Store`;
the stages' SQLite statements run on it through :mod:`monitor.pg.translate`. Importing this
package does not import psycopg; :func:`open_archive` does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_postgres_url", "open_archive"]


def is_postgres_url(value: object) -> bool:
    """Whether ``value`` names a PostgreSQL archive (``postgresql://…`` or ``postgres://…``)."""
    return isinstance(value, str) and value.startswith(("postgresql://", "postgres://"))


def open_archive(
    url: str, *, readonly: bool = False, migrate: bool = True, timeout: float = 10.0
) -> Any:
    """Open a :class:`~monitor.pg.store.PgStore` (raises ImportError naming the extra to install)."""
    try:
        from monitor.pg.store import PgStore
    except ImportError as exc:
        raise ImportError(
            f"a PostgreSQL archive needs psycopg and sqlglot: pip install 'groundswell[postgres]' ({exc})"
        ) from exc
    return PgStore.open(url, readonly=readonly, migrate=migrate, timeout=timeout)
