"""Re-adoption: a restarted agent takes up the containers a crashed kubelite left running.

Two sources meet here. The pod checkpoints under the data dir say which
container instance each pod ran (id, restart count, pid and process start
time); the node's shim says which of those it still parents, running or
ended with an exit code. A container the shim holds is re-attached (a
running one keeps its pid, restart count and log; an ended one is restarted
per the pod's restartPolicy). A container the shim lost (the shim itself
died) is reported as upstream reports a container the runtime cannot find
(ContainerStatusUnknown, exit 137); a survivor of it, recognised by pid and
start time, is killed first, since nothing reads its output any more.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from kubelite.kubelet.checkpoint import same_process
from kubelite.kubelet.runtime import LOST, ContainerProcess, EndedProcess, ShimRuntime
from kubelite.kubelet.volumes import release_mounts

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def adopt(saved: Obj, held: dict[str, Obj], runtime: Any) -> dict[str, ContainerProcess]:
    """The processes to re-attach for one pod's checkpoint, by container name.

    Takes the matched entries out of `held`, so what remains there belongs
    to no pod.
    """
    out: dict[str, ContainerProcess] = {}
    for entry in saved.get("containers") or []:
        if "running" not in (entry.get("state") or {}):
            continue
        cid, name = entry.get("containerID", ""), entry["name"]
        found = held.pop(cid, None)
        if found is not None and isinstance(runtime, ShimRuntime):
            out[name] = runtime.attach(cid, found)
            continue
        pid = int(entry.get("pid") or 0)
        if same_process(pid, entry.get("pidStartTime")):
            _kill_group(pid)
        out[name] = EndedProcess(pid, LOST)
    return out


def stop_leftovers(
    pods: dict[str, tuple[Path, Obj]], held: dict[str, Obj], runtime: Any
) -> list[str]:
    """Containers of pods no longer bound here, and shim entries no pod claims: stopped.

    Returns the uids of the pods cleaned up (for cgroup removal).
    """
    for _uid, (pod_dir, saved) in pods.items():
        for entry in saved.get("containers") or []:
            cid = entry.get("containerID", "")
            pid = int(entry.get("pid") or 0)
            if cid in held or same_process(pid, entry.get("pidStartTime")):
                _kill_group(pid)
        release_mounts(pod_dir)
        shutil.rmtree(pod_dir, ignore_errors=True)
    for cid, entry in held.items():
        if entry.get("exit") is None:
            _kill_group(int(entry["pid"]))
        if isinstance(runtime, ShimRuntime):
            runtime.forget(cid)
    return list(pods)


def _kill_group(pid: int) -> None:
    if pid <= 0:
        return
    log.info("stopping leftover container process group %d", pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
