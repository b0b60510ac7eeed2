"""``groundswell sources``: the source types this installation knows and their parameters."""

from __future__ import annotations

import json
from typing import Any

import click

from sources.registry import UnknownSourceType, collector_class, known_types

__all__ = ["COMMANDS", "sources"]


@click.command("sources")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def sources(fmt: str) -> None:
    """List the source types (built-in and plugins) with their parameters.

    Search types query the service once per brand; feed types read one feed and match every
    brand locally. See docs/sources.md for what each needs, its limits and its gaps.

    Example:

        groundswell sources --format json
    """
    rows: list[dict[str, Any]] = []
    for kind in known_types():
        try:
            cls = collector_class(kind)
        except (UnknownSourceType, ImportError, AttributeError) as exc:
            rows.append({"type": kind, "error": f"cannot load: {exc}"})
            continue
        rows.append(
            {
                "type": kind,
                "per_brand": bool(cls.per_brand),
                "refresh": hasattr(cls, "refresh"),
                "params": sorted(cls.param_keys),
                "summary": " ".join((cls.__doc__ or "").split()).split(". ")[0].rstrip("."),
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        if "error" in row:
            click.echo(f"{row['type']:<12} {row['error']}")
            continue
        mode = "search per brand" if row["per_brand"] else "feed"
        repoll = ", re-polls by id" if row["refresh"] else ""
        click.echo(f"{row['type']:<12} {mode}{repoll}: {row['summary']}")
        click.echo(f"{'':<12} params: {', '.join(row['params']) or '-'}")


COMMANDS = [sources]
