"""The eviction manager's local-storage check: a pod whose emptyDir outgrows its sizeLimit goes.

Upstream's kubelet (LocalStorageCapacityIsolation, on by default) measures
every active pod's volumes at each housekeeping pass, and evicts a pod with
an emptyDir volume that uses more than its `sizeLimit`: a Warning `Evicted`
event, its containers stopped with upstream's immediate grace of 1 s, and the
pod left `Failed` with reason `Evicted` and the message
`Usage of EmptyDir volume "NAME" exceeds the limit "LIMIT". ` (trailing space
included). The pod object stays; its controller makes a replacement.

A `medium: Memory` emptyDir is a tmpfs of its sizeLimit, which the kernel
caps already, so only disk-backed ones are measured. Measuring is a du-like
walk (allocated blocks, each inode once, not into other file systems) that
can take a while on a big volume: it runs in a worker thread, every
`HOUSEKEEPING_S`, never on the agent's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubelite.api.quantity import QuantityError, canonicalize, value

if TYPE_CHECKING:
    from kubelite.kubelet.agent import NodeAgent

log = logging.getLogger(__name__)
Obj = dict[str, Any]
HOUSEKEEPING_S = 10.0  # the kubelet's housekeeping period, at which eviction is checked
MEMORY = "Memory"


@dataclass(frozen=True)
class Limited:
    """One disk-backed emptyDir with a size limit."""

    volume: str
    path: str
    limit: int  # bytes
    shown: str  # the limit as the API prints the quantity

    def message(self) -> str:
        return f'Usage of EmptyDir volume "{self.volume}" exceeds the limit "{self.shown}". '


def limited_empty_dirs(pod: Obj, paths: Mapping[str, str]) -> list[Limited]:
    """The pod's disk-backed emptyDir volumes with a positive sizeLimit, where set up."""
    out = []
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        spec = vol.get("emptyDir")
        if spec is None:
            continue
        size = (spec or {}).get("sizeLimit")
        path = paths.get(vol.get("name", ""))
        if size in (None, "") or path is None or (spec or {}).get("medium") == MEMORY:
            continue
        try:
            limit, shown = value(size), canonicalize(size)
        except (QuantityError, ValueError, TypeError):
            continue  # validation refuses it: nothing to enforce
        if limit > 0:
            out.append(Limited(vol["name"], path, limit, shown))
    return out


def disk_usage(path: str) -> int:
    """Bytes allocated under `path` (as `du -sx -B1`): every file, directory and link
    counted once by inode, links not followed, other file systems not entered."""
    try:
        top = os.lstat(path)
    except OSError:
        return 0
    seen = {top.st_ino}
    total = top.st_blocks * 512
    todo = [path] if stat.S_ISDIR(top.st_mode) else []
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:
            continue  # removed meanwhile, or unreadable
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_dev != top.st_dev or st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            total += st.st_blocks * 512
            if stat.S_ISDIR(st.st_mode):
                todo.append(entry.path)
    return total


def over_limit(pods: Mapping[str, Iterable[Limited]]) -> dict[str, Limited]:
    """By pod uid, the first volume whose usage exceeds its limit (blocking: a thread's)."""
    out = {}
    for uid, volumes in pods.items():
        for vol in volumes:
            if disk_usage(vol.path) > vol.limit:
                out[uid] = vol
                break
    return out


async def check(agent: NodeAgent) -> list[str]:
    """One pass over the node's active pods; the uids of those evicted."""
    pods = {}
    for uid, runner in list(agent.runners.items()):
        if not runner.sandbox_ready or runner.terminating.is_set():
            continue
        volumes = limited_empty_dirs(runner.pod, runner.volumes.paths)
        if volumes:
            pods[uid] = volumes
    if not pods:
        return []
    over = await asyncio.to_thread(over_limit, pods)
    evicted = []
    for uid, vol in over.items():
        found = agent.runners.get(uid)
        if found is not None and not found.terminating.is_set():
            await found.evict(vol.message())
            evicted.append(uid)
    return evicted


async def run(agent: NodeAgent, period: float = HOUSEKEEPING_S) -> None:
    while True:
        await agent.clock.sleep(period)
        try:
            await check(agent)
        except Exception:  # a pass that failed must not end the checks
            log.exception("node %s: eviction check failed", agent.name)
