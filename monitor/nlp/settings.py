"""The ``[model]`` configuration section.

Example::

    [model]
    name = "default"        # or a local folder, or a Hugging Face model id
    max_length = 128        # tokens per post; longer posts are truncated
    batch_size = 32
    quantize = "int8"       # "int8" (dynamic int8 weights and activations) or "none"
    threads = 2             # inference threads; unset = the runtime's default
    runtime = "auto"        # "auto" (int8 on ONNX Runtime, "none" on PyTorch),
                            # "onnxruntime" or "torch"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from monitor.nlp.engine import ModelSettings

__all__ = ["ModelSettings", "parse_section"]

_KNOWN = frozenset({"name", "max_length", "batch_size", "quantize", "threads", "runtime"})


class _Problems(Protocol):
    def add(self, path: str, message: str, hint: str = "") -> None: ...


def parse_section(raw: Mapping[str, Any], problems: _Problems, path: str) -> ModelSettings:
    """Parse ``[model]`` into :class:`ModelSettings`, adding every problem to ``problems``."""
    defaults = ModelSettings()
    values: dict[str, Any] = {}
    for key in raw:
        if key not in _KNOWN:
            problems.add(f"{path}.{key}", "unknown key", f"known keys: {', '.join(sorted(_KNOWN))}")
    for key in ("name", "quantize", "runtime"):
        if key in raw:
            if isinstance(raw[key], str) and raw[key]:
                values[key] = raw[key]
            else:
                problems.add(f"{path}.{key}", f"expected a non-empty string, got {raw[key]!r}")
    for key in ("max_length", "batch_size", "threads"):
        if key in raw:
            value = raw[key]
            if isinstance(value, int) and not isinstance(value, bool):
                values[key] = value
            else:
                problems.add(f"{path}.{key}", f"expected an integer, got {value!r}")
    try:
        return ModelSettings(**values)
    except ValueError as exc:
        problems.add(path, str(exc).removeprefix("[model] "))
        return defaults
