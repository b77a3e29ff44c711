"""Completion indexes of Indexed Jobs, and their text form in `status.completedIndexes`.

Upstream keeps sorted, disjoint intervals and writes them as "0-2,4,6-7";
a lone index is written alone and two adjacent ones as a range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
UNKNOWN = -1


def pod_index(pod: Mapping[str, Any]) -> int:
    """The pod's completion index from its annotation (the label may be missing), or UNKNOWN."""
    md = pod.get("metadata") or {}
    value = (md.get("annotations") or {}).get(COMPLETION_INDEX)
    if value is None:
        value = (md.get("labels") or {}).get(COMPLETION_INDEX)
    try:
        index = int(str(value))
    except ValueError:
        return UNKNOWN
    return index if index >= 0 else UNKNOWN


def parse(text: str, completions: int) -> set[int]:
    """The indexes in `text` below `completions`; malformed parts are skipped."""
    out: set[int] = set()
    for part in (text or "").split(","):
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            continue
        out.update(i for i in range(first, last + 1) if 0 <= i < completions)
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    ordered = sorted(set(indexes))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
