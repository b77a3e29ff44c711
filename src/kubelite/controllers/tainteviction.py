"""The taint eviction controller: pods leave nodes whose NoExecute taints they do not tolerate.

As upstream's NoExecuteTaintManager (pkg/controller/tainteviction): for each
pod bound to a node with NoExecute taints,

- a taint no toleration of the pod tolerates: the pod is deleted now;
- every taint tolerated: each taint's first tolerating toleration (as
  GetMatchingTolerations picks it) with `tolerationSeconds` gives a deadline
  of the taint's `timeAdded` (or when this controller first saw the taint)
  plus those seconds; the pod is deleted at the earliest deadline;
- tolerated without `tolerationSeconds`: the pod stays;
- taints removed or changed before the deadline: the deletion is cancelled.

Before deleting, the pod gets the `DisruptionTarget` condition (reason
DeletionByTaintManager) and a `TaintManagerEviction` event "Marking for
deletion Pod ns/name"; a cancelled deletion records "Cancelling deletion of
Pod ns/name". Pods already being deleted are left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api.nodeaffinity import tolerates
from kubelite.apiserver.errors import Conflict, NotFound
from kubelite.controllers.clock import Clock, system_clock
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import parse_time, timestamp

log = logging.getLogger(__name__)
Obj = dict[str, Any]

NAME = "taint-eviction-controller"
NO_EXECUTE = "NoExecute"
REASON = "TaintManagerEviction"
CONDITION_REASON = "DeletionByTaintManager"
CONDITION_MESSAGE = "Taint manager: deleting due to NoExecute taint"

TaintId = tuple[str, str, str]  # key, value, effect


def no_execute_taints(node: Obj | None) -> list[Obj]:
    taints = ((node or {}).get("spec") or {}).get("taints") or []
    return [t for t in taints if t.get("effect") == NO_EXECUTE]


def taint_id(taint: Obj) -> TaintId:
    return (taint.get("key") or "", taint.get("value") or "", taint.get("effect") or "")


def matching_tolerations(taints: list[Obj], tolerations: list[Obj]) -> list[Obj] | None:
    """Per taint, the first toleration tolerating it (v1helper.GetMatchingTolerations);
    None when some taint is tolerated by none."""
    out = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return None
        out.append(match)
    return out


def eviction_deadline(
    taints: list[Obj], tolerations: list[Obj], started: dict[TaintId, float]
) -> float | None:
    """When the pod must go: -inf now, None never, else the earliest taint deadline.

    `started` gives each taint's start: its timeAdded, or when first seen.
    """
    used = matching_tolerations(taints, tolerations)
    if used is None:
        return float("-inf")
    deadlines = []
    for taint, toleration in zip(taints, used, strict=True):
        seconds = toleration.get("tolerationSeconds")
        if seconds is None:
            continue
        deadlines.append(started[taint_id(taint)] + max(0, int(seconds)))
    return min(deadlines) if deadlines else None


def with_disruption_target(pod: Obj, now: str) -> Obj:
    status = pod.setdefault("status", {})
    old = [c for c in status.get("conditions") or [] if c.get("type") == "DisruptionTarget"]
    transition = (
        old[0].get("lastTransitionTime")
        if old and old[0].get("status") == "True" and old[0].get("lastTransitionTime")
        else now
    )
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
    conditions.append(
        {
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": transition,
            "reason": CONDITION_REASON,
            "message": CONDITION_MESSAGE,
        }
    )
    status["conditions"] = conditions
    return pod


class TaintEvictionController(Controller):
    name = NAME
    workers = 2

    def __init__(self, *, clock: Clock = system_clock) -> None:
        super().__init__(clock=clock)
        # pod key -> (uid, deadline) of a deletion waiting for its tolerationSeconds
        self.scheduled: dict[str, tuple[str, float]] = {}
        # node name -> NoExecute taint -> when first seen (for taints without timeAdded)
        self.first_seen: dict[str, dict[TaintId, float]] = {}

    def setup(self) -> None:
        self.nodes = self.informers.informer("v1", "Node")
        self.pods = self.informers.informer("v1", "Pod")
        self.nodes.add_handlers(
            Handlers(
                on_add=self._node_changed,
                on_update=lambda old, new: self._node_changed(new, old),
                on_delete=self._node_deleted,
            )
        )
        self.pods.add_handlers(
            Handlers(
                on_add=self._pod_changed,
                on_update=lambda _old, new: self._pod_changed(new),
                on_delete=self._pod_changed,
            )
        )

    # ---- event handlers ------------------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        md = pod["metadata"]
        key = f"{md.get('namespace')}/{md['name']}"
        if (pod.get("spec") or {}).get("nodeName") or key in self.scheduled:
            self.enqueue(key)

    def _node_changed(self, node: Obj, old: Obj | None = None) -> None:
        taints = no_execute_taints(node)
        if old is not None and taints == no_execute_taints(old):
            return
        name = node["metadata"]["name"]
        self._track(name, taints)
        for pod in self.pods.list():
            if (pod.get("spec") or {}).get("nodeName") == name:
                md = pod["metadata"]
                self.enqueue(f"{md.get('namespace')}/{md['name']}")

    def _node_deleted(self, node: Obj) -> None:
        self.first_seen.pop(node["metadata"]["name"], None)

    def _track(self, node_name: str, taints: list[Obj]) -> dict[TaintId, float]:
        """Each current NoExecute taint's start; forget taints that went away."""
        seen = self.first_seen.get(node_name, {})
        now = self.clock()
        started: dict[TaintId, float] = {}
        for taint in taints:
            tid = taint_id(taint)
            added = parse_time(taint.get("timeAdded"))
            started[tid] = added if added is not None else seen.get(tid, now)
        if started:
            self.first_seen[node_name] = started
        else:
            self.first_seen.pop(node_name, None)
        return started

    # ---- reconcile -----------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        pod = self.pods.get(key)
        node_name = ((pod or {}).get("spec") or {}).get("nodeName")
        if pod is None or pod["metadata"].get("deletionTimestamp") or not node_name:
            self.scheduled.pop(key, None)
            return None
        uid = str(pod["metadata"].get("uid"))
        taints = no_execute_taints(self.nodes.get(node_name))
        started = self._track(node_name, taints)
        deadline = (
            eviction_deadline(taints, (pod.get("spec") or {}).get("tolerations") or [], started)
            if taints
            else None
        )
        previous = self.scheduled.get(key)
        if previous is not None and (previous[0] != uid or previous[1] != deadline):
            del self.scheduled[key]
            if previous[0] == uid:
                await self._event(pod, f"Cancelling deletion of Pod {key}")
        if deadline is None:
            return None
        now = self.clock()
        if deadline > now:
            self.scheduled[key] = (uid, deadline)
            return deadline - now
        self.scheduled.pop(key, None)
        await self._evict(key, pod)
        return None

    async def _event(self, pod: Obj, message: str) -> None:
        await self.recorder.event(pod, "Normal", REASON, message)

    async def _evict(self, key: str, pod: Obj) -> None:
        md = pod["metadata"]
        ns, name, uid = md.get("namespace"), md["name"], md.get("uid")
        log.info("deleting pod %s: NoExecute taint on node %s", key, pod["spec"]["nodeName"])
        await self._event(pod, f"Marking for deletion Pod {key}")
        stamp = timestamp(self.clock())

        def apply(obj: Obj) -> Obj:
            if obj["metadata"].get("uid") != uid:
                raise _Gone
            return with_disruption_target(obj, stamp)

        try:
            await self.client.mutate_only("v1", "Pod", name, apply, ns, subresource="status")
            await self.client.delete("v1", "Pod", name, ns, preconditions={"uid": uid})
        except (NotFound, Conflict, _Gone):
            return


class _Gone(Exception):
    """The pod was replaced by another of the same name: nothing to evict."""
