"""From a metric's recommendation to the replica count to set.

Pure and synchronous. Two paths, as upstream: without `spec.behavior`, the
highest recommendation of the last 5 minutes wins (scale-down
stabilization) and a scale-up is capped at max(2 x current, 4); with
`spec.behavior`, each direction has its stabilization window and rate
policies (Pods or Percent per period, combined by selectPolicy). Either way
the result is clamped to [minReplicas, maxReplicas], and the reason the
count was limited becomes the ScalingLimited condition.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DOWNSCALE_STABILIZATION_S = 300.0
SCALE_UP_LIMIT_FACTOR = 2
SCALE_UP_LIMIT_MINIMUM = 4


@dataclass(frozen=True)
class Recommendation:
    at: float
    replicas: int


@dataclass(frozen=True)
class ScaleEvent:
    """A past rescale: how many replicas it added (>0) or removed (<0)."""

    at: float
    change: int


@dataclass(frozen=True)
class Decision:
    replicas: int
    able_reason: str
    able_message: str
    limited: bool
    limited_reason: str
    limited_message: str


_WITHIN = ("DesiredWithinRange", "the desired count is within the acceptable range")
_TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
_TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
_UP_LIMIT = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
)
_DOWN_LIMIT = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
)
_READY = ("ReadyForNewScale", "recommended size matches current size")


def _clamp(
    desired: int, low: int, high: int, high_reason: tuple[str, str]
) -> tuple[int, tuple[str, str]]:
    if desired < low:
        return low, _TOO_FEW
    if desired > high:
        return high, high_reason
    return desired, _WITHIN


def _decision(
    stabilized: int, able: tuple[str, str], clamped: tuple[int, tuple[str, str]]
) -> Decision:
    replicas, (reason, message) = clamped
    return Decision(replicas, able[0], able[1], replicas != stabilized, reason, message)


def without_behavior(
    *,
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    history: Sequence[Recommendation],
    now: float,
    window_s: float = DOWNSCALE_STABILIZATION_S,
) -> Decision:
    """Upstream's path for an HPA without `spec.behavior`; `history` excludes `desired`."""
    stabilized = max([desired, *(r.replicas for r in history if r.at > now - window_s)])
    able = (
        _READY
        if stabilized == desired
        else (
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, "
            "applying the highest recent recommendation",
        )
    )
    limit = max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM)
    if max_replicas > limit:
        high, high_reason = limit, _UP_LIMIT
    else:
        high, high_reason = max_replicas, _TOO_MANY
    return _decision(stabilized, able, _clamp(stabilized, min_replicas, high, high_reason))


def _window(rules: Mapping[str, Any], default: float) -> float:
    value = rules.get("stabilizationWindowSeconds")
    return default if value is None else float(value)


def _changed_in(events: Sequence[ScaleEvent], period_s: float, now: float, up: bool) -> int:
    return sum(
        abs(e.change)
        for e in events
        if e.at > now - period_s and (e.change > 0) == up and e.change != 0
    )


def _period_start(current: int, events: Sequence[ScaleEvent], period_s: float, now: float) -> int:
    """The replica count at the start of a policy period: upstream (since kubernetes#109058)
    takes back what was added and adds back what was removed, both directions, so an
    up-then-down inside the period does not eat the next scale-up's allowance."""
    added = _changed_in(events, period_s, now, True)
    removed = _changed_in(events, period_s, now, False)
    return current - added + removed


def _up_limit(
    rules: Mapping[str, Any], current: int, events: Sequence[ScaleEvent], now: float
) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or []:
        start = _period_start(current, events, float(policy.get("periodSeconds") or 0), now)
        value = int(policy.get("value") or 0)
        if policy.get("type") == "Pods":
            proposals.append(start + value)
        else:
            proposals.append(math.ceil(start * (1 + value / 100)))
    if not proposals:
        return current
    return max(proposals) if select == "Max" else min(proposals)


def _down_limit(
    rules: Mapping[str, Any], current: int, events: Sequence[ScaleEvent], now: float
) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or []:
        start = _period_start(current, events, float(policy.get("periodSeconds") or 0), now)
        value = int(policy.get("value") or 0)
        if policy.get("type") == "Pods":
            proposals.append(start - value)
        else:
            proposals.append(int(start * (1 - value / 100)))
    if not proposals:
        return current
    # "Max" picks the policy that allows the biggest change: the lowest count.
    return min(proposals) if select == "Max" else max(proposals)


def with_behavior(
    *,
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    behavior: Mapping[str, Any],
    history: Sequence[Recommendation],
    events: Sequence[ScaleEvent],
    now: float,
) -> Decision:
    """Upstream's path for an HPA with (defaulted) `spec.behavior`."""
    up_rules = behavior.get("scaleUp") or {}
    down_rules = behavior.get("scaleDown") or {}
    up_cutoff = now - _window(up_rules, 0.0)
    down_cutoff = now - _window(down_rules, DOWNSCALE_STABILIZATION_S)
    up_rec = min([desired, *(r.replicas for r in history if r.at > up_cutoff)])
    down_rec = max([desired, *(r.replicas for r in history if r.at > down_cutoff)])
    stabilized = min(max(current, up_rec), down_rec)
    if stabilized == desired:
        able = _READY
    elif stabilized < desired:
        able = (
            "ScaleUpStabilized",
            "recent recommendations were lower than current one, "
            "applying the lowest recent recommendation",
        )
    else:
        able = (
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, "
            "applying the highest recent recommendation",
        )
    clamped: tuple[int, tuple[str, str]] = (stabilized, _WITHIN)
    if stabilized > current:
        limit = max(_up_limit(up_rules, current, events, now), current)
        high, reason = (limit, _UP_LIMIT) if max_replicas > limit else (max_replicas, _TOO_MANY)
        if stabilized > high:
            clamped = (high, reason)
    elif stabilized < current:
        limit = min(_down_limit(down_rules, current, events, now), current)
        low, reason = (limit, _DOWN_LIMIT) if min_replicas < limit else (min_replicas, _TOO_FEW)
        if stabilized < low:
            clamped = (low, reason)
    return _decision(stabilized, able, clamped)
