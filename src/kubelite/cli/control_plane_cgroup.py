"""The control plane's CPU weight: ahead of the pods it runs, as if it had a machine of its own.

On a real cluster the API server, scheduler and controllers run on control
plane machines, and the kubelet beside the pods it starts. Here all of them
share the pods' CPUs, and the pods' cgroups (`kubelite/<node>`, weighed
from the node's allocatable CPU as the kubelet weighs `kubepods`) weigh as
much as the whole session `kubelite up` was started from: with 100 pods'
interpreters starting, the process that starts them and answers kubectl
got about a quarter of the machine. So once ready, the `kubelite up`
process moves itself into a cgroup of its own that weighs as much as
`CORES_WEIGHT` times the machine's cores: under contention the control
plane goes first, and pods get what it leaves, which is nearly
everything, as one event loop uses at most one core.

The node's container shim, started by then, is not moved: it already runs
ahead of the containers (nice -10 in an autogroup of its own, see
`kubelet.shim`), and in a cgroup other than the root each container's
`setsid` would cost ~0.5 ms more (the kernel makes an autogroup it then
cannot use).

Only the cpu controller is used (memory and pids stay where they were).
Where cgroups are not writable (rootless, a read-only hierarchy) nothing
changes. The cgroup is shared by the clusters of one machine and left in
place when they stop, as a systemd slice is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

from kubelite.kubelet.cgroups import MAX_SHARES, ROOT, shares_to_weight

log = logging.getLogger(__name__)

NAME = "kubelite-control-plane"
CORES_WEIGHT = 8  # the control plane weighs as much as 8x the machine's cores' shares


def control_plane_shares(cores: int) -> int:
    return min(MAX_SHARES, CORES_WEIGHT * 1024 * max(1, cores))


def join_soon() -> threading.Thread:
    """`join` on a thread of its own: the first move into a cgroup waits for
    an RCU grace period (~15 ms) that nothing need wait for."""
    thread = threading.Thread(target=join, name="control-plane-cgroup", daemon=True)
    thread.start()
    return thread


def join(root: Path = ROOT, pid: int | None = None) -> Path | None:
    """Move this process (every thread) into the control plane's cgroup; its path, or None."""
    shares = control_plane_shares(os.cpu_count() or 1)
    try:
        if (root / "cgroup.controllers").exists():
            return _join_v2(root, shares, pid or os.getpid())
        if (root / "cpu").is_dir():
            return _join_v1(root / "cpu", shares, pid)
    except OSError as exc:
        log.debug("control plane cgroup not joined: %s", exc)
    return None


def _join_v1(cpu: Path, shares: int, pid: int | None) -> Path:
    group = cpu / NAME
    group.mkdir(exist_ok=True)
    (group / "cpu.shares").write_text(str(shares))
    # Thread by thread through `tasks`, as `cgroup.procs` would move a thread group.
    tids = (
        [pid] if pid is not None else [int(t) for t in os.listdir("/proc/self/task") if t.isdigit()]
    )
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):
            (group / "tasks").write_text(str(tid))
    return group


def _join_v2(root: Path, shares: int, pid: int) -> Path | None:
    if "cpu" not in (root / "cgroup.controllers").read_text().split():
        return None
    with contextlib.suppress(OSError):
        (root / "cgroup.subtree_control").write_text("+cpu")
    group = root / NAME
    group.mkdir(exist_ok=True)
    (group / "cpu.weight").write_text(str(shares_to_weight(shares)))
    (group / "cgroup.procs").write_text(str(pid))
    return group
