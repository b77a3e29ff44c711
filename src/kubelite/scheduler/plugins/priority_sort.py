"""PrioritySort: higher ``spec.priority`` first, then the earlier enqueue time."""

from __future__ import annotations

from typing import Any

from kubelite.scheduler.framework.interfaces import Handle

NAME = "PrioritySort"
EVENTS: frozenset[str] = frozenset()


class PrioritySort:
    name = NAME

    def less(self, a: Any, b: Any) -> bool:
        pa, pb = a.pod_info.priority, b.pod_info.priority
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)


def new(args: dict[str, Any], handle: Handle) -> PrioritySort:
    return PrioritySort()
