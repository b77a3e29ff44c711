"""Expectations: what a controller has asked for and not yet seen in its cache.

A ReplicaSet that just created three pods must not create three more because
its pod cache has not caught up. As upstream's `ControllerExpectations`, a
controller records how many creations and which deletions it expects; pod
events lower the counts; the controller only acts on its cached view once the
expectations are met or have expired (5 minutes: a lost watch event must not
wedge a controller forever).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubelite.controllers.clock import Clock, system_clock

EXPECTATIONS_TIMEOUT_S = 5 * 60.0


@dataclass
class _Expected:
    adds: int
    deletes: set[str] = field(default_factory=set)
    at: float = 0.0


class Expectations:
    def __init__(self, *, clock: Clock = system_clock) -> None:
        self.clock = clock
        self._items: dict[str, _Expected] = {}

    def satisfied(self, key: str) -> bool:
        exp = self._items.get(key)
        if exp is None:
            return True
        if exp.adds <= 0 and not exp.deletes:
            return True
        return self.clock() - exp.at > EXPECTATIONS_TIMEOUT_S

    def expect_creations(self, key: str, count: int) -> None:
        self._items[key] = _Expected(adds=count, at=self.clock())

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        self._items[key] = _Expected(adds=0, deletes=set(pod_keys), at=self.clock())

    def creation_observed(self, key: str) -> None:
        exp = self._items.get(key)
        if exp is not None:
            exp.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        exp = self._items.get(key)
        if exp is not None:
            exp.deletes.discard(pod_key)

    def lower_creations(self, key: str, count: int = 1) -> None:
        """A create that failed will never be observed."""
        exp = self._items.get(key)
        if exp is not None:
            exp.adds -= count

    def forget(self, key: str) -> None:
        self._items.pop(key, None)
