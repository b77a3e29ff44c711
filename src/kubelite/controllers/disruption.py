"""The disruption controller: how many pods a PodDisruptionBudget lets go.

For each PodDisruptionBudget it counts the pods its selector matches in its
namespace and the healthy (Ready, not being deleted) ones among them, works
out how many must stay healthy, and writes `status.disruptionsAllowed` with
the counters and the `DisruptionAllowed` condition, as upstream's disruption
controller does. The scheduler's preemption and evictions read the result.

- `minAvailable: N` - N must stay healthy; the matched pods are expected.
- `minAvailable: P%` - ceil(P% of the owners' scale) must stay healthy.
- `maxUnavailable: N or P%` - the owners' scale minus N (P% rounded up).
- neither - nothing is expected, so nothing may be disrupted.

disruptionsAllowed = currentHealthy - desiredHealthy, never below 0, and 0
when no pod is expected.

`status.disruptedPods` holds the pods the eviction subresource approved
(pod name -> time). Until such a pod is being deleted it still counts as
unhealthy, so a second eviction cannot spend the same disruption before
the first pod is seen going. An entry is dropped once its pod is being
deleted or gone, or after `DELETION_TIMEOUT` (the pod was not deleted after
all; a `NotDeleted` warning says so); the budget is looked at again when
the oldest entry expires.

The owners' scale is the `spec.replicas` of each distinct controller of the
matched pods (ReplicaSet - or the Deployment owning it - and StatefulSet);
pods with no controller at all are unmanaged and left out of the scale. A
pod whose controller cannot be found makes the budget impossible to compute:
it gets `DisruptionAllowed=False` with reason `SyncFailed` and allows
nothing, as upstream's fail-safe.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import (
    Obj,
    controller_ref,
    deleting,
    get_condition,
    key_of,
    meta,
    parse_time,
    pod_ready,
    selector_of,
    split_key,
    timestamp,
)

log = logging.getLogger(__name__)
CONDITION = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"
# How long an approved eviction may take to show up as a deleting pod.
DELETION_TIMEOUT = 2 * 60.0


@dataclass(frozen=True)
class Counts:
    """The counters a budget's status reports."""

    expected: int
    current: int
    desired: int
    allowed: int


class ScaleUnknown(Exception):
    """A matched pod has no controller whose scale the budget could use."""


def _int_or_percent(value: Any) -> tuple[int, bool]:
    """(number, is_percent) of an IntOrString."""
    if isinstance(value, str) and value.endswith("%"):
        return int(value[:-1]), True
    return int(value), False


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    number, percent = _int_or_percent(value)
    if not percent:
        return number
    exact = number * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def desired_healthy(spec: Mapping[str, Any], pods: list[Obj], scale: Any) -> tuple[int, int]:
    """(expectedPods, desiredHealthy); `scale(pods)` sums the owners' replicas."""
    max_unavailable = spec.get("maxUnavailable")
    min_available = spec.get("minAvailable")
    if max_unavailable is not None:
        expected = scale(pods)
        desired = expected - scaled_value(max_unavailable, expected, round_up=True)
        return expected, max(desired, 0)
    if min_available is None:
        return 0, 0
    number, percent = _int_or_percent(min_available)
    if not percent:
        return len(pods), number
    expected = scale(pods)
    return expected, scaled_value(min_available, expected, round_up=True)


def disruptions_allowed(expected: int, current_healthy: int, desired: int) -> int:
    allowed = current_healthy - desired
    return 0 if expected <= 0 or allowed <= 0 else allowed


@dataclass(frozen=True)
class DisruptedPods:
    """The entries of `status.disruptedPods` still pending, and what became of the rest."""

    pending: dict[str, str]  # pod name -> RFC 3339 time the eviction was approved
    expired: list[Obj]  # pods that outlived their entry: never deleted after all
    recheck_after: float | None  # seconds until the oldest pending entry expires


def pending_disruptions(pods: list[Obj], recorded: Mapping[str, str], now: float) -> DisruptedPods:
    """upstream buildDisruptedPodMap: keep entries for pods that exist, are not yet
    being deleted, and were approved less than DELETION_TIMEOUT ago."""
    pending: dict[str, str] = {}
    expired: list[Obj] = []
    recheck: float | None = None
    for pod in pods:
        name = meta(pod).get("name", "")
        if deleting(pod) or name not in recorded:
            continue
        try:
            approved = parse_time(recorded[name]) or 0.0
        except ValueError:
            approved = 0.0  # an unreadable time has expired
        deadline = approved + DELETION_TIMEOUT
        if deadline <= now:
            expired.append(pod)
            continue
        pending[name] = recorded[name]
        recheck = deadline - now if recheck is None else min(recheck, deadline - now)
    return DisruptedPods(pending, expired, recheck)


def count_healthy(pods: list[Obj], pending: Mapping[str, str]) -> int:
    """Ready pods not being deleted and not about to be (upstream countHealthyPods)."""
    return sum(
        1 for p in pods if not deleting(p) and meta(p).get("name") not in pending and pod_ready(p)
    )


