"""Recreate: all old pods gone first, then the new ReplicaSet at full size.

The new ReplicaSet is only created once no old pod runs any more (pods in
Succeeded or Failed do not count), so two versions never run side by side.
"""

from __future__ import annotations

from kubelite.controllers.deployment import util as u
from kubelite.controllers.deployment.progress import sync_rollout_status
from kubelite.controllers.deployment.sync import Sync
from kubelite.controllers.objects import Obj, meta


async def rollout_recreate(s: Sync, pods_by_rs: dict[str, list[Obj]]) -> float | None:
    new, old = await s.new_and_old(create=False)
    all_rss: list[Obj | None] = [*old, new]
    scaled = False
    for rs in u.active(old):
        scaled = await s.scale_and_record(rs, 0) or scaled
    if scaled:
        return await sync_rollout_status(s, all_rss, new)
    if old_pods_running(new, old, pods_by_rs):
        return await sync_rollout_status(s, all_rss, new)
    if new is None:
        new, old = await s.new_and_old(create=True)
        all_rss = [*old, new]
    assert new is not None
    await s.scale_and_record(new, u.replicas(s.d))
    if u.complete(s.d, s.d.get("status") or {}):
        await s.cleanup(old)
    return await sync_rollout_status(s, all_rss, new)


def old_pods_running(new: Obj | None, old: list[Obj], pods_by_rs: dict[str, list[Obj]]) -> bool:
    if u.actual_replicas(old) > 0:
        return True
    new_uid = meta(new)["uid"] if new is not None else None
    for uid, pods in pods_by_rs.items():
        if uid == new_uid:
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True
    return False
