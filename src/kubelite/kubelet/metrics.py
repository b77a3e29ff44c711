"""Resource usage for `kubectl top`: the API server's `metrics.k8s.io` source.

As metrics-server reports them: a container's CPU is the rate of its
processes' CPU time over the window since the previous reading, in
nanocores (one not read before is read twice, a quarter of a second apart,
rather than averaged over a life whose start-up would weigh on it); its
memory is the working set, the memory cgroup's usage less its inactive file
cache (without cgroups, the processes' resident memory). A node's usage is the machine's
(`/proc/stat`, `/proc/meminfo`), split evenly between the nodes of this
machine, as their capacity is.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubelite.api.quantity import format_quantity
from kubelite.kubelet.backoff import go_duration
from kubelite.kubelet.cgroups import process_cgroups
from kubelite.kubelet.clock import rfc3339
from kubelite.kubelet.node import node_labels

if TYPE_CHECKING:
    from kubelite.kubelet.agent import NodeAgent

Obj = dict[str, Any]
TICKS = os.sysconf("SC_CLK_TCK")
KEEP_S = 60.0  # readings older than this no longer start a window
MIN_WINDOW_S = 0.2  # shorter windows say more about scheduling than about use
FIRST_WINDOW_S = 0.25  # a container not read before is read twice this far apart


class Rates:
    """CPU seconds turned into a rate over the window since an earlier reading."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.readings: dict[str, list[tuple[float, float]]] = {}

    def rate(self, key: str, cpu_s: float, lifetime_s: float) -> tuple[float, float]:
        """(cores, window in seconds); `lifetime_s` is the window of a first reading."""
        now = self.clock()
        kept = [r for r in self.readings.get(key, []) if now - r[0] <= KEEP_S]
        earlier = [r for r in kept if now - r[0] >= MIN_WINDOW_S]
        self.readings[key] = [*kept, (now, cpu_s)][-8:]
        if earlier:
            t0, cpu0 = earlier[0]
            return max(0.0, cpu_s - cpu0) / (now - t0), now - t0
        window = max(lifetime_s, 1e-3)
        return cpu_s / window, window

    def known(self, key: str) -> bool:
        """Whether a reading of `key` is recent enough to start a window from."""
        now = self.clock()
        return any(now - t <= KEEP_S for t, _ in self.readings.get(key, []))

    def forget(self, keep: Iterable[str]) -> None:
        wanted = set(keep)
        for key in [k for k in self.readings if k not in wanted]:
            del self.readings[key]


