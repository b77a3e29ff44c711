"""Pod start-up latency and idle cost of the node agent.

Creates N pods (a tiny Python HTTP app with a readiness probe) at once on a
fresh in-process cluster, and measures from each create to Running (the
container process started) and to Ready (the probe passed); the floor is a
bare fork+exec of the same command in the same run, and the burst floor the
median wait when the same number of bare fork+execs run back to back. Then, with every pod
running, the process's RSS and CPU while idle, beside the CPU of the pods'
probes done bare (a connect to each pod every second); last, a few pods created one
at a time (each once the previous runs), for the start path without a
queue. Prints one JSON object last.

    python benchmarks/pod_startup.py [--pods 100] [--idle-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubelite.cli import parts
from kubelite.cli.cluster import Cluster, UpOptions
from kubelite.cli.datadir import DataDir
from kubelite.kubelet import LogRouter, NodeAgent, node_agents

PY = "{}.{}".format(*sys.version_info[:2])
APP = (
    "import http.server, os\n"
    "http.server.ThreadingHTTPServer((os.environ['POD_IP'], 8080), http.server.BaseHTTPRequestHandler)"
    ".serve_forever()\n"
)


def pod(i: int, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-{i}", "namespace": "default", "labels": {"app": "bench"}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": f"python:{PY}",
                    "command": ["python3", "-c", APP],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ],
        },
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def burst_floor_ms(n: int) -> float:
    """The same burst done bare: the pods' command, n fork+execs back to back
    (Popen returns once exec succeeded), each measured from the burst's start
    as each pod is from its create. Each app listens on an address of its own."""
    procs, times = [], []
    start = time.perf_counter()
    for i in range(n):
        env = dict(os.environ, POD_IP=f"127.99.{i // 250}.{i % 250 + 1}")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", APP],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        times.append((time.perf_counter() - start) * 1000)
    for proc in procs:
        proc.kill()
        proc.wait()
    return statistics.median(times)


def floor_ms(runs: int) -> float:
    """Bare fork+exec of the same command: Popen returns once exec succeeded."""
    times = []
    env = dict(os.environ, POD_IP="127.0.0.1")
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", "pass"],
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        times.append((time.perf_counter() - start) * 1000)
        proc.wait()
    return statistics.median(times)


async def measure(
    cluster: Cluster,
    node: str,
    n: int,
    idle_s: float,
    floors: tuple[float, float],
    shim_pid: Any = None,
) -> dict[str, Any]:
    client = cluster.client
    assert client is not None
    _, rv = await client.list("v1", "Pod", "default")
    created: dict[str, float] = {}
    running: dict[str, float] = {}
    burst_cpu: dict[str, float] = {}
    ready: dict[str, float] = {}

    async def watch() -> None:
        async for _type, obj in client.watch("v1", "Pod", "default", resource_version=rv):
            name = obj.get("metadata", {}).get("name", "")
            status = obj.get("status") or {}
            now = time.perf_counter()
            if status.get("phase") == "Running" and name not in running:
                running[name] = now
                if len(running) == n:
                    burst_cpu["agent"] = _cpu_seconds()
                    burst_cpu["shim"] = _proc_cpu_seconds(shim_pid() if shim_pid else None)
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            ):
                ready.setdefault(name, now)
            if len(ready) == n:
                return

    watcher = asyncio.create_task(watch())
    pid = shim_pid() if shim_pid else None
    agent0, shim0 = _cpu_seconds(), _proc_cpu_seconds(pid)
    for i in range(n):
        created[f"bench-{i}"] = time.perf_counter()
        await client.create(pod(i, node), "default")
    await asyncio.wait_for(watcher, 120)
    # CPU of this process (API server, agent and this client) and of the shim
    # until the burst's last pod was Running, per pod.
    agent_cpu = (burst_cpu["agent"] - agent0) / n * 1000
    shim_cpu_burst = (burst_cpu["shim"] - shim0) / n * 1000
    to_running = [(running[k] - created[k]) * 1000 for k in created]
    to_ready = [(ready[k] - created[k]) * 1000 for k in created]

    # Let the start-up burst settle: queued events are written and the platform
    # tracer reports each pod's start (2 s after it is ready), which is start-up
    # work, not idling.
    await asyncio.sleep(SETTLE_S)
    cpu0, shim0, pods0 = _cpu_seconds(), _proc_cpu_seconds(pid), _children_cpu_seconds(pid)
    t0 = time.perf_counter()
    await asyncio.sleep(idle_s)
    elapsed = time.perf_counter() - t0
    cpu = (_cpu_seconds() - cpu0) / elapsed * 100
    shim_cpu = (_proc_cpu_seconds(pid) - shim0) / elapsed * 100
    pods_cpu = (_children_cpu_seconds(pid) - pods0) / elapsed * 100
    rss_mb = _rss_kb() / 1024
    pods, _ = await client.list("v1", "Pod", "default")
    probe_floor = await asyncio.to_thread(
        probe_floor_percent, [p["status"]["podIP"] for p in pods], PROBE_FLOOR_S
    )
    floor, burst_floor = floors
    single = await one_at_a_time(client, node, SINGLE_PODS)
    return {
        "pods": n,
        "running_p50_ms": round(percentile(to_running, 0.5), 1),
        "running_p99_ms": round(percentile(to_running, 0.99), 1),
        "ready_p50_ms": round(percentile(to_ready, 0.5), 1),
        "ready_p99_ms": round(percentile(to_ready, 0.99), 1),
        "floor_p50_ms": round(floor, 1),
        "overhead_p50_ms": round(percentile(to_running, 0.5) - floor, 1),
        # the same number of bare fork+execs back to back: the median's wait
        "burst_floor_p50_ms": round(burst_floor, 1),
        "burst_cpu_ms_per_pod": round(agent_cpu, 2),
        "burst_shim_cpu_ms_per_pod": round(shim_cpu_burst, 2),
        "idle_rss_mb": round(rss_mb, 1),
        "idle_cpu_percent": round(cpu, 2),
        # the readiness probes alone, done bare: a TCP connect to each pod every second
        "probe_floor_cpu_percent": round(probe_floor, 2),
        # a pod created alone (the burst queues pods behind each other): median of a few
        "single_running_ms": round(statistics.median(single), 1),
        "single_overhead_ms": round(statistics.median(single) - floor, 1),
        # the node's container shim (parent of the pods, writer of their logs), apart
        "shim_rss_mb": round(_rss_kb(pid) / 1024, 1) if pid else None,
        "shim_idle_cpu_percent": round(shim_cpu, 2) if pid else None,
        # the 100 pods' own processes together meanwhile (serving their probes)
        "pods_idle_cpu_percent": round(pods_cpu, 2) if pid else None,
    }


SINGLE_PODS = 5
SETTLE_S = 5.0
PROBE_FLOOR_S = 5.0
PROBE_FLOOR = """
import resource, socket, sys, time
ips, seconds = sys.argv[1].split(","), float(sys.argv[2])
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
c0, t0 = cpu(), time.monotonic()
while time.monotonic() - t0 < seconds:
    for batch in range(10):  # ten groups a second, as probes fall due on a grid
        for ip in ips[batch::10]:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            s.connect_ex((ip, 8080))
            s.close()
        time.sleep(0.1)
