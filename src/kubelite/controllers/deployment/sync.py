"""What every deployment sync shares: finding the new ReplicaSet, scaling, status.

The new ReplicaSet is the one whose template equals the deployment's
(ignoring the pod-template-hash label); it is created on demand, named
`<deployment>-<hash>` and stamped with the next revision. A change of
`replicas` while a rollout is under way is spread over the active
ReplicaSets in proportion to their size (`scale`), as upstream does, so a
scale during a rollout keeps the rollout's shape.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kubelite.apiserver import errors
from kubelite.controllers.deployment import util as u
from kubelite.controllers.events import NORMAL, WARNING
from kubelite.controllers.objects import Obj, copy, deleting, get_condition, meta, owner_ref_for

if TYPE_CHECKING:
    from kubelite.controllers.deployment.controller import DeploymentController

log = logging.getLogger(__name__)


class Sync:
    """One sync of one deployment. `d` is a private copy; ReplicaSets too."""

    def __init__(self, ctrl: DeploymentController, d: Obj, rss: list[Obj]) -> None:
        self.ctrl = ctrl
        self.d = d
        self.rss = rss

    @property
    def now(self) -> float:
        return self.ctrl.clock()

    # ---- new and old ReplicaSets ---------------------------------------------------------

    def find_new(self) -> Obj | None:
        template = self.d["spec"]["template"]
        for rs in u.by_creation(self.rss):
            if u.equal_ignore_hash(rs["spec"]["template"], template):
                return rs
        return None

    def old_replica_sets(self, new: Obj | None) -> list[Obj]:
        new_uid = meta(new)["uid"] if new else None
        return [rs for rs in self.rss if meta(rs)["uid"] != new_uid]

    async def new_and_old(self, *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """`getAllReplicaSetsAndSyncRevision`."""
        existing = self.find_new()
        old = self.old_replica_sets(existing)
        new = await self._new_replica_set(existing, old, create=create)
        return new, self.old_replica_sets(new)

    async def _new_replica_set(
        self, existing: Obj | None, old: list[Obj], *, create: bool
    ) -> Obj | None:
        new_revision = u.max_revision(old) + 1
        if existing is not None:
            await self._sync_existing(existing, new_revision)
            return existing
        if not create:
            return None
        return await self._create_new(old, new_revision)

    async def _sync_existing(self, rs: Obj, new_revision: int) -> None:
        rs_copy = copy(rs)
        changed = u.set_new_rs_annotations(self.d, rs_copy, new_revision, exists=True)
        min_ready = int(self.d["spec"].get("minReadySeconds") or 0)
        if int(rs_copy["spec"].get("minReadySeconds") or 0) != min_ready:
            rs_copy["spec"]["minReadySeconds"] = min_ready
            changed = True
        if changed:
            _replace(rs, await self.ctrl.client.update(rs_copy))
        status = self.d.setdefault("status", {})
        needs_update = await self.set_deployment_revision(u.annotations_revision(rs))
        if get_condition(status, u.PROGRESSING) is None:
            msg = f'Found new replica set "{meta(rs)["name"]}"'
            u.set_condition(
                status, u.new_condition(u.PROGRESSING, "True", u.FOUND_NEW_RS, msg, self.now)
            )
            needs_update = True
        if needs_update:
            await self.write_status(status)

    async def _create_new(self, old: list[Obj], new_revision: int) -> Obj:
        d = self.d
        status = d.setdefault("status", {})
        collisions = status.get("collisionCount")
        h = u.compute_hash(d["spec"]["template"], collisions)
        template = copy(d["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[u.POD_TEMPLATE_HASH] = h
        selector = copy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[u.POD_TEMPLATE_HASH] = h
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta(d)['name']}-{h}",
                "namespace": meta(d)["namespace"],
                "ownerReferences": [owner_ref_for(d)],
                "labels": dict(template["metadata"]["labels"]),
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int(d["spec"].get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        rs["spec"]["replicas"] = new_rs_replicas(d, [*old, rs], rs)
        u.set_new_rs_annotations(d, rs, new_revision, exists=False)
        try:
            created = await self.ctrl.client.create(rs)
        except errors.AlreadyExists:
            return await self._collision(rs)
        except errors.ApiError as exc:
            msg = f'Failed to create new replica set "{rs["metadata"]["name"]}": {exc.message}'
            cond = u.new_condition(u.PROGRESSING, "False", u.FAILED_RS_CREATE, msg, self.now)
            u.set_condition(status, cond)
            await self.ctrl.recorder.event(d, WARNING, u.FAILED_RS_CREATE, msg)
            await self.write_status(status)
            raise
        if u.replicas(created) > 0:
            await self.scaled_event("up", created, u.replicas(created), None)
        await self.set_deployment_revision(u.annotations_revision(created))
        msg = f'Created new replica set "{meta(created)["name"]}"'
        u.set_condition(
            status, u.new_condition(u.PROGRESSING, "True", u.NEW_RS_CREATED, msg, self.now)
        )
        await self.write_status(status)
        self.rss.append(created)
        return created

    async def _collision(self, rs: Obj) -> Obj:
        """A ReplicaSet of that name exists: ours but not yet cached, or a hash collision."""
        d = self.d
        existing = await self.ctrl.client.get_or_none(
            "apps/v1", "ReplicaSet", meta(rs)["name"], meta(d)["namespace"]
        )
        ref = (existing or {}).get("metadata", {}).get("ownerReferences") or []
        ours = any(r.get("uid") == meta(d)["uid"] and r.get("controller") for r in ref)
        if (
            existing is not None
            and ours
            and u.equal_ignore_hash(existing["spec"]["template"], d["spec"]["template"])
        ):
            self.rss.append(existing)
            return existing
        status = d.setdefault("status", {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        await self.write_status(status)
        raise RuntimeError(
            f"hash collision for replica set {meta(rs)['name']}; retrying with a new name"
        )

    async def set_deployment_revision(self, revision: str | None) -> bool:
        """Mirror the new ReplicaSet's revision on the deployment (`SetDeploymentRevision`)."""
        if revision is None or u_annotations(self.d).get(u.REVISION) == revision:
            return False
        uid = meta(self.d)["uid"]

        def stamp(live: Obj) -> Obj:
            if meta(live).get("uid") != uid:
                raise errors.NotFound("deployment was replaced")
            live["metadata"].setdefault("annotations", {})[u.REVISION] = revision
            return live

        updated = await self.ctrl.client.mutate(
            "apps/v1", "Deployment", meta(self.d)["name"], stamp, meta(self.d)["namespace"]
        )
        self.d["metadata"] = updated["metadata"]
        return True

    # ---- scaling ----------------------------------------------------------------------------

    async def scale_rs(self, rs: Obj, new_scale: int) -> bool:
        """`scaleReplicaSet`: size and replica annotations; an event when the size moves."""
        d = self.d
        old_scale = u.replicas(rs)
        desired, most = u.replicas(d), u.replicas(d) + u.max_surge(d)
        size_changed = old_scale != new_scale
        if not size_changed and not u.replicas_annotations_need_update(rs, desired, most):
            return False
        rs_copy = copy(rs)
        rs_copy["spec"]["replicas"] = new_scale
        u.set_replicas_annotations(rs_copy, desired, most)
        _replace(rs, await self.ctrl.client.update(rs_copy))
        if size_changed:
            await self.scaled_event(
                "up" if new_scale > old_scale else "down", rs, new_scale, old_scale
            )
        return size_changed

    async def scale_and_record(self, rs: Obj, new_scale: int) -> bool:
        if u.replicas(rs) == new_scale:
            return False
        return await self.scale_rs(rs, new_scale)

    async def scaled_event(self, direction: str, rs: Obj, new: int, old: int | None) -> None:
        name = meta(rs)["name"]
        msg = f"Scaled {direction} replica set {name} to {new}"
        if old is not None:
            msg += f" from {old}"
        await self.ctrl.recorder.event(self.d, NORMAL, "ScalingReplicaSet", msg)

    async def scale(self, new: Obj | None, old: list[Obj]) -> None:
        """Scale for a changed `replicas`: proportionally while a rollout runs."""
        d = self.d
        latest = find_active_or_latest(new, old)
        if latest is not None:
            if u.replicas(latest) != u.replicas(d):
                await self.scale_and_record(latest, u.replicas(d))
            return
        if saturated(d, new):
            for rs in u.active(old):
                await self.scale_and_record(rs, 0)
            return
        if u.is_rolling(d):
            await self._scale_proportionally(u.active([*old, new]))

    async def _scale_proportionally(self, rss: list[Obj]) -> None:
        d = self.d
        allowed = u.replicas(d) + u.max_surge(d) if u.replicas(d) > 0 else 0
        to_add = allowed - u.spec_replicas(rss)
        if to_add > 0:  # largest first, newer first on ties
            rss.sort(key=lambda rs: (-u.replicas(rs), -u.created_at_of(rs)))
        elif to_add < 0:  # largest first, older first on ties
            rss.sort(key=lambda rs: (-u.replicas(rs), u.created_at_of(rs)))
        sizes: dict[str, int] = {}
        added = 0
        for rs in rss:
            proportion = proportion_for(rs, d, to_add, added) if to_add else 0
            sizes[meta(rs)["name"]] = u.replicas(rs) + proportion
            added += proportion
        if added != to_add and rss:
            first = meta(rss[0])["name"]
            sizes[first] = max(0, sizes[first] + to_add - added)
        for rs in rss:
            await self.scale_rs(rs, sizes[meta(rs)["name"]])

    # ---- history -------------------------------------------------------------------------

    async def cleanup(self, old: list[Obj]) -> None:
        """Delete the oldest unused ReplicaSets beyond revisionHistoryLimit."""
        limit = self.d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        cleanable = [rs for rs in old if not deleting(rs)]
        diff = len(cleanable) - int(limit)
        if diff <= 0:
            return
        cleanable.sort(key=lambda rs: (u.revision(rs), u.created_at_of(rs)))
        for rs in cleanable[:diff]:
            st = rs.get("status") or {}
            if int(st.get("replicas") or 0) or u.replicas(rs):
                continue
            if int(meta(rs).get("generation") or 0) > int(st.get("observedGeneration") or 0):
                continue
            with contextlib.suppress(errors.NotFound):
                await self.ctrl.client.delete(
                    "apps/v1", "ReplicaSet", meta(rs)["name"], meta(rs)["namespace"]
                )

    # ---- status ------------------------------------------------------------------------

    def calculate_status(self, rss: Sequence[Obj | None], new: Obj | None) -> dict[str, Any]:
        d = self.d
        old_status = d.get("status") or {}
        available = u.available_replicas(rss)
        total = u.spec_replicas(rss)
        status: dict[str, Any] = {
            "observedGeneration": meta(d).get("generation"),
            "replicas": u.actual_replicas(rss),
            "updatedReplicas": u.actual_replicas([new]),
            "readyReplicas": u.ready_replicas(rss),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total - available),
        }
        if old_status.get("collisionCount") is not None:
            status["collisionCount"] = old_status["collisionCount"]
        if old_status.get("conditions"):
            status["conditions"] = copy({"c": old_status["conditions"]})["c"]
        if available >= u.replicas(d) - u.max_unavailable(d):
            cond = u.new_condition(
                u.AVAILABLE,
                "True",
                u.MIN_AVAILABLE,
                "Deployment has minimum availability.",
                self.now,
            )
        else:
            cond = u.new_condition(
                u.AVAILABLE,
                "False",
                u.MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.",
                self.now,
            )
        u.set_condition(status, cond)
        return status

    async def sync_status(self, rss: list[Obj | None], new: Obj | None) -> None:
        status = self.calculate_status(rss, new)
        if not status_equal(self.d.get("status") or {}, status):
            await self.write_status(status)

    async def write_status(self, status: dict[str, Any]) -> None:
        d_copy = copy(self.d)
        d_copy["status"] = wire_status(status)
        try:
            updated = await self.ctrl.client.update_status(d_copy)
        except errors.NotFound:
            return
        self.d.clear()
        self.d.update(updated)

    async def sync(self) -> None:
        """Scale only (paused, or replicas changed): `sync` upstream."""
        new, old = await self.new_and_old(create=False)
        await self.scale(new, old)
        if self.d["spec"].get("paused"):
            await self.cleanup(old)
        await self.sync_status([*old, new], new)


