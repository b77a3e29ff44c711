"""The seam between the algorithm and the API: binding, events, conditions.

The loop that watches pods and nodes talks to an in-process client; it only
has to implement :class:`Binder`. :func:`apply_result` turns a
:class:`ScheduleResult` into the upstream API writes: ``pods/binding`` and a
``Scheduled`` event on success; on failure a ``FailedScheduling`` warning, the
``PodScheduled=False`` condition (reason ``Unschedulable`` or
``SchedulerError``), the nominated node (set or cleared when the attempt
decided it), graceful deletion of preemption victims with a ``Preempted`` event
on each, and the cleared nominations of lower-priority pods the preemptor
displaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from kubelite.scheduler.result import ScheduleResult

__all__ = [
    "ANNOTATION_NODE",
    "ANNOTATION_SCORE",
    "Binder",
    "REASON_SCHEDULER_ERROR",
    "REASON_UNSCHEDULABLE",
    "apply_result",
    "failed_scheduling_message",
    "pod_scheduled_condition",
    "preempted_message",
    "scheduled_annotations",
    "scheduled_message",
]

Obj = Mapping[str, Any]
REASON_UNSCHEDULABLE = "Unschedulable"
REASON_SCHEDULER_ERROR = "SchedulerError"
# On the Scheduled event: where the pod went and the winning total score, for
# tools that trace decisions without re-running the algorithm.
ANNOTATION_NODE = "kubelite.io/node"
ANNOTATION_SCORE = "kubelite.io/score"


class Binder(Protocol):
    async def bind(self, pod: Obj, node_name: str) -> None:
        """POST pods/binding; raise on failure (conflict, pod gone)."""
        ...

    async def record_event(
        self,
        *,
        regarding: Obj,
        type: str,  # noqa: A002 - the Event field name
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None: ...

    async def update_pod_condition(
        self, pod: Obj, condition: Mapping[str, Any], *, nominated_node_name: str | None = None
    ) -> None:
        """Patch status.conditions, and status.nominatedNodeName unless None ('' clears it)."""
        ...

    async def clear_nominated_node_name(self, pod: Obj) -> None:
        """Patch status.nominatedNodeName away; a pod already gone is no error."""
        ...

    async def delete_pod(self, pod: Obj, *, grace_period_seconds: int | None = None) -> None: ...


def _ref(pod: Obj) -> tuple[str, str]:
    meta = pod.get("metadata", {})
    return meta.get("namespace") or "default", meta.get("name", "")


def scheduled_message(pod: Obj, node_name: str) -> str:
    ns, name = _ref(pod)
    return f"Successfully assigned {ns}/{name} to {node_name}"


def scheduled_annotations(result: ScheduleResult) -> dict[str, str]:
    """The Scheduled event's annotations: chosen node and its total weighted score."""
    return {ANNOTATION_NODE: result.node_name, ANNOTATION_SCORE: str(int(result.node_score))}


def failed_scheduling_message(result: ScheduleResult) -> str:
    return result.message


def preempted_message(preemptor: Obj, node_name: str) -> str:
    meta = preemptor.get("metadata", {})
    uid = meta.get("uid") or "/".join(_ref(preemptor))
    return f"Preempted by pod {uid} on node {node_name}"


def pod_scheduled_condition(
    *, scheduled: bool, reason: str = "", message: str = "", now: str = ""
) -> dict[str, Any]:
    """The PodScheduled condition dict as the scheduler writes it."""
    cond: dict[str, Any] = {"type": "PodScheduled", "status": "True" if scheduled else "False"}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    if now:
        cond["lastTransitionTime"] = now
        cond["lastProbeTime"] = None
    return cond


async def apply_result(binder: Binder, pod: Obj, result: ScheduleResult, *, now: str = "") -> None:
    """Write what ``result`` decided; binding errors propagate for the caller to requeue."""
    if result.scheduled:
        await binder.bind(pod, result.node_name)
        await binder.record_event(
            regarding=pod,
            type="Normal",
            reason="Scheduled",
            action="Binding",
            note=scheduled_message(pod, result.node_name),
            annotations=scheduled_annotations(result),
        )
        return
    for victim in result.victims:
        await binder.delete_pod(victim)
        await binder.record_event(
            regarding=victim,
            related=pod,
            type="Normal",
            reason="Preempted",
            action="Preempting",
            note=preempted_message(pod, result.nominated_node_name),
        )
    for other in result.nominated_pods_to_clear:
        await binder.clear_nominated_node_name(other)
    reason = REASON_SCHEDULER_ERROR if result.error is not None else REASON_UNSCHEDULABLE
    await binder.record_event(
        regarding=pod,
        type="Warning",
        reason="FailedScheduling",
        action="Scheduling",
        note=result.message,
    )
    nominated = result.nominated_node_name if result.nominating else None
    await binder.update_pod_condition(
        pod,
        pod_scheduled_condition(scheduled=False, reason=reason, message=result.message, now=now),
        nominated_node_name=nominated,
    )
