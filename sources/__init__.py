"""Collectors: one module per source type, registered in :mod:`sources.registry`."""

__all__: list[str] = []
