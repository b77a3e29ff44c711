"""Per-cycle scratch space shared by the plugins of one scheduling attempt.

PreFilter computes something once (pod requests, topology counts); Filter and
Score read it per node. Preemption dry-runs on copies, so every stored value
that can change must offer ``clone()``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CycleState"]


class CycleState:
    """A string-keyed store; values with a ``clone`` method are copied on clone."""

    __slots__ = ("_data", "skip_filter_plugins", "skip_score_plugins")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()

    def read(self, key: str) -> Any:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def clone(self) -> CycleState:
        out = CycleState()
        for key, value in self._data.items():
            copier = getattr(value, "clone", None)
            out._data[key] = copier() if callable(copier) else value
        out.skip_filter_plugins = set(self.skip_filter_plugins)
        out.skip_score_plugins = set(self.skip_score_plugins)
        return out