print((cpu() - c0) / (time.monotonic() - t0) * 100)
"""


def probe_floor_percent(ips: list[str], seconds: float) -> float:
    """CPU of a bare process doing what the pods' readiness probes do (a TCP
    connect to each pod once a second): the floor of the idle figure's probing."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE_FLOOR, ",".join(ips), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


async def one_at_a_time(client: Any, node: str, n: int) -> list[float]:
    """Create to Running for pods created one by one, each once the previous runs."""
    times = []
    for i in range(n):
        body = pod(1000 + i, node)
        body["metadata"]["name"] = f"single-{i}"
        _, rv = await client.list("v1", "Pod", "default")
        start = time.perf_counter()
        await client.create(body, "default")
        events = client.watch("v1", "Pod", "default", resource_version=rv)
        async with contextlib.aclosing(events):
            async for _type, obj in events:
                if obj["metadata"]["name"] == body["metadata"]["name"] and (
                    (obj.get("status") or {}).get("phase") == "Running"
                ):
                    times.append((time.perf_counter() - start) * 1000)
                    break
    return times


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds(pid: int | None) -> float:
    """CPU of the shim's children (the containers' processes) that are still alive."""
    if not pid:
        return 0.0
    total = 0.0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(OSError):
            total += _proc_cpu_seconds(int(child))
    return total


def _rss_kb(pid: int | None = None) -> int:
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


SHUTDOWN_S = 30.0


def _run(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.new_event_loop()
    return loop.run_until_complete(main(args))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    # The floors first, from this process as it was started: once the cluster is
    # ready the process moves into the control plane's cgroup, where a new
    # session costs the kernel more than in the root cgroup the pods start from.
    floors = (floor_ms(20), burst_floor_ms(args.pods))
    tmp = tempfile.mkdtemp(prefix="kubelite-bench-")
    data = DataDir.at(tmp)
    agents: list[NodeAgent] = []
    original = parts.components

    def components(cluster: Cluster) -> list[Any]:
        comps = list(original(cluster))
        if not any(isinstance(c, NodeAgent) for c in comps):
            agents.extend(node_agents(1, cluster.dir.root, None))
            cluster.api_app.logs = LogRouter(agents)
            comps.extend(agents)
        else:
            agents.extend(c for c in comps if isinstance(c, NodeAgent))
        return comps

    parts.components = components  # type: ignore[assignment]
    stop = asyncio.Event()
    result: dict[str, Any] = {}
    measured = asyncio.Event()

    async def on_ready(cluster: Cluster) -> None:
        async def run() -> None:
            try:
                result.update(
                    await measure(
                        cluster,
                        agents[0].name,
                        args.pods,
                        args.idle_seconds,
                        floors,
                        lambda: _shim(agents[0]),
                    )
                )
            finally:
                measured.set()

        tasks.append(asyncio.create_task(run()))

    tasks: list[asyncio.Task[None]] = []
    cluster = Cluster(UpOptions(data_dir=data, port=0))
    running = asyncio.create_task(cluster.run(stop, on_ready=on_ready))
    await asyncio.wait(
        {running, asyncio.create_task(measured.wait())}, return_when=asyncio.FIRST_COMPLETED
    )
    stop.set()
    # The pods stop with the node agent; a slow shutdown elsewhere must not hold the result.
    done, _ = await asyncio.wait({running}, timeout=SHUTDOWN_S)
    result["clean_shutdown"] = bool(done)
    return result


def _shim(agent: NodeAgent) -> int | None:
    child = getattr(agent.runtime, "_child", None)
    return child.pid if child is not None else None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    print(json.dumps(_run(parser.parse_args())), flush=True)
    os._exit(0)  # do not wait for parts that would not stop
