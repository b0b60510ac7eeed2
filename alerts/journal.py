"""Write alert actions to the shared audit log when the audit module is installed."""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

__all__ = ["audit"]


def audit(
    store: Any,
    action: str,
    subject: str,
    *,
    actor: str = "system",
    before: Any = None,
    after: Any = None,
    at: datetime | None = None,
) -> None:
    """Call ``monitor.audit.record`` inside the caller's transaction; a no-op without it."""
    try:
        module = importlib.import_module("monitor.audit")
    except ImportError:
        return
    record = getattr(module, "record", None)
    if record is None:
        return
    record(store, actor=actor, action=action, subject=subject, before=before, after=after, at=at)
