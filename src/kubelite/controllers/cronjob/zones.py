"""The time zone a CronJob's schedule is read in.

`spec.timeZone` names an IANA zone; without one the schedule follows the
controller's own local time, as kube-controller-manager's does. A zone this
machine's database lacks is refused with Go's wording (`unknown time zone X`).
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_LOCALTIME = Path("/etc/localtime")


class ZoneError(ValueError):
    """A `spec.timeZone` that names no known zone."""


def zone_of(name: str | None) -> tzinfo:
    if name is None:
        return local_zone()
    if name in ("", "UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ZoneError(f"unknown time zone {name}") from None


def annotation_zone(name: str | None) -> tzinfo:
    """The zone the scheduled-timestamp annotation is written in: UTC when unnamed."""
    return UTC if name is None else zone_of(name)


@functools.cache
def local_zone() -> tzinfo:
    """This machine's zone, with its DST rules when they can be found (read once)."""
    for key in (os.environ.get("TZ", "").lstrip(":"), _zone_key_of_localtime()):
        if key:
            try:
                return ZoneInfo(key)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return datetime.now().astimezone().tzinfo or UTC


def _zone_key_of_localtime() -> str:
    try:
        target = str(_LOCALTIME.resolve())
    except OSError:
        return ""
    _, found, key = target.partition("zoneinfo/")
    return key if found else ""
