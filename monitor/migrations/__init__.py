"""Forward-only schema migrations, one module each: ``mNNNN_name.py`` with ``upgrade(db)``.

They are applied in number order inside one transaction each; ``schema_migrations`` records
what ran. Adding a table is adding one module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

__all__ = ["Migration", "discover"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[sqlite_utils.Database], None]


def discover() -> list[Migration]:
    """Every migration module in this package, in version order."""
    found: list[Migration] = []
    for info in pkgutil.iter_modules(__path__):
        name = info.name
        if not (name.startswith("m") and name[1:5].isdigit() and name[5:6] == "_"):
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        found.append(Migration(int(name[1:5]), name[6:], module.upgrade))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"two migrations share a version number: {versions}")
    return found
