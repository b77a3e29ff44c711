"""The resource-quota controller: keep each ResourceQuota's status current.

`status.hard` mirrors `spec.hard`; `status.used` is what the namespace's
objects use of each of those resources, counted by the same evaluators the
ResourceQuota admission plugin charges with (`kubelite.api.quota`), so
`kubectl describe quota` and the admission's "used" agree.

Nothing polls. The quota informer enqueues a quota when it is written; the
informers of the kinds quotas commonly count (pods, Services, claims,
ConfigMaps, Secrets and the workload kinds) enqueue the quotas of a
namespace whenever an object's usage changes there, as upstream's
replenishment controller does. A pod being deleted stops counting when its
grace period ends: the quota asks to be looked at again then. A `count/`
resource of some other kind is listed when its quota is synced, so it is
exact after every write of the quota or of the kinds above.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

from kubelite.api import quota as rl
from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import Obj, deleting, key_of, meta, split_key

log = logging.getLogger(__name__)

# The kinds watched for usage changes: what quotas count in practice.
WATCHED = (
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
)


def hard_names(quota: Obj) -> set[str]:
    return set(((quota.get("spec") or {}).get("hard") or {}).keys())


def grace_ends(pods: list[Obj], now: float) -> float | None:
    """Seconds until the first charged pod being deleted stops counting, if any."""
    soonest: float | None = None
    for pod in pods:
        md = meta(pod)
        stamp, grace = md.get("deletionTimestamp"), md.get("deletionGracePeriodSeconds")
        if not stamp or grace is None or not rl.pod_charged(pod, now):
            continue
        ends = datetime.fromisoformat(str(stamp)).timestamp() + int(grace) - now
        soonest = ends if soonest is None else min(soonest, ends)
    return None if soonest is None else max(soonest, 0.0) + 1.0


class ResourceQuotaController(Controller):
    name = "resourcequota-controller"

    def setup(self) -> None:
        self.quotas = self.informers.informer("v1", "ResourceQuota")
        self.quotas.add_handlers(
            Handlers(on_add=self._quota_changed, on_update=lambda _o, n: self._quota_changed(n))
        )
        self.sources: list[tuple[ResourceType, Informer]] = []
        for api_version, kind in WATCHED:
            rt = REGISTRY.by_kind(api_version, kind)
            assert rt is not None
            informer = self.informers.informer(api_version, kind)
            self.sources.append((rt, informer))
            informer.add_handlers(self._handlers(rt))

    def _handlers(self, rt: ResourceType) -> Handlers:
        def changed(old: Obj | None, new: Obj | None) -> None:
            now = self.clock()
            before = rl.usage(rt.group, rt.plural, old, now) if old is not None else {}
            after = rl.usage(rt.group, rt.plural, new, now) if new is not None else {}
            if before != after:
                self._usage_changed(rt, meta(new or old or {}).get("namespace"))

        return Handlers(
            on_add=lambda obj: changed(None, obj),
            on_update=changed,
            on_delete=lambda obj: changed(obj, None),
        )

    def _quota_changed(self, quota: Obj) -> None:
        self.enqueue(key_of(quota))

    def _usage_changed(self, rt: ResourceType, namespace: str | None) -> None:
        for quota in self.quotas.list(namespace):
            if rl.tracked(rt.group, rt.plural, hard_names(quota)):
                self.enqueue(key_of(quota))

    async def _objects(self, rt: ResourceType, namespace: str) -> list[Obj]:
        for watched, informer in self.sources:
            if watched is rt:
                return informer.list(namespace)
        items, _ = await self.client.list(rt.api_version, rt.kind, namespace)
        return items

    async def usage(self, quota: Obj, namespace: str) -> tuple[rl.ResourceList, float | None]:
        """`status.used` for `quota`, and when to look again (a pod's grace ending)."""
        names = hard_names(quota)
        now = self.clock()
        used: rl.ResourceList = {}
        recheck: float | None = None
        for rt in REGISTRY.resources:
            if not rt.stored or not rt.namespaced or not rl.tracked(rt.group, rt.plural, names):
                continue
            objects = await self._objects(rt, namespace)
            used.update(
                rl.namespace_usage(
                    rt.group, rt.plural, objects, quota, rl.tracked(rt.group, rt.plural, names), now
                )
            )
            if (rt.group, rt.plural) == ("", "pods"):
                recheck = grace_ends(objects, now)
        return used, recheck

    async def reconcile(self, key: str) -> float | None:
        quota = self.quotas.get(key)
        if quota is None or deleting(quota):
            return None
        namespace, _ = split_key(key)
        used, recheck = await self.usage(quota, namespace or "")
        old_status = quota.get("status") or {}
        hard = rl.parse_list((quota.get("spec") or {}).get("hard"))
        # Resources no evaluator counts keep what was observed before, as upstream.
        kept = rl.mask(rl.parse_list(old_status.get("used")), set(hard) - set(used))
        status: dict[str, Any] = {"hard": rl.to_wire(hard), "used": rl.to_wire({**kept, **used})}
        if status != {k: old_status.get(k) for k in ("hard", "used")}:
            body = {**quota, "apiVersion": "v1", "kind": "ResourceQuota", "status": status}
            log.debug("resourcequota %s: used %s", key, status["used"])
            with contextlib.suppress(errors.NotFound):
                await self.client.update_status(body)
        return recheck


__all__ = ["ResourceQuotaController", "grace_ends"]
