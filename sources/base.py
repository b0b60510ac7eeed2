"""What every collector is: fetch (I/O) then parse (pure) into :class:`~monitor.records.Post`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from monitor.config import Brand, Problems, SourceSpec
from monitor.records import Post, utcnow
from monitor.store import SourceState
from sources.http import HttpClient

__all__ = ["Collected", "Collector", "require_param"]


@dataclass(frozen=True, slots=True)
class Collected:
    """The outcome of one successful poll: posts and the state to remember for next time."""

    posts: list[Post]
    state: SourceState
    not_modified: bool = False
    mode: str | None = None
    notes: list[str] = field(default_factory=list)


class Collector(ABC):
    """A source type. Subclasses set ``type`` and implement :meth:`collect`.

    ``per_brand`` collectors query the service once per brand (search APIs); the others read a
    feed once and every brand query is matched locally.
    """

    type: ClassVar[str]
    per_brand: ClassVar[bool] = False
    param_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, spec: SourceSpec, client: HttpClient, clock: Callable[[], datetime] = utcnow
    ):
        self.spec = spec
        self.client = client
        self.clock = clock

    @property
    def params(self) -> Mapping[str, Any]:
        return self.spec.params

    @classmethod
    def validate_params(cls, params: Mapping[str, Any], path: str, problems: Problems) -> None:
        """Report unknown or malformed parameters; subclasses extend this."""
        problems.unknown_keys(params, cls.param_keys, path)

    @abstractmethod
    def collect(self, state: SourceState, brand: Brand | None) -> Collected:
        """Fetch and parse one round. Raise a :class:`sources.errors.SourceError` on failure."""


def require_param(
    params: Mapping[str, Any], key: str, kind: type, path: str, problems: Problems
) -> None:
    problems.expect(params, key, kind, path, required=True)