class MetricsRouter:
    """NodeMetrics and PodMetrics of every node agent of this process."""

    def __init__(self, agents: Iterable[NodeAgent]) -> None:
        self.agents = list(agents)
        self.rates = Rates()
        self.rates.rate("node", *machine_cpu_seconds())  # the first `top node` gets a window

    async def nodes(self) -> list[Obj]:
        share = max(1, len(self.agents))
        cpu_s, uptime_s = machine_cpu_seconds()
        cores, window = self.rates.rate("node", cpu_s, uptime_s)
        memory = machine_memory_used()
        now = rfc3339(time.time())
        return [
            {
                "kind": "NodeMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {
                    "name": agent.name,
                    "creationTimestamp": now,
                    "labels": node_labels(agent.name, agent.labels),
                },
                "timestamp": now,
                "window": _window(window),
                "usage": _usage(cores / share, memory // share),
            }
            for agent in self.agents
        ]

    async def pods(
        self, namespace: str | None, wanted: Callable[[Obj], bool] | None = None
    ) -> list[Obj]:
        targets = [
            (runner, name, proc.pid)
            for agent in self.agents
            for runner in list(agent.runners.values())
            if not namespace or (runner.pod.get("metadata") or {}).get("namespace") == namespace
            if wanted is None or wanted(runner.pod)
            for name, proc in list(runner.procs.items())
        ]
        fresh = [t for t in targets if not self.rates.known(_key(t[0].pod, t[1], t[2]))]
        if fresh:
            # Not read before: a first reading now and the rate over a short window,
            # rather than an average over a life whose start-up would weigh on it.
            readings = await asyncio.to_thread(usages, [pid for _, _, pid in fresh])
            for (runner, name, pid), usage in zip(fresh, readings, strict=True):
                if usage is not None:
                    self.rates.rate(_key(runner.pod, name, pid), usage[0], usage[1])
            await asyncio.sleep(FIRST_WINDOW_S)
        out: list[Obj] = []
        by_pod: dict[int, tuple[Obj, list[Obj], list[float]]] = {}
        now = rfc3339(time.time())
        readings = await asyncio.to_thread(usages, [pid for _, _, pid in targets])
        for (runner, name, pid), usage in zip(targets, readings, strict=True):
            if usage is None:
                continue
            cpu_s, lifetime_s, memory = usage
            cores, window = self.rates.rate(_key(runner.pod, name, pid), cpu_s, lifetime_s)
            md = runner.pod.get("metadata") or {}
            if id(runner) not in by_pod:
                item: Obj = {
                    "kind": "PodMetrics",
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {
                        "name": md.get("name", ""),
                        "namespace": md.get("namespace", ""),
                        "creationTimestamp": now,
                        "labels": dict(md.get("labels") or {}),
                    },
                    "timestamp": now,
                    "window": "",
                    "containers": [],
                }
                by_pod[id(runner)] = (item, item["containers"], [])
                out.append(item)
            item, containers, windows = by_pod[id(runner)]
            containers.append({"name": name, "usage": _usage(cores, memory)})
            windows.append(window)
            item["window"] = _window(max(windows))
        # Readings of containers that are gone (in any namespace) are dropped.
        live = [
            _key(runner.pod, name, proc.pid)
            for agent in self.agents
            for runner in list(agent.runners.values())
            for name, proc in list(runner.procs.items())
        ]
        self.rates.forget([*live, "node"])
        return out

    async def summary(self, node: str) -> Obj | None:
        """The kubelet's Summary API (`/stats/summary`) of node `node`, or None if not ours.

        CPU as both the cumulative core-nanoseconds (what metrics-server reads) and
        the rate over the window since an earlier reading; memory as the working
        set (the node's also its usage and what is available). Filesystem, network
        and volume statistics are not measured: those keys are left out.
        """
        agent = next((a for a in self.agents if a.name == node), None)
        if agent is None:
            return None
        share = max(1, len(self.agents))
        now_s = time.time()
        now = rfc3339(now_s)
        cpu_s, uptime_s = machine_cpu_seconds()
        cores, _ = self.rates.rate("node", cpu_s, uptime_s)
        used, available = machine_memory_used(), machine_memory_available()
        targets = [
            (runner, name, proc.pid)
            for runner in list(agent.runners.values())
            for name, proc in list(runner.procs.items())
        ]
        readings = await asyncio.to_thread(usages, [pid for _, _, pid in targets])
        pods: dict[int, Obj] = {}
        for (runner, name, pid), usage in zip(targets, readings, strict=True):
            if usage is None:
                continue
            c_cpu_s, lifetime_s, memory = usage
            c_cores, _ = self.rates.rate(_key(runner.pod, name, pid), c_cpu_s, lifetime_s)
            md = runner.pod.get("metadata") or {}
            if id(runner) not in pods:
                pods[id(runner)] = {
                    "podRef": {
                        "name": md.get("name", ""),
                        "namespace": md.get("namespace", ""),
                        "uid": md.get("uid", ""),
                    },
                    "startTime": (runner.pod.get("status") or {}).get("startTime")
                    or md.get("creationTimestamp"),
                    "containers": [],
                }
            pods[id(runner)]["containers"].append(
                {
                    "name": name,
                    "startTime": rfc3339(now_s - lifetime_s),
                    "cpu": _cpu_stats(now, c_cores, c_cpu_s),
                    "memory": {"time": now, "workingSetBytes": memory},
                }
            )
        for pod in pods.values():
            containers = pod["containers"]
            pod["cpu"] = {
                "time": now,
                "usageNanoCores": sum(c["cpu"]["usageNanoCores"] for c in containers),
                "usageCoreNanoSeconds": sum(c["cpu"]["usageCoreNanoSeconds"] for c in containers),
            }
            pod["memory"] = {
                "time": now,
                "workingSetBytes": sum(c["memory"]["workingSetBytes"] for c in containers),
            }
        return {
            "node": {
                "nodeName": node,
                "startTime": rfc3339(now_s - uptime_s),
                "cpu": _cpu_stats(now, cores / share, cpu_s / share),
                "memory": {
                    "time": now,
                    "availableBytes": available // share,
                    "usageBytes": used // share,
                    "workingSetBytes": used // share,
                },
            },
            "pods": list(pods.values()),
        }


