"""The Deployment controller: ReplicaSets per template, rolled by strategy.

Handlers map ReplicaSet and pod changes to the owning deployment's key. A
sync claims ReplicaSets (adopt/release by selector), records pause and
resume on the Progressing condition, then either only scales (paused, or
`replicas` changed) or rolls out by the strategy, and finally writes
status. `kubectl rollout undo` needs nothing special here: it puts an old
template back, and the old ReplicaSet is found again as the new one.
"""

from __future__ import annotations

import logging

from kubelite.controllers.claim import claim
from kubelite.controllers.controller import Controller
from kubelite.controllers.deployment import util as u
from kubelite.controllers.deployment.recreate import rollout_recreate
from kubelite.controllers.deployment.rolling import rollout_rolling
from kubelite.controllers.deployment.sync import Sync
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import (
    Obj,
    controller_ref,
    copy,
    deleting,
    get_condition,
    key_of,
    matching_owners,
    meta,
    owner_key,
    selector_of,
    split_key,
)

log = logging.getLogger(__name__)

NAME = "deployment-controller"


class DeploymentController(Controller):
    name = NAME
    workers = 5

    def setup(self) -> None:
        self.d_informer: Informer = self.informers.informer("apps/v1", "Deployment")
        self.rs_informer: Informer = self.informers.informer("apps/v1", "ReplicaSet")
        self.pod_informer: Informer = self.informers.informer("v1", "Pod")
        self.d_informer.add_handlers(
            Handlers(
                on_add=lambda d: self.enqueue(key_of(d)),
                on_update=lambda _o, d: self.enqueue(key_of(d)),
                on_delete=lambda d: self.enqueue(key_of(d)),
            )
        )
        self.rs_informer.add_handlers(
            Handlers(
                on_add=self._rs_changed, on_update=self._rs_updated, on_delete=self._rs_changed
            )
        )
        self.pod_informer.add_handlers(Handlers(on_delete=self._pod_deleted))

    # ---- handlers ------------------------------------------------------------------

    def _owner_key(self, rs: Obj) -> str | None:
        return owner_key(rs, "Deployment", self.d_informer)

    def _rs_changed(self, rs: Obj) -> None:
        key = self._owner_key(rs)
        if key is not None:
            self.enqueue(key)
        elif controller_ref(rs) is None:
            for d in matching_owners(rs, self.d_informer):
                self.enqueue(d)

    def _rs_updated(self, old: Obj, rs: Obj) -> None:
        old_key = self._owner_key(old)
        if old_key is not None and old_key != self._owner_key(rs):
            self.enqueue(old_key)
        self._rs_changed(rs)

    def _pod_deleted(self, pod: Obj) -> None:
        """Recreate waits for old pods to be gone: their deletion wakes it."""
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_informer.get(f"{meta(pod).get('namespace')}/{ref.get('name')}")
        key = self._owner_key(rs) if rs is not None else None
        d = self.d_informer.get(key) if key else None
        if d is not None and not u.is_rolling(d):
            self.enqueue(key_of(d))

    # ---- reconcile -----------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        cached = self.d_informer.get(key)
        if cached is None:
            return None
        d = copy(cached)
        ns, _ = split_key(key)
        candidates = self.rs_informer.list(ns)
        rss = [copy(rs) for rs in await claim(self.client, d, selector_of(d), candidates)]
        s = Sync(self, d, rss)
        if deleting(d):
            new, old = await s.new_and_old(create=False)
            await s.sync_status([*old, new], new)
            return None
        await self._check_paused(s)
        if d["spec"].get("paused"):
            await s.sync()
            return None
        if await self._scaling_event(s):
            await s.sync()
            return None
        if u.is_rolling(d):
            return await rollout_rolling(s)
        pods_by_rs = {meta(rs)["uid"]: self.pod_informer.owned_by(meta(rs)["uid"]) for rs in rss}
        return await rollout_recreate(s, pods_by_rs)

    async def _check_paused(self, s: Sync) -> None:
        d = s.d
        if not u.has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        cond = get_condition(status, u.PROGRESSING)
        paused = bool(d["spec"].get("paused"))
        if paused and (cond is None or cond.get("reason") != u.PAUSED):
            new = u.new_condition(u.PROGRESSING, "Unknown", u.PAUSED, "Deployment is paused", s.now)
        elif not paused and cond is not None and cond.get("reason") == u.PAUSED:
            new = u.new_condition(
                u.PROGRESSING, "Unknown", u.RESUMED, "Deployment is resumed", s.now
            )
        else:
            return
        u.set_condition(status, new)
        await s.write_status(status)

    async def _scaling_event(self, s: Sync) -> bool:
        """Did `replicas` change since the active ReplicaSets were sized?"""
        new, old = await s.new_and_old(create=False)
        for rs in u.active([*old, new]):
            desired = u.desired_replicas_annotation(rs)
            if desired is not None and desired != u.replicas(s.d):
                return True
        return False
