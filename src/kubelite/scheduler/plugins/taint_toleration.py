"""TaintToleration: NoSchedule/NoExecute taints must be tolerated; fewer
untolerated PreferNoSchedule taints score higher (normalized, reversed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.helpers import find_untolerated_taint, tolerates
from kubelite.scheduler.framework.interfaces import Handle
from kubelite.scheduler.framework.status import Status
from kubelite.scheduler.framework.types import NodeInfo, PodInfo
from kubelite.scheduler.plugins import events
from kubelite.scheduler.plugins._helpers import default_normalize_score

NAME = "TaintToleration"
EVENTS = frozenset({events.NODE_ADD, events.NODE_UPDATE})
DO_NOT_SCHEDULE = frozenset({"NoSchedule", "NoExecute"})
_PRE_SCORE_KEY = "PreScore" + NAME


def untolerated_taint_reason(taint: Mapping[str, Any]) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"


def prefer_no_schedule_tolerations(pod: PodInfo) -> list[dict[str, Any]]:
    tols = pod.pod.get("spec", {}).get("tolerations") or ()
    return [t for t in tols if (t.get("effect") or "") in ("", "PreferNoSchedule")]


def count_intolerable_prefer_no_schedule(taints: list[Any], tolerations: list[Any]) -> int:
    return sum(
        1
        for taint in taints
        if taint.get("effect") == "PreferNoSchedule"
        and not any(tolerates(t, taint) for t in tolerations)
    )


class TaintToleration:
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        tols = pod.pod.get("spec", {}).get("tolerations") or ()
        taint = find_untolerated_taint(node.taints, tols, DO_NOT_SCHEDULE)
        if taint is None:
            return None
        return Status.unresolvable(untolerated_taint_reason(taint))

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        state.write(_PRE_SCORE_KEY, prefer_no_schedule_tolerations(pod))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.taints:
            return 0
        tols = state.get(_PRE_SCORE_KEY)
        if tols is None:
            tols = prefer_no_schedule_tolerations(pod)
        return count_intolerable_prefer_no_schedule(node.taints, tols)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[list[Any]]) -> None:
        default_normalize_score(scores, reverse=True)


def new(args: dict[str, Any], handle: Handle) -> TaintToleration:
    return TaintToleration()
