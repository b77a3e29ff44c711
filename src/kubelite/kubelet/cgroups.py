"""Resource limits through cgroups, v2 or v1, whichever this machine lets us write.

The layout is the kubelet's cgroup per QoS class: under the node's cgroup
`kubelite/<node>` (upstream's `kubepods`), Guaranteed pods directly,
Burstable pods under `burstable/`, BestEffort pods under `besteffort/`; each
container in `pod<uid>/<container>` in the memory, cpu and pids hierarchies.
`limits.memory` is the memory limit (the kernel's OOM killer then ends the
container, reported as OOMKilled with exit code 137), `limits.cpu` a CFS
quota over a 100 ms period, and a pids limit stops fork bombs.

CPU is weighed as upstream weighs it: cpu.shares (cpu.weight on v2) of
the node from its allocatable CPU, of `burstable/` from its pods' requests
together, 2 for `besteffort/`, and of each pod and container from its
request. A BestEffort pod thus gets CPU that nothing else wants, and a burst
of starting pods cannot starve the API server and the agent.

The agent only describes the cgroups (`Placement`). The shim creates them
and sets the limits just before it forks the container's process, which
joins them itself right before exec, so nothing it does escapes the limits.
Creating a cgroup takes the kernel's one cgroup lock: made one after
another by the shim, a container's cgroups take ~0.1 ms; made by a burst of
children at once, each of which could be preempted holding the lock, they
took ~100 ms each. On v1 the child joins by writing its thread id to `tasks` rather than
`cgroup.procs`: the child is single-threaded then, so the effect is the
same, but a `cgroup.procs` write moves a whole thread group, which makes the
kernel wait for an RCU grace period (~15 ms, and every fork on the machine
waits with it) where a `tasks` write takes microseconds.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelite.api.quantity import milli_value, value

log = logging.getLogger(__name__)
ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000
DEFAULT_PIDS_MAX = 4096
MIN_SHARES, MAX_SHARES = 2, 262144  # the kernel's bounds for cpu.shares
QOS_TIERS = {"Guaranteed": "", "Burstable": "burstable", "BestEffort": "besteffort"}
PIDS_ENV = "KUBELITE_POD_PIDS_LIMIT"  # the kubelet's podPidsLimit, per container here


def pids_max_from_env() -> int:
    try:
        return int(os.environ.get(PIDS_ENV, "") or DEFAULT_PIDS_MAX)
    except ValueError:
        return DEFAULT_PIDS_MAX


# Said on the Node (a condition and a Warning event) when no hierarchy is writable.
UNENFORCED_REASON = "CgroupsNotWritable"
UNENFORCED_MESSAGE = (
    "cgroups are not writable (neither a v2 hierarchy with the memory and pids controllers "
    "nor v1 memory, cpu and pids hierarchies): memory, cpu and pids limits are not enforced"
)


def limits_of(container: dict[str, Any]) -> dict[str, int]:
    """Bytes of memory and millicores of cpu from `resources.limits`."""
    limits = (container.get("resources") or {}).get("limits") or {}
    out: dict[str, int] = {}
    if limits.get("memory") is not None:
        out["memory"] = value(limits["memory"])
    if limits.get("cpu") is not None:
        out["cpu"] = milli_value(limits["cpu"])
    return out


def milli_cpu_to_shares(millicores: int) -> int:
    """upstream MilliCPUToShares: 1024 shares a core, within the kernel's bounds."""
    if millicores <= 0:
        return MIN_SHARES
    return min(MAX_SHARES, max(MIN_SHARES, millicores * 1024 // 1000))


def shares_to_weight(shares: int) -> int:
    """cgroup v2's cpu.weight for v1 cpu.shares, as runc converts them."""
    return 1 + ((shares - 2) * 9999) // 262142


@dataclass(frozen=True)
class CpuWeights:
    """What a pod's CPU share is weighed by: its QoS class and request, the
    requests of the node's Burstable pods together, and the node's allocatable
    CPU (0 leaves the node's weight as it is)."""

    qos: str = "BestEffort"
    pod_millis: int = 0
    burstable_millis: int = 0
    node_millis: int = 0


@dataclass
class Placement:
    """A container's cgroups as steps its process takes itself, before exec.

    `ops` create the cgroups and set their limits: ("mkdir", dir), ("write",
    file, value), or ("try", file, value) for a write that may fail. Then the
    process joins through `procs`.
    """

    ops: list[tuple[str, str, str]] = field(default_factory=list)
    procs: list[str] = field(default_factory=list)


def process_cgroups(pid: int, root: Path = ROOT) -> dict[str, str]:
    """Controller ("" on v2) -> the directory of the kubelite cgroup `pid` is in.

    What a command run beside a container joins (exec) and what its usage is
    read from (kubectl top)."""
    out: dict[str, str] = {}
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if not path.startswith("/kubelite/"):
            continue
        base = root / controllers if controllers else root
        for controller in controllers.split(",") if controllers else [""]:
            out[controller] = str(base / path.lstrip("/"))
    return out


def cfs_quota_us(millicores: int) -> int:
    # upstream MilliCPUToQuota: at least 1 ms per period
    return max(1000, millicores * CFS_PERIOD_US // 1000)


class Manager:
    def __init__(
        self, version: int, prefix: str, pids_max: int = DEFAULT_PIDS_MAX, root: Path = ROOT
    ) -> None:
        self.version = version
        self.prefix = prefix
        self.pids_max = pids_max
        self.root = root
        self._pods: dict[str, str] = {}  # uid -> the pod's cgroup below the node's
        self._written: dict[str, str] = {}  # the node's and tiers' weights as last set

    @classmethod
    def detect(
        cls, prefix: str, root: Path = ROOT, pids_max: int = DEFAULT_PIDS_MAX
    ) -> Manager | None:
        if (root / "cgroup.controllers").exists():
            controllers = (root / "cgroup.controllers").read_text().split()
            if {"memory", "pids"} <= set(controllers) and os.access(root, os.W_OK):
                return cls(2, prefix, pids_max, root=root)
        if all(
            (root / c).is_dir() and os.access(root / c, os.W_OK) for c in ("memory", "cpu", "pids")
        ):
            return cls(1, prefix, pids_max, root=root)
        return None

    def _dirs(self, *parts: str) -> list[Path]:
        rel = Path(self.prefix, *parts)
        if self.version == 2:
            return [self.root / rel]
        return [self.root / c / rel for c in ("memory", "cpu", "pids")]

    def _pod_rel(self, uid: str) -> str:
        """The pod's cgroup below the node's; after a restart, found where it is."""
        rel = self._pods.get(uid)
        if rel is None:
            first = self._dirs()[0]
            rel = next(
                (
                    f"{tier}/pod{uid}".lstrip("/")
                    for tier in QOS_TIERS.values()
                    if (first / tier / f"pod{uid}").is_dir()
                ),
                f"pod{uid}",
            )
        return rel

    def prepare(
        self, uid: str, container: dict[str, Any], weights: CpuWeights | None = None
    ) -> Placement:
        """The steps; nothing is touched here (the shim takes them before the fork)."""
        weights = weights or CpuWeights()
        bases, node_ops = _layout(self.version, self.root, self.prefix)
        tier = QOS_TIERS.get(weights.qos, "besteffort")
        pod_rel = f"{tier}/pod{uid}" if tier else f"pod{uid}"
        self._pods[uid] = pod_rel
        dirs = [f"{base}/{pod_rel}/{container['name']}" for base in bases]
        ops = list(node_ops)
        if self.version == 2:
            node = bases[0]
            chain = [node, f"{node}/{tier}"] if tier else [node]
            chain += [f"{node}/{pod_rel}", dirs[0]]
            for parent, child in zip(chain, chain[1:], strict=False):
                ops.append(("try", f"{parent}/cgroup.subtree_control", _SUBTREE))
                ops.append(("mkdir", child, ""))
        else:
            ops.extend(("mkdir", d, "") for d in dirs)
        ops.extend(self._weights(bases, tier, pod_rel, dirs, container, weights))
        ops.extend(self._limits(dirs, limits_of(container)))
        join = "cgroup.procs" if self.version == 2 else "tasks"
        return Placement(ops, [f"{d}/{join}" for d in dirs])

    def _weights(
        self,
        bases: tuple[str, ...],
        tier: str,
        pod_rel: str,
        dirs: list[str],
        container: dict[str, Any],
        weights: CpuWeights,
    ) -> list[tuple[str, str, str]]:
        """cpu.shares (v1) or cpu.weight (v2) from the node down to the container.

        The node's and the tiers' are written when they change; a pod's and a
        container's with each start (a pod's cgroup may be new)."""
        node = bases[0] if self.version == 2 else bases[1]
        out: list[tuple[str, str, str]] = []

        def put(path: str, shares: int, once: bool) -> None:
            knob, text = self._knob(shares)
            if once and self._written.get(path) == text:
                return
            if once:
                self._written[path] = text
            out.append(("try", f"{path}/{knob}", text))

        if weights.node_millis > 0:
            put(node, milli_cpu_to_shares(weights.node_millis), True)
        if tier == "burstable":
            put(f"{node}/{tier}", milli_cpu_to_shares(weights.burstable_millis), True)
        elif tier:
            put(f"{node}/{tier}", MIN_SHARES, True)
        put(f"{node}/{pod_rel}", milli_cpu_to_shares(weights.pod_millis), False)
        request = ((container.get("resources") or {}).get("requests") or {}).get("cpu")
        cpu_dir = dirs[0] if self.version == 2 else dirs[1]
        put(cpu_dir, milli_cpu_to_shares(milli_value(request) if request else 0), False)
        return out

    def _knob(self, shares: int) -> tuple[str, str]:
        """The file and the value that weigh a cgroup: cpu.shares, or cpu.weight on v2."""
        if self.version == 2:
            return "cpu.weight", str(shares_to_weight(shares))
        return "cpu.shares", str(shares)

    def set_burstable(self, millis: int) -> None:
        """The Burstable tier's weight after its pods changed (a pod left)."""
        node = self._dirs()[0 if self.version == 2 else 1]
        path = str(node / "burstable")
        if not os.path.isdir(path):
            return
        knob, text = self._knob(milli_cpu_to_shares(millis))
        if self._written.get(path) == text:
            return
        try:
            with open(f"{path}/{knob}", "w") as f:
                f.write(text)
        except OSError as exc:
            log.debug("cannot weigh %s: %s", path, exc)
            return
        self._written[path] = text

    def _limits(self, dirs: list[str], limits: dict[str, int]) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        if self.version == 2:
            d = dirs[0]
            if "memory" in limits:
                out.append(("write", f"{d}/memory.max", str(limits["memory"])))
                out.append(("try", f"{d}/memory.swap.max", "0"))
            if "cpu" in limits:
                out.append(
                    ("write", f"{d}/cpu.max", f"{cfs_quota_us(limits['cpu'])} {CFS_PERIOD_US}")
                )
            out.append(("write", f"{d}/pids.max", str(self.pids_max)))
        else:
            memory, cpu, pids = dirs
            if "memory" in limits:
                out.append(("write", f"{memory}/memory.limit_in_bytes", str(limits["memory"])))
            if "cpu" in limits:
                out.append(("write", f"{cpu}/cpu.cfs_period_us", str(CFS_PERIOD_US)))
                out.append(("write", f"{cpu}/cpu.cfs_quota_us", str(cfs_quota_us(limits["cpu"]))))
            out.append(("write", f"{pids}/pids.max", str(self.pids_max)))
        return out

    def oom_killed(self, uid: str, name: str, killed: bool) -> bool:
        if not killed:
            return False
        d = self._dirs(self._pod_rel(uid), name)[0]
        path = d / ("memory.events" if self.version == 2 else "memory.oom_control")
        try:
            for line in path.read_text().splitlines():
                key, _, count = line.partition(" ")
                if key == "oom_kill" and int(count) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def pids_limit_reached(self, uid: str, name: str) -> bool:
        """Whether a fork in the container failed on the pids limit (pids.events `max`)."""
        d = self._dirs(self._pod_rel(uid), name)[-1]  # v1: the pids hierarchy comes last
        try:
            for line in (d / "pids.events").read_text().splitlines():
                key, _, count = line.partition(" ")
                if key == "max" and int(count) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def remove(self, uid: str) -> None:
        for pod_dir in self._dirs(self._pod_rel(uid)):
            if not pod_dir.is_dir():
                continue
            for child in [c for c in pod_dir.iterdir() if c.is_dir()]:
                _kill_and_rmdir(child)
            _kill_and_rmdir(pod_dir)
        self._pods.pop(uid, None)


_SUBTREE = "+memory +cpu +pids"


@functools.lru_cache(maxsize=16)
def _layout(
    version: int, root: Path, prefix: str
) -> tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]]:
    """The node's cgroup directories (one per hierarchy) and, on v2, the steps making them.

    Worked out once per node rather than with Paths on every container start.
    """
    rel = Path(prefix)
    if version != 2:
        return tuple(str(root / c / rel) for c in ("memory", "cpu", "pids")), ()
    ops: list[tuple[str, str, str]] = []
    path = root
    for part in (root / rel).relative_to(root).parts:
        ops.append(("try", str(path / "cgroup.subtree_control"), _SUBTREE))
        path = path / part
        ops.append(("mkdir", str(path), ""))
    return (str(root / rel),), tuple(ops)


def _kill_and_rmdir(d: Path) -> None:
    with contextlib.suppress(OSError):
        for pid in (d / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(OSError):
        d.rmdir()
