"""What a pod runner writes under the data dir so a restarted kubelite can re-adopt its pod.

One `checkpoint.json` per pod directory: the pod IP and start time, and per
container its id, restart count, state, lastState and the pid with the
process start time from /proc/PID/stat (the pair identifies a process even
after its pid is reused). Written whenever a container starts or ends, and
before a status is written that shows a pod IP, restart count or container
state the checkpoint does not hold yet (a container that fails to start, a
volume that does not mount, a back-off), so a pod re-adopted after a crash
keeps its IP and counts as upstream's sandbox and runtime keep them.
Atomically (write and rename); removed when the pod is stopped on purpose.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import orjson

from kubelite.kubelet.atomic_writer import replace_file
from kubelite.kubelet.forkexec import proc_start_time
from kubelite.kubelet.status import ContainerRecord

Obj = dict[str, Any]
FILE = "checkpoint.json"


def same_process(pid: int, start_time: int | None) -> bool:
    return pid > 0 and start_time is not None and proc_start_time(pid) == start_time


def _public(state: Obj) -> Obj:
    return {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in state.items()}


def container_entry(rec: ContainerRecord, pid: int | None, start_time: int | None = None) -> Obj:
    """`start_time` as the runtime reported it; read from /proc only when it did not
    (a shim from before it did): reading a process's stat waits out an exec under way."""
    return {
        "name": rec.name,
        "init": rec.init,
        "containerID": rec.container_id,
        "imageID": rec.image_id,
        "restartCount": rec.restart_count,
        "state": _public(rec.state),
        "lastState": _public(rec.last_state),
        "started": rec.started,
        "ready": rec.ready,
        "pid": pid,
        "pidStartTime": start_time if start_time is not None or not pid else proc_start_time(pid),
    }


def restore_record(rec: ContainerRecord, entry: Obj) -> None:
    rec.container_id = entry.get("containerID", "")
    rec.image_id = entry.get("imageID", "")
    rec.restart_count = int(entry.get("restartCount", 0))
    rec.state = dict(entry.get("state") or rec.state)
    rec.last_state = dict(entry.get("lastState") or {})
    rec.started = bool(entry.get("started"))
    rec.ready = bool(entry.get("ready"))


def save(pod_dir: Path, data: Obj) -> None:
    """Write a temporary file and rename it over the checkpoint: never half a checkpoint."""
    try:
        body = orjson.dumps(data)  # saved on every container start and exit
    except TypeError:
        body = json.dumps(data).encode()  # what orjson refuses (non-str keys, huge ints)
    replace_file(pod_dir, FILE, body, FILE + ".tmp")


def load(pod_dir: Path) -> Obj | None:
    try:
        data = json.loads((pod_dir / FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove(pod_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (pod_dir / FILE).unlink()


def load_all(pods_dir: Path) -> dict[str, tuple[Path, Obj]]:
    """Every pod this node ran when kubelite last stopped, by uid."""
    out: dict[str, tuple[Path, Obj]] = {}
    if not pods_dir.is_dir():
        return out
    for pod_dir in pods_dir.iterdir():
        data = load(pod_dir)
        if data is not None and data.get("uid"):
            out[data["uid"]] = (pod_dir, data)
    return out
