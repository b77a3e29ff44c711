"""The node lifecycle controller: a node whose agent stops heartbeating goes Unknown and is tainted.

As upstream's, health is judged by when this controller last *saw* a
heartbeat change (the Ready condition's lastHeartbeatTime or the node's
Lease renewTime in kube-node-lease), never by comparing those timestamps
with its own clock. When nothing changed for the grace period (40 s, the
node-monitor-grace-period) the node's Ready, MemoryPressure, DiskPressure
and PIDPressure conditions turn Unknown with reason NodeStatusUnknown
("Kubelet stopped posting node status."; NodeStatusNeverUpdated for a node
whose agent never posted one) and the pods on it are marked not Ready.

Taints follow the node as upstream's NoExecute and NoSchedule tainting
passes. Ready Unknown means `node.kubernetes.io/unreachable`, False means
`node.kubernetes.io/not-ready`, each with effect NoExecute (stamped with
timeAdded) and NoSchedule; True removes them. MemoryPressure, DiskPressure,
PIDPressure and NetworkUnavailable True mean the matching
`node.kubernetes.io/*` NoSchedule taint, and a cordoned node
(`spec.unschedulable`) carries `node.kubernetes.io/unschedulable:NoSchedule`
until it is uncordoned. The scheduler's NodeUnschedulable plugin and its
TaintToleration plugin both let through exactly the pods that tolerate that
taint (daemon pods do: the DaemonSet controller adds the toleration), so the
taint keeps off no pod the cordon did not. Pods that do not tolerate a
NoExecute taint (or only for a while) are evicted by `tainteviction`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.apiserver.errors import NotFound
from kubelite.controllers.clock import Clock, system_clock
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import parse_time, timestamp

log = logging.getLogger(__name__)
Obj = dict[str, Any]

NAME = "node-lifecycle-controller"
GRACE_PERIOD_S = 40.0
MONITOR_PERIOD_S = 5.0
GRACE_ENV = "KUBELITE_NODE_MONITOR_GRACE_PERIOD"
LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
# The NoSchedule taint each (condition type, status) stands for.
CONDITION_TAINTS: dict[tuple[str, str], str] = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
}
# The (key, effect) pairs this controller owns: added and removed here only.
OWN_TAINTS = frozenset(
    {(UNREACHABLE, "NoExecute"), (NOT_READY, "NoExecute"), (UNSCHEDULABLE, "NoSchedule")}
    | {(key, "NoSchedule") for key in CONDITION_TAINTS.values()}
)
CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


@dataclass
class Health:
    """What the controller last saw of a node, and when (its own clock)."""

    probe: float
    heartbeat: str | None = None
    lease_renew: str | None = None


def grace_period_from_env() -> float:
    try:
        return float(os.environ.get(GRACE_ENV, "") or GRACE_PERIOD_S)
    except ValueError:
        return GRACE_PERIOD_S


def condition(node: Obj, type_: str) -> Obj | None:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def unknown_conditions(node: Obj, now: str) -> list[Obj]:
    """The node's conditions after its agent went silent (upstream's tryUpdateNodeHealth)."""
    ready = condition(node, "Ready")
    if ready is None:
        reason, message = "NodeStatusNeverUpdated", "Kubelet never posted node status."
    else:
        reason, message = "NodeStatusUnknown", "Kubelet stopped posting node status."
    out = []
    seen = set()
    for c in (node.get("status") or {}).get("conditions") or []:
        c = dict(c)
        seen.add(c.get("type"))
        if c.get("type") in CONDITIONS and c.get("status") != "Unknown":
            c.update(status="Unknown", reason=reason, message=message, lastTransitionTime=now)
        out.append(c)
    for type_ in CONDITIONS:
        if type_ not in seen:
            out.append(
                {
                    "type": type_,
                    "status": "Unknown",
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                    "lastTransitionTime": now,
                }
            )
    return out


def wanted_taints(
    ready_status: str | None,
    *,
    conditions: Mapping[str, str] | None = None,
    unschedulable: bool = False,
) -> list[tuple[str, str]]:
    """(key, effect) pairs this controller keeps on a node in this state.

    `conditions` maps condition type to status (Ready's is `ready_status`).
    """
    want: list[tuple[str, str]] = []
    if ready_status == "Unknown":
        want.append((UNREACHABLE, "NoExecute"))
    elif ready_status == "False":
        want.append((NOT_READY, "NoExecute"))
    statuses = {**(conditions or {}), "Ready": ready_status}
    for type_, status in statuses.items():
        key = CONDITION_TAINTS.get((type_, status or ""))
        if key is not None:
            want.append((key, "NoSchedule"))
    if unschedulable:
        want.append((UNSCHEDULABLE, "NoSchedule"))
    return want


def reconcile_taints(
    taints: list[Obj],
    ready_status: str | None,
    now: str,
    *,
    conditions: Mapping[str, str] | None = None,
    unschedulable: bool = False,
) -> list[Obj]:
    """Other taints untouched; ours made to match the node (timeAdded kept if present)."""
    want = wanted_taints(ready_status, conditions=conditions, unschedulable=unschedulable)
    kept = [
        t
        for t in taints
        if (t.get("key"), t.get("effect")) not in OWN_TAINTS
        or (t.get("key"), t.get("effect")) in want
    ]
    have = {(t.get("key"), t.get("effect")) for t in kept}
    for key, effect in want:
        if (key, effect) not in have:
            taint: Obj = {"key": key, "effect": effect}
            if effect == "NoExecute":
                taint["timeAdded"] = now
            kept.append(taint)
    return kept


def node_state(node: Obj) -> tuple[dict[str, str], bool]:
    """The node's condition statuses by type, and whether it is cordoned."""
    conditions = {
        c.get("type", ""): c.get("status", "")
        for c in (node.get("status") or {}).get("conditions") or []
    }
    return conditions, bool((node.get("spec") or {}).get("unschedulable"))


def pod_not_ready(pod: Obj, now: str) -> Obj | None:
    """The pod's status with Ready=False (upstream's MarkPodsNotReady), or None if unchanged."""
    status = dict(pod.get("status") or {})
    conditions = [dict(c) for c in status.get("conditions") or []]
    for c in conditions:
        if c.get("type") == "Ready" and c.get("status") != "False":
            c.update(status="False", lastTransitionTime=now)
            status["conditions"] = conditions
            return status
    return None


class NodeLifecycleController(Controller):
    name = NAME
    workers = 1

    def __init__(self, *, grace_period_s: float | None = None, clock: Clock = system_clock) -> None:
        super().__init__(clock=clock)
        self.grace_period_s = grace_period_from_env() if grace_period_s is None else grace_period_s
        self.health: dict[str, Health] = {}

    def setup(self) -> None:
        self.nodes = self.informers.informer("v1", "Node")
        self.leases = self.informers.informer("coordination.k8s.io/v1", "Lease")
        self.pods = self.informers.informer("v1", "Pod")
        self.nodes.add_handlers(
            Handlers(
                on_add=lambda n: self.enqueue(n["metadata"]["name"]),
                on_update=lambda _o, n: self.enqueue(n["metadata"]["name"]),
                on_delete=lambda n: self.health.pop(n["metadata"]["name"], None),
            )
        )
        self.leases.add_handlers(
            Handlers(
                on_add=self._lease_changed,
                on_update=lambda _o, lease: self._lease_changed(lease),
            )
        )

    def _lease_changed(self, lease: Obj) -> None:
        if lease["metadata"].get("namespace") == LEASE_NAMESPACE:
            self.enqueue(lease["metadata"]["name"])

    async def reconcile(self, key: str) -> float | None:
        node = self.nodes.get(key)
        if node is None:
            self.health.pop(key, None)
            return None
        now = self.clock()
        if key not in self.health:  # first seen by this controller, as upstream says so
            message = f"Node {key} event: Registered Node {key} in Controller"
            await self.recorder.event(node, "Normal", "RegisteredNode", message)
        health = self._observe(node, now)
        remaining = health.probe + self.grace_period_s - now
        ready = condition(node, "Ready")
        was_ready = ready is not None and ready.get("status") == "True"
        if remaining <= 0 and (ready is None or ready.get("status") != "Unknown"):
            node = await self._mark_unknown(key, now)
            ready = condition(node, "Ready")
            # our own write is no heartbeat
            health.heartbeat = ready.get("lastHeartbeatTime") if ready else None
        status = ready.get("status") if ready else None
        await self._taint(key, node, status, now)
        if was_ready and status != "True":
            await self._mark_pods_not_ready(node, now)
        return remaining if remaining > 0 else MONITOR_PERIOD_S

    def _observe(self, node: Obj, now: float) -> Health:
        name = node["metadata"]["name"]
        ready = condition(node, "Ready")
        heartbeat = ready.get("lastHeartbeatTime") if ready else None
        lease = self.leases.get(f"{LEASE_NAMESPACE}/{name}")
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        health = self.health.get(name)
        if health is None:
            created = parse_time(node["metadata"].get("creationTimestamp")) or now
            health = self.health[name] = Health(probe=created, heartbeat=heartbeat)
            health.lease_renew = renew
            if heartbeat is not None or renew is not None:
                health.probe = now  # seen alive now: give it a full grace period
            return health
        if heartbeat != health.heartbeat:
            health.heartbeat, health.probe = heartbeat, now
        if renew is not None and renew != health.lease_renew:
            health.lease_renew, health.probe = renew, now
        return health

    async def _mark_unknown(self, name: str, now: float) -> Obj:
        stamp = timestamp(now)

        def apply(node: Obj) -> Obj:
            node.setdefault("status", {})["conditions"] = unknown_conditions(node, stamp)
            return node

        log.info("node %s: no heartbeat for %.0f s, status Unknown", name, self.grace_period_s)
        node = await self.client.mutate("v1", "Node", name, apply, subresource="status")
        await self.recorder.event(
            node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady"
        )
        return node

    async def _taint(self, name: str, node: Obj, ready_status: str | None, now: float) -> None:
        stamp = timestamp(now)

        def wanted(obj: Obj) -> list[Obj]:
            conditions, unschedulable = node_state(obj)
            current = (obj.get("spec") or {}).get("taints") or []
            return reconcile_taints(
                current, ready_status, stamp, conditions=conditions, unschedulable=unschedulable
            )

        if wanted(node) == ((node.get("spec") or {}).get("taints") or []):
            return

        def apply(obj: Obj) -> Obj:
            spec = obj.setdefault("spec", {})
            spec["taints"] = wanted(obj)
            if not spec["taints"]:
                del spec["taints"]
            return obj

        try:
            await self.client.mutate("v1", "Node", name, apply)
        except NotFound:
            return

    async def _mark_pods_not_ready(self, node: Obj, now: float) -> None:
        name = node["metadata"]["name"]
        stamp = timestamp(now)
        for pod in self.pods.list():
            if (pod.get("spec") or {}).get("nodeName") != name:
                continue
            if pod_not_ready(pod, stamp) is None:
                continue

            def apply(obj: Obj) -> Obj:
                status = pod_not_ready(obj, stamp)
                if status is not None:
                    obj["status"] = status
                return obj

            md = pod["metadata"]
            try:
                await self.client.mutate(
                    "v1", "Pod", md["name"], apply, md.get("namespace"), subresource="status"
                )
            except NotFound:
                continue
            await self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")
