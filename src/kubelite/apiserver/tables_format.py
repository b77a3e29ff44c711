"""Formatting helpers shared by the Table printers: ages, selectors, lists.

Each mirrors the apimachinery or kube-apiserver helper named in its docstring,
so a cell reads exactly as `kubectl get` shows it against a real cluster.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

UNKNOWN = "<unknown>"
INVALID = "<invalid>"
NONE = "<none>"
UNSET = "<unset>"


def human_duration(seconds: float) -> str:
    """`duration.HumanDuration` from k8s.io/apimachinery/pkg/util/duration.

    About two to three significant figures: "45s", "3m2s", "15m", "2h5m",
    "20h", "2d3h", "45d", "3y12d", "10y". Up to two seconds in the future is
    clock skew and reads "0s"; further out is "<invalid>".
    """
    whole = math.trunc(seconds)
    if whole < -1:
        return INVALID
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        s = whole % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 `Time` or `MicroTime`; None for a missing or unreadable one."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.year <= 1:  # Go's zero time: unset
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    """`translateTimestampSince`: the age of a timestamp, `<unknown>` when unset."""
    when = value if isinstance(value, datetime) else parse_time(value)
    if when is None:
        return UNKNOWN
    return human_duration((now - when).total_seconds())


def format_labels(labels: Mapping[str, str] | None) -> str:
    """`labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty."""
    if not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


class InvalidSelector(ValueError):
    pass


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """`LabelSelectorAsSelector(s).String()`: "" for nil or empty (nothing/everything).

    Requirements are sorted by key; `In`/`NotIn` values are sorted as a set.
    """
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        reqs.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(set(expr.get("values") or [])))
        if op == "In":
            reqs.append((key, f"{key} in ({values})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({values})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
        else:
            raise InvalidSelector(f"{op!r} is not a valid label selector operator")
    return ",".join(text for _, text in sorted(reqs, key=lambda r: r[0]))


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """`metav1.FormatLabelSelector`: `<none>` when it selects everything or nothing."""
    try:
        text = selector_string(selector)
    except InvalidSelector:
        return "<error>"
    return text or NONE


def join_host_port(host: str, port: Any) -> str:
    """`net.JoinHostPort`: IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def list_with_more(items: list[str], more: bool, count: int, limit: int) -> str:
    """`listWithMoreString`: "a,b,c + 2 more...", `<unset>` when empty."""
    text = ",".join(items)
    if more:
        return f"{text} + {count - limit} more..."
    return text or UNSET


def access_modes(modes: Iterable[str] | None) -> str:
    """`helper.GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order."""
    present = set(modes or ())
    order = (
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    )
    return ",".join(short for mode, short in order if mode in present)


def container_cells(containers: Iterable[Mapping[str, Any]] | None) -> tuple[str, str]:
    """`layoutContainerCells`: container names and images, comma-joined."""
    containers = list(containers or ())
    names = ",".join(c.get("name", "") for c in containers)
    images = ",".join(c.get("image", "") for c in containers)
    return names, images


def quantity(value: Any) -> str:
    """A resource quantity as stored; a missing one is zero, as `Quantity{}.String()`."""
    return "0" if value in (None, "") else str(value)
