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
matched pods, found as upstream's finders do, in order: a ReplicationController,
the Deployment owning a ReplicaSet, a ReplicaSet no Deployment owns, a
StatefulSet (all from the informers), and last any other owner through its
`scale` subresource read from the API (a custom resource whose CRD declares
one). An owner whose type serves no `scale` (a DaemonSet, a Job) makes the
budget impossible to compute ("daemonsets.apps does not implement the scale
subresource"), and so does a controller that cannot be found ("found no
controllers for pod ..."): the budget gets `DisruptionAllowed=False` with
reason `SyncFailed`, allows nothing and keeps its other counters (upstream's
fail-safe), and a `CalculateExpectedPodCountFailed` warning says why. Pods
with no controller at all are unmanaged: left out of the scale, with an
`UnmanagedPods` warning. A budget whose selector matches no pod gets a
`NoPods` event. The scale is looked up only when the budget needs it
(`maxUnavailable`, or a percentage `minAvailable`).
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
from kubelite.controllers.events import NORMAL, WARNING
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import (
    Obj,
    controller_ref,
    copy,
    deleting,
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
EVENT_SOURCE = "controllermanager"
APPS = ("apps", "extensions")  # the groups a ReplicaSet or Deployment reference may name


@dataclass(frozen=True)
class Counts:
    """The counters a budget's status reports."""

    expected: int
    current: int
    desired: int
    allowed: int


class ScaleUnknown(Exception):
    """The owners' scale cannot be computed; the message is upstream's error text."""


@dataclass(frozen=True)
class ControllerScale:
    """A controller of matched pods and its `spec.replicas` (upstream controllerAndScale)."""

    uid: str
    replicas: int


@dataclass(frozen=True)
class ExpectedScale:
    """The owners' summed scale and the names of the matched pods without a controller."""

    total: int
    unmanaged: tuple[str, ...] = ()


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


def needs_scale(spec: Mapping[str, Any]) -> bool:
    """Whether the budget is relative to its owners' scale (upstream getExpectedScale)."""
    if spec.get("maxUnavailable") is not None:
        return True
    min_available = spec.get("minAvailable")
    return min_available is not None and _int_or_percent(min_available)[1]


def desired_healthy(spec: Mapping[str, Any], matched: int, scale: int) -> tuple[int, int]:
    """(expectedPods, desiredHealthy) from `matched` pods and the owners' `scale`."""
    max_unavailable = spec.get("maxUnavailable")
    min_available = spec.get("minAvailable")
    if max_unavailable is not None:
        desired = scale - scaled_value(max_unavailable, scale, round_up=True)
        return scale, max(desired, 0)
    if min_available is None:
        return 0, 0
    number, percent = _int_or_percent(min_available)
    if not percent:
        return matched, number
    return scale, scaled_value(min_available, scale, round_up=True)


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


def parse_group_version(api_version: str) -> tuple[str, str]:
    """(group, version) as schema.ParseGroupVersion splits an apiVersion."""
    if api_version in ("", "/"):
        return "", ""
    if api_version.count("/") > 1:
        raise ScaleUnknown(f"unexpected GroupVersion string: {api_version}")
    group, _, version = api_version.rpartition("/")
    return group, version


def _refers_to(ref: Mapping[str, Any], kind: str, groups: tuple[str, ...]) -> bool:
    """verifyGroupKind: `ref` names `kind` in one of `groups`."""
    group, _ = parse_group_version(str(ref.get("apiVersion") or ""))
    return ref.get("kind") == kind and group in groups


def go_selector(selector: Any) -> str:
    """A LabelSelector as Go's %v prints it (its generated String method)."""
    if not isinstance(selector, Mapping):
        return "nil"
    labels = "".join(f"{k}: {v}," for k, v in sorted((selector.get("matchLabels") or {}).items()))
    exprs = "".join(
        "LabelSelectorRequirement{"
        f"Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(e.get('values') or [])}],}},"
        for e in selector.get("matchExpressions") or []
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )


def unmanaged_pods_message(pdb: Mapping[str, Any]) -> str:
    selector = go_selector((pdb.get("spec") or {}).get("selector"))
    return (
        f"Pods selected by this PodDisruptionBudget (selector: {selector}) were found "
        "to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, "
        "which may result in undefined behavior. To account for these pods please set "
        '".spec.minAvailable" field of the PDB to an integer value.'
    )


def with_condition(conditions: list[Obj], cond: Obj, now: float) -> list[Obj]:
    """apimeta.SetStatusCondition: replace the condition of the same type, keeping its
    lastTransitionTime while its status holds; append it when new."""
    out = [dict(c) for c in conditions]
    for i, old in enumerate(out):
        if old.get("type") == cond["type"]:
            same = old.get("status") == cond["status"] and old.get("lastTransitionTime")
            out[i] = {
                **cond,
                "lastTransitionTime": old["lastTransitionTime"] if same else timestamp(now),
            }
            return out
    return [*out, {**cond, "lastTransitionTime": timestamp(now)}]


def _replicas(obj: Mapping[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))


class DisruptionController(Controller):
    name = "disruption-controller"

    def setup(self) -> None:
        # Upstream's disruption controller records its events as "controllermanager"
        # (kubectl's "From" column), not under its own name as most controllers do.
        self.recorder.component = EVENT_SOURCE
        self.pdbs = self.informers.informer("policy/v1", "PodDisruptionBudget")
        self.pods = self.informers.informer("v1", "Pod")
        self.rcs = self.informers.informer("v1", "ReplicationController")
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
        for inf in (self.rcs, self.rs, self.deployments, self.statefulsets):
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

    # ---- the owners' scale: upstream's finders, in order ---------------------------

    async def _expected_scale(self, pods: list[Obj]) -> ExpectedScale:
        """upstream getExpectedScale: the replicas of the matched pods' distinct controllers."""
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            name, ns = meta(pod).get("name", ""), str(meta(pod).get("namespace") or "")
            ref = controller_ref(pod)
            if ref is None:
                unmanaged.append(name)
                continue
            if ref.get("uid") in scales:
                continue
            found = await self._find_controller(ref, ns)
            if found is None:
                raise ScaleUnknown(f'found no controllers for pod "{name}"')
            scales[found.uid] = found.replicas
        return ExpectedScale(sum(scales.values()), tuple(unmanaged))

    async def _find_controller(self, ref: Mapping[str, Any], ns: str) -> ControllerScale | None:
        cached = (
            self._replication_controller,
            self._deployment,
            self._replica_set,
            self._stateful_set,
        )
        for finder in cached:
            found = finder(ref, ns)
            if found is not None:
                return found
        return await self._scale_subresource(ref, ns)

    @staticmethod
    def _cached(informer: Informer, ref: Mapping[str, Any], ns: str) -> Obj | None:
        """The object `ref` names, if the cache has it with the same uid."""
        obj: Obj | None = informer.get(f"{ns}/{ref.get('name')}")
        return obj if obj is not None and meta(obj).get("uid") == ref.get("uid") else None

    def _replication_controller(self, ref: Mapping[str, Any], ns: str) -> ControllerScale | None:
        if not _refers_to(ref, "ReplicationController", ("",)):
            return None
        rc = self._cached(self.rcs, ref, ns)
        return ControllerScale(meta(rc)["uid"], _replicas(rc)) if rc is not None else None

    def _deployment(self, ref: Mapping[str, Any], ns: str) -> ControllerScale | None:
        if not _refers_to(ref, "ReplicaSet", APPS):
            return None
        rs = self._cached(self.rs, ref, ns)
        owner = controller_ref(rs) if rs is not None else None
        if owner is None or not _refers_to(owner, "Deployment", APPS):
            return None
        deployment = self._cached(self.deployments, owner, ns)
        if deployment is None:
            return None
        return ControllerScale(meta(deployment)["uid"], _replicas(deployment))

    def _replica_set(self, ref: Mapping[str, Any], ns: str) -> ControllerScale | None:
        if not _refers_to(ref, "ReplicaSet", APPS):
            return None
        rs = self._cached(self.rs, ref, ns)
        if rs is None:
            return None
        owner = controller_ref(rs)
        if owner is not None and owner.get("kind") == "Deployment":
            return None  # the Deployment's to count (or, gone, the scale subresource's)
        return ControllerScale(meta(rs)["uid"], _replicas(rs))

    def _stateful_set(self, ref: Mapping[str, Any], ns: str) -> ControllerScale | None:
        if not _refers_to(ref, "StatefulSet", ("apps",)):
            return None
        sts = self._cached(self.statefulsets, ref, ns)
        return ControllerScale(meta(sts)["uid"], _replicas(sts)) if sts is not None else None

    async def _scale_subresource(self, ref: Mapping[str, Any], ns: str) -> ControllerScale | None:
        """getScaleController: any other owner, through its `scale` subresource."""
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        group, _ = parse_group_version(api_version)
        rt = self.client.find_resource(api_version, kind)
        if rt is None:  # the RESTMapper's NoKindMatchError
            raise ScaleUnknown(f'no matches for kind "{kind}" in version "{api_version}"')
        if "scale" not in rt.subresources:
            resource = f"{rt.plural}.{group}" if group else rt.plural
            raise ScaleUnknown(f"{resource} does not implement the scale subresource")
        try:
            scale = await self.client.get_scale(api_version, kind, str(ref.get("name")), ns)
        except errors.NotFound:
            return None
        except errors.ApiError as exc:
            raise ScaleUnknown(exc.message) from None
        if meta(scale).get("uid") != ref.get("uid"):
            return None
        return ControllerScale(
            meta(scale)["uid"], int((scale.get("spec") or {}).get("replicas") or 0)
        )

    # ---- the sync -----------------------------------------------------------------

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
        if not pods:
            await self.recorder.event(pdb, NORMAL, "NoPods", "No matching pods found")
        spec = pdb.get("spec") or {}
        try:
            scale = await self._expected_scale(pods) if needs_scale(spec) else ExpectedScale(0)
        except ScaleUnknown as exc:
            message = f"Failed to calculate the number of expected pods: {exc}"
            await self.recorder.event(pdb, WARNING, "CalculateExpectedPodCountFailed", message)
            await self._fail_safe(pdb, str(exc))
            return None
        if scale.unmanaged:
            await self.recorder.event(pdb, WARNING, "UnmanagedPods", unmanaged_pods_message(pdb))
        expected, desired = desired_healthy(spec, len(pods), scale.total)
        recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
        disrupted = pending_disruptions(pods, recorded, self.clock())
        for pod in disrupted.expired:
            await self.recorder.event(
                pod,
                WARNING,
                "NotDeleted",
                f"Pod was expected by PDB {ns}/{meta(pdb).get('name')} to be deleted but it wasn't",
            )
        current = count_healthy(pods, disrupted.pending)
        allowed = disruptions_allowed(expected, current, desired)
        await self._write(pdb, Counts(expected, current, desired, allowed), disrupted.pending)
        return disrupted.recheck_after

    async def _write(self, pdb: Obj, counts: Counts, disrupted: dict[str, str]) -> None:
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
        sufficient = counts.allowed > 0
        cond = {
            "type": CONDITION,
            "status": "True" if sufficient else "False",
            "reason": SUFFICIENT_PODS if sufficient else INSUFFICIENT_PODS,
            "message": "",
            "observedGeneration": status["observedGeneration"],
        }
        status["conditions"] = with_condition(old.get("conditions") or [], cond, self.clock())
        await self._put_status(pdb, status)

    async def _fail_safe(self, pdb: Obj, message: str) -> None:
        """upstream failSafe: allow nothing, say why, keep the rest of the status as it was."""
        status = copy(pdb.get("status") or {})
        status["disruptionsAllowed"] = 0
        cond: Obj = {
            "type": CONDITION,
            "status": "False",
            "reason": SYNC_FAILED,
            "message": message,
        }
        if status.get("observedGeneration"):
            cond["observedGeneration"] = status["observedGeneration"]
        status["conditions"] = with_condition(status.get("conditions") or [], cond, self.clock())
        await self._put_status(pdb, status)

    async def _put_status(self, pdb: Obj, status: dict[str, Any]) -> None:
        if status == (pdb.get("status") or {}):
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
    "go_selector",
    "needs_scale",
    "pending_disruptions",
    "scaled_value",
]
