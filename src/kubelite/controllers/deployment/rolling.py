"""RollingUpdate: grow the new ReplicaSet and shrink the old ones within bounds.

The new ReplicaSet grows while total pods stay within replicas + maxSurge;
old ones shrink while available pods stay at least replicas -
maxUnavailable. Unhealthy old pods are removed first: they count against
availability without giving any.
"""

from __future__ import annotations

from kubelite.controllers.deployment import util as u
from kubelite.controllers.deployment.progress import sync_rollout_status
from kubelite.controllers.deployment.sync import Sync, new_rs_replicas
from kubelite.controllers.objects import Obj


async def rollout_rolling(s: Sync) -> float | None:
    new, old = await s.new_and_old(create=True)
    assert new is not None
    all_rss: list[Obj] = [*old, new]
    if await reconcile_new(s, all_rss, new):
        return await sync_rollout_status(s, all_rss, new)
    if await reconcile_old(s, all_rss, u.active(old), new):
        return await sync_rollout_status(s, all_rss, new)
    if u.complete(s.d, s.d.get("status") or {}):
        await s.cleanup(old)
    return await sync_rollout_status(s, all_rss, new)


async def reconcile_new(s: Sync, all_rss: list[Obj], new: Obj) -> bool:
    want = u.replicas(s.d)
    if u.replicas(new) == want:
        return False
    if u.replicas(new) > want:
        return await s.scale_and_record(new, want)
    return await s.scale_and_record(new, new_rs_replicas(s.d, all_rss, new))


async def reconcile_old(s: Sync, all_rss: list[Obj], old: list[Obj], new: Obj) -> bool:
    if u.spec_replicas(old) == 0:
        return False
    min_available = u.replicas(s.d) - u.max_unavailable(s.d)
    new_unavailable = u.replicas(new) - int((new.get("status") or {}).get("availableReplicas") or 0)
    max_scaled_down = u.spec_replicas(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    cleaned = await _cleanup_unhealthy(s, old, max_scaled_down)
    scaled = await _scale_down_old(s, [*old, new], old)
    return cleaned + scaled > 0


async def _cleanup_unhealthy(s: Sync, old: list[Obj], limit: int) -> int:
    """Scale old ReplicaSets down by their unavailable pods, oldest first."""
    total = 0
    for rs in u.by_creation(old):
        if total >= limit:
            break
        available = int((rs.get("status") or {}).get("availableReplicas") or 0)
        if u.replicas(rs) == 0 or u.replicas(rs) == available:
            continue
        down = min(limit - total, u.replicas(rs) - available)
        await s.scale_and_record(rs, u.replicas(rs) - down)
        total += down
    return total


async def _scale_down_old(s: Sync, all_rss: list[Obj], old: list[Obj]) -> int:
    min_available = u.replicas(s.d) - u.max_unavailable(s.d)
    available = u.available_replicas(all_rss)
    if available <= min_available:
        return 0
    budget = available - min_available
    total = 0
    for rs in u.by_creation(old):
        if total >= budget:
            break
        if u.replicas(rs) == 0:
            continue
        down = min(u.replicas(rs), budget - total)
        await s.scale_and_record(rs, u.replicas(rs) - down)
        total += down
    return total
