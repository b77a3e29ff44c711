"""Plugin verdicts as values.

An expected rejection ("Insufficient cpu") is a :class:`Status`, never an
exception: the runner counts reasons per node to build the FitError message.
As upstream, ``None`` means success, so the hot path allocates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

__all__ = ["Code", "Status", "is_success", "as_status"]


class Code(IntEnum):
    """Status codes, in the upstream order."""

    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5


@dataclass(frozen=True, slots=True)
class Status:
    """A plugin verdict: a code, human reasons and the plugin that said it."""

    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @classmethod
    def unschedulable(cls, *reasons: str) -> Status:
        return cls(Code.UNSCHEDULABLE, reasons)

    @classmethod
    def unresolvable(cls, *reasons: str) -> Status:
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)

    @classmethod
    def error(cls, *reasons: str) -> Status:
        return cls(Code.ERROR, reasons)

    @classmethod
    def skip(cls) -> Status:
        return cls(Code.SKIP)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    @property
    def is_rejection(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def with_plugin(self, plugin: str) -> Status:
        return self if self.plugin == plugin else replace(self, plugin=plugin)

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code.name, "reasons": list(self.reasons), "plugin": self.plugin}


def is_success(status: Status | None) -> bool:
    return status is None or status.code == Code.SUCCESS


def as_status(exc: BaseException, plugin: str = "") -> Status:
    """Map an unexpected exception raised by a plugin to an Error status."""
    return Status(Code.ERROR, (f"{type(exc).__name__}: {exc}",), plugin)