def _cpu_stats(now: str, cores: float, cpu_s: float) -> Obj:
    return {
        "time": now,
        "usageNanoCores": round(cores * 1e9),
        "usageCoreNanoSeconds": round(cpu_s * 1e9),
    }


def _key(pod: Obj, container: str, pid: int) -> str:
    """A container instance's readings: a restart (a new pid) starts afresh."""
    return f"{(pod.get('metadata') or {}).get('uid')}/{container}/{pid}"


def _usage(cores: float, memory: int) -> dict[str, str]:
    nanocores = round(cores * 1e9)
    return {
        "cpu": format_quantity(Fraction(nanocores, 10**9)),
        "memory": format_quantity(max(0, memory), "BinarySI"),
    }


def _window(seconds: float) -> str:
    if seconds >= 60:
        return go_duration(seconds)
    if 0 < seconds < 1:  # Go's Duration.String writes 361ms, not 0.361s
        return f"{seconds * 1000:.3f}".rstrip("0").rstrip(".") + "ms"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


# ---- readings ---------------------------------------------------------------------------


def usages(pids: list[int]) -> list[tuple[float, float, int] | None]:
    """`container_usage` of each, off the event loop: reading a process's /proc stat
    waits while that process is in the middle of an exec (a container starting)."""
    scanned: dict[int, list[int]] | None = None

    def by_session() -> dict[int, list[int]]:  # read once per pass, and only when needed
        nonlocal scanned
        if scanned is None:
            scanned = sessions()
        return scanned

    return [container_usage(pid, by_session) for pid in pids]


def container_usage(
    pid: int, sessions: Callable[[], dict[int, list[int]]] | None = None
) -> tuple[float, float, int] | None:
    """(CPU seconds of its processes, seconds since it started, working set bytes).

    Its processes are those of its cgroup; without one, those of its session
    (the container's process leads one), read from `sessions` when given."""
    main = _stat(pid)
    if main is None:
        return None
    groups = process_cgroups(pid)
    pids = _cgroup_pids(groups) or (sessions().get(pid) if sessions else None) or [pid]
    cpu_s = sum(_cpu_of(main if p == pid else _stat(p)) for p in pids)
    started = int(main[19]) / TICKS
    memory = _working_set(groups)
    if memory is None:
        memory = sum(_rss(p) for p in pids)
    return cpu_s, max(0.0, _uptime() - started), memory


def sessions() -> dict[int, list[int]]:
    """Session id -> its processes, from one pass over /proc."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                out.setdefault(int(fields[3]), []).append(int(entry))
    return out


def machine_cpu_seconds() -> tuple[float, float]:
    """(CPU seconds the machine spent busy since boot, seconds since boot)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0, 1.0
    ticks = [int(f) for f in fields]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # all but idle, iowait
    if len(ticks) > 8:
        busy -= ticks[8] + (ticks[9] if len(ticks) > 9 else 0)  # guest time is in user already
    return busy / TICKS, _uptime()


def _meminfo() -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            values[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return {}
    return values


def machine_memory_used() -> int:
    values = _meminfo()
    return values.get("MemTotal", 0) - values.get("MemAvailable", 0)


def machine_memory_available() -> int:
    return _meminfo().get("MemAvailable", 0)


def _cgroup_pids(groups: dict[str, str]) -> list[int]:
    for controller in ("pids", "memory", ""):
        if controller in groups:
            try:
                text = Path(groups[controller], "cgroup.procs").read_text()
            except OSError:
                continue
            return [int(p) for p in text.split()]
    return []


def _working_set(groups: dict[str, str]) -> int | None:
    """Usage less inactive file cache, as the kubelet's cAdvisor counts the working set."""
    if "memory" in groups:
        usage_file, inactive_key = "memory.usage_in_bytes", "total_inactive_file"
        d = groups["memory"]
    elif "" in groups:
        usage_file, inactive_key = "memory.current", "inactive_file"
        d = groups[""]
    else:
        return None
    try:
        usage = int(Path(d, usage_file).read_text())
        inactive = 0
        for line in Path(d, "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == inactive_key:
                inactive = int(value)
    except (OSError, ValueError):
        return None
    return max(0, usage - inactive)


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_of(fields: list[str] | None) -> float:
    """utime, stime, and the children's it waited for (fields 14-17 of stat), in seconds."""
    if fields is None:
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _uptime() -> float:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