class DisruptionController(Controller):
    name = "disruption-controller"

    def setup(self) -> None:
        self.pdbs = self.informers.informer("policy/v1", "PodDisruptionBudget")
        self.pods = self.informers.informer("v1", "Pod")
        self.rs = self.informers.informer("apps/v1", "ReplicaSet")
        self.deployments = self.informers.informer("apps/v1", "Deployment")
        self.statefulsets = self.informers.informer("apps/v1", "StatefulSet")
        self.pdbs.add_handlers(
            Handlers(
                on_add=self._pdb_changed,
                on_update=lambda _old, new: self._pdb_changed(new),
            )
        )
        self.pods.add_handlers(
            Handlers(
                on_add=self._pod_changed,
                on_update=lambda old, new: self._pod_changed(new, old),
                on_delete=self._pod_changed,
            )
        )
        owner = Handlers(
            on_add=self._owner_changed,
            on_update=lambda _old, new: self._owner_changed(new),
            on_delete=self._owner_changed,
        )
        for inf in (self.rs, self.deployments, self.statefulsets):
            inf.add_handlers(owner)

    # ---- event handlers -----------------------------------------------------------

    def _pdb_changed(self, pdb: Obj) -> None:
        self.enqueue(key_of(pdb))

    def _pod_changed(self, pod: Obj, old: Obj | None = None) -> None:
        for candidate in (pod, old):
            if candidate is None:
                continue
            for pdb in self._budgets_for(candidate):
                self.enqueue(key_of(pdb))

    def _owner_changed(self, obj: Obj) -> None:
        for pdb in self.pdbs.list(meta(obj).get("namespace")):
            self.enqueue(key_of(pdb))

    def _budgets_for(self, pod: Obj) -> list[Obj]:
        labels = meta(pod).get("labels") or {}
        return [
            pdb
            for pdb in self.pdbs.list(meta(pod).get("namespace"))
            if selector_of(pdb).matches(labels)
        ]

    # ---- the sync -----------------------------------------------------------------

    def _scale(self, pods: list[Obj]) -> int:
        """Sum of `spec.replicas` over the distinct controllers of `pods`."""
        seen: dict[str, int] = {}
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                continue  # an unmanaged pod: no scale to count
            owner = self._scalable_owner(pod, ref)
            if owner is None:
                raise ScaleUnknown(f'found no controllers for pod "{meta(pod).get("name")}"')
            uid = meta(owner).get("uid", "")
            seen[uid] = int((owner.get("spec") or {}).get("replicas", 1))
        return sum(seen.values())

    def _scalable_owner(self, pod: Obj, ref: Mapping[str, Any]) -> Obj | None:
        ns = meta(pod).get("namespace")
        if ref.get("kind") == "StatefulSet":
            return self.statefulsets.by_uid(ref.get("uid", ""))
        if ref.get("kind") != "ReplicaSet":
            return None
        rs = self.rs.by_uid(ref.get("uid", ""))
        if rs is None or meta(rs).get("namespace") != ns:
            return None
        owner_ref = controller_ref(rs)
        if owner_ref is not None and owner_ref.get("kind") == "Deployment":
            deployment = self.deployments.by_uid(owner_ref.get("uid", ""))
            if deployment is not None:
                return deployment
        return rs

    async def reconcile(self, key: str) -> float | None:
        pdb = self.pdbs.get(key)
        if pdb is None or deleting(pdb):
            return None
        ns, _ = split_key(key)
        selector = selector_of(pdb)
        pods = sorted(
            (p for p in self.pods.list(ns) if selector.matches(meta(p).get("labels") or {})),
            key=lambda p: meta(p).get("name", ""),
        )
        recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
        disrupted = pending_disruptions(pods, recorded, self.clock())
        for pod in disrupted.expired:
            await self.recorder.event(
                pod,
                "Warning",
                "NotDeleted",
                f"Pod was expected by PDB {ns}/{meta(pdb).get('name')} to be deleted but it wasn't",
            )
        current = count_healthy(pods, disrupted.pending)
        try:
            expected, desired = desired_healthy(pdb.get("spec") or {}, pods, self._scale)
        except ScaleUnknown as exc:
            await self._write(
                pdb, Counts(0, current, 0, 0), disrupted.pending, SYNC_FAILED, str(exc)
            )
            return None
        allowed = disruptions_allowed(expected, current, desired)
        reason = SUFFICIENT_PODS if allowed > 0 else INSUFFICIENT_PODS
        await self._write(
            pdb, Counts(expected, current, desired, allowed), disrupted.pending, reason, ""
        )
        return disrupted.recheck_after

    async def _write(
        self,
        pdb: Obj,
        counts: Counts,
        disrupted: dict[str, str],
        reason: str,
        message: str,
    ) -> None:
        old = pdb.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": meta(pdb).get("generation", 1),
            "disruptionsAllowed": counts.allowed,
            "currentHealthy": counts.current,
            "desiredHealthy": counts.desired,
            "expectedPods": counts.expected,
        }
        if disrupted:
            status["disruptedPods"] = disrupted
        truth = "True" if reason == SUFFICIENT_PODS else "False"
        cond = get_condition(old, CONDITION)
        transition = (
            cond["lastTransitionTime"]
            if cond and cond.get("status") == truth and cond.get("lastTransitionTime")
            else timestamp(self.clock())
        )
        status["conditions"] = [
            {
                "type": CONDITION,
                "status": truth,
                "reason": reason,
                "message": message,
                "observedGeneration": status["observedGeneration"],
                "lastTransitionTime": transition,
            }
        ]
        if status == old:
            return
        # A whole-status PUT (not a merge patch), so dropped disruptedPods entries go;
        # the resourceVersion makes it lose to an eviction that wrote in between.
        body = {**pdb, "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "status": status}
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.update_status(body)


__all__ = [
    "DisruptionController",
    "count_healthy",
    "desired_healthy",
    "disruptions_allowed",
    "pending_disruptions",
    "scaled_value",
]