# ---- pure helpers ---------------------------------------------------------------------


def u_annotations(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _replace(target: Obj, fresh: Obj) -> None:
    target.clear()
    target.update(fresh)


def new_rs_replicas(d: Obj, all_rss: list[Obj], new: Obj) -> int:
    """How big the new ReplicaSet may be now (`NewRSNewReplicas`)."""
    if not u.is_rolling(d):
        return u.replicas(d)
    current = u.spec_replicas(all_rss)
    most = u.replicas(d) + u.max_surge(d)
    if current >= most:
        return u.replicas(new)
    up = min(most - current, u.replicas(d) - u.replicas(new))
    return u.replicas(new) + up


def find_active_or_latest(new: Obj | None, old: list[Obj]) -> Obj | None:
    if new is None and not old:
        return None
    newest_first = sorted(old, key=lambda rs: (u.created_at_of(rs), meta(rs)["name"]), reverse=True)
    running = u.active([*newest_first, new])
    if not running:
        return new if new is not None else newest_first[0]
    return running[0] if len(running) == 1 else None


def saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    want = u.replicas(d)
    return (
        u.replicas(rs) == want
        and u.desired_replicas_annotation(rs) == want
        and int((rs.get("status") or {}).get("availableReplicas") or 0) == want
    )


def proportion_for(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """`GetProportion`: this ReplicaSet's share of a scale, capped by what is left."""
    if u.replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(rs: Obj, d: Obj) -> int:
    if u.replicas(d) == 0:
        return -u.replicas(rs)
    deployment_replicas = u.replicas(d) + u.max_surge(d)
    annotated = u.max_replicas_annotation(rs)
    if annotated is None:
        annotated = int((d.get("status") or {}).get("replicas") or 0)
    if annotated == 0:
        return 0
    size = u.replicas(rs) * deployment_replicas / annotated
    return _round_half_away(size) - u.replicas(rs)


def _round_half_away(x: float) -> int:
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


_STATUS_FIELDS = (
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
    "collisionCount",
)


def status_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if any((a.get(f) or 0) != (b.get(f) or 0) for f in _STATUS_FIELDS):
        return False
    return (a.get("conditions") or []) == (b.get("conditions") or [])


def wire_status(status: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty on DeploymentStatus: zero counts are left out."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}
