"""Scheduler throughput, core only: the algorithm and cache, no API server.

Builds kwok-like nodes (4 CPU, 32Gi, 110 pods), schedules every pod through
``Scheduler.schedule_one`` (each placement assumed in the cache, as the real
loop does before binding) and prints one JSON object on the last line.
Shapes: ``basic`` (cpu/memory requests), ``antiaffinity`` (required pod
anti-affinity per app on hostname), ``spread`` (zone topology spread,
DoNotSchedule).

The end-to-end run (``--api``, on by default for ``basic``) starts a real
`kubelite up`, creates the nodes and then the pods through the HTTPS API
with 16 keep-alive clients, and watches pods for their binding. Two rates:
``pods_per_s`` is upstream scheduler_perf's SchedulingThroughput (the count
of scheduled pods sampled every second; the first non-empty sample is
dropped, empty intervals are folded into the next, and the figure is the
average of the per-interval rates), ``pods_per_s_window`` all pods over the
time from the first create to the last bind. p50/p99 are from create to bind.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from kubelite.scheduler import Cache, Scheduler

sys.path.insert(0, str(Path(__file__).parent))
from _http import Conn  # noqa: E402

ZONES = 10
APP_SIZE = 50


def make_nodes(n: int) -> list[dict[str, Any]]:
    return [
        {
            "metadata": {
                "name": f"kwok-node-{i}",
                "labels": {
                    "kubernetes.io/hostname": f"kwok-node-{i}",
                    "topology.kubernetes.io/zone": f"zone-{i % ZONES}",
                    "type": "kwok",
                },
            },
            "spec": {},
            "status": {
                "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
            },
        }
        for i in range(n)
    ]


def make_pod(i: int, shape: str) -> dict[str, Any]:
    app = f"app-{i // APP_SIZE}"
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "c",
                "image": "registry.local/app:1",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            }
        ]
    }
    if shape == "antiaffinity":
        spec["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {"app": app}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    elif shape == "spread":
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": app}},
            }
        ]
    return {
        "metadata": {"name": f"pod-{i}", "namespace": "default", "labels": {"app": app}},
        "spec": spec,
    }


def run(nodes: int, pods: int, shape: str, pct: int) -> tuple[float, int]:
    cache = Cache()
    for node in make_nodes(nodes):
        cache.add_node(node)
    sched = Scheduler(cache, rng=random.Random(1), percentage_of_nodes_to_score=pct)
    batch = [make_pod(i, shape) for i in range(pods)]
    placed = 0
    start = time.perf_counter()
    for pod in batch:
        if sched.schedule_one(pod).scheduled:
            placed += 1
    elapsed = time.perf_counter() - start
    return pods / elapsed, placed


SAMPLE_INTERVAL_S = 1.0


def sampled_throughput(bind_times: list[float], start: float, end: float) -> list[float]:
    """upstream scheduler_perf's throughputCollector over recorded bind times.

    Every ``SAMPLE_INTERVAL_S`` from ``start`` it counts the pods bound so far;
    the first sample with any is only a baseline; an interval with none is
    folded into the next; each rate is spread over the intervals it covers.
    """
    times = sorted(bind_times)
    samples: list[float] = []
    last_count, last_time, started, skipped = 0, start, False, 0
    tick, i = start, 0
    while tick < end:
        tick += SAMPLE_INTERVAL_S
        while i < len(times) and times[i] <= tick:
            i += 1
        if i == 0:
            continue
        if not started:
            started, last_count, last_time = True, i, tick
            continue
        if i == last_count:
            skipped += 1
            continue
        rate = (i - last_count) / (tick - last_time)
        samples.extend([rate] * (skipped + 1))
        last_count, last_time, skipped = i, tick, 0
    return samples


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _api_run(
    url: str, token: str, ca: str, nodes: int, pods: int, shape: str, pid: int
) -> dict[str, Any]:
    import asyncio

    clients = [await Conn(url, token=token, ca=ca).open() for _ in range(16)]
    # pods need the namespace's default ServiceAccount, which a controller creates
    sa_path = "/api/v1/namespaces/default/serviceaccounts/default"
    while (await clients[0].request("GET", sa_path))[0] != 200:
        await asyncio.sleep(0.05)

    async def post_all(path: str, bodies: list[bytes], stamps: list[float] | None) -> None:
        it = iter(range(len(bodies)))

        async def worker(conn: Conn) -> None:
            for i in it:
                if stamps is not None:
                    stamps[i] = time.perf_counter()
                status, body = await conn.request("POST", path, bodies[i])
                if status != 201:
                    raise RuntimeError(f"create failed {status}: {body[:200]!r}")

        await asyncio.gather(*(worker(c) for c in clients))

    node_bodies = []
    for node in make_nodes(nodes):
        node.update(apiVersion="v1", kind="Node")
        node["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        node_bodies.append(json.dumps(node).encode())
    await post_all("/api/v1/nodes", node_bodies, None)
    watcher = await Conn(url, token=token, ca=ca).open()
    status, body = await watcher.request("GET", "/api/v1/namespaces/default/pods?limit=1")
    rv = json.loads(body)["metadata"]["resourceVersion"]
    await watcher.start_stream(f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}")
    await asyncio.sleep(1.0)  # let the scheduler's cache take the nodes in
    created = [0.0] * pods
    bound: dict[int, float] = {}

    async def watch_binds() -> None:
        while len(bound) < pods:
            line = await watcher.next_line()
            event = json.loads(line)
            obj = event["object"]
            if obj.get("spec", {}).get("nodeName"):
                i = int(obj["metadata"]["name"].split("-")[1])
                bound.setdefault(i, time.perf_counter())

    watching = asyncio.create_task(watch_binds())
    cpu_before = _cpu_seconds(pid)
    pod_bodies = []
    for i in range(pods):
        pod = make_pod(i, shape)
        pod.update(apiVersion="v1", kind="Pod")
        pod_bodies.append(json.dumps(pod).encode())
    await post_all("/api/v1/namespaces/default/pods", pod_bodies, created)
    await asyncio.wait_for(watching, 600)
    server_cpu = _cpu_seconds(pid) - cpu_before
    for c in clients:
        c.close()
    watcher.close()
    latencies = [(bound[i] - created[i]) * 1000 for i in range(pods)]
    window = max(bound.values()) - min(created)
    samples = sampled_throughput(list(bound.values()), min(created), max(bound.values()))
    return {
        "pods_per_s": round(sum(samples) / len(samples), 1) if samples else None,
        "pods_per_s_p50": round(_pct(samples, 50), 1) if samples else None,
        "pods_per_s_window": round(pods / window, 1),
        # The server's CPU per pod over the pod phase: a figure other load on
        # the machine disturbs far less than the rates.
        "server_cpu_ms_per_pod": round(server_cpu * 1000 / pods, 3),
        "bind_p50_ms": round(_pct(latencies, 50), 1),
        "bind_p99_ms": round(_pct(latencies, 99), 1),
    }


def run_api(nodes: int, pods: int, shape: str) -> dict[str, Any]:
    import asyncio
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kubelite-sched-") as tmp:
        data = Path(tmp) / "data"
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubelite", "up", "--port", "0", "--data-dir", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, KUBELITE_DETACHED="1"),
        )
        try:
            state = data / "kubelite.json"
            while not state.exists():
                if proc.poll() is not None:
                    raise RuntimeError("kubelite exited during start-up")
                time.sleep(0.01)
            status = json.loads(state.read_text())
            token = (data / "token").read_text().strip()
            return asyncio.run(
                _api_run(
                    status["api"],
                    token,
                    str(data / "tls" / "ca.crt"),
                    nodes,
                    pods,
                    shape,
                    int(status.get("pid") or proc.pid),
                )
            )
        finally:
            proc.terminate()
            proc.wait(60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--shape", choices=("basic", "antiaffinity", "spread"), default="basic")
    ap.add_argument(
        "--exhaustive-pods", type=int, default=None, help="pods for the 100%% run (default: --pods)"
    )
    ap.add_argument(
        "--api",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run end to end through a real kubelite up (default: on for basic)",
    )
    ap.add_argument(
        "--core",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the scheduling core alone (default: on)",
    )
    args = ap.parse_args(argv)
    rate = ex_rate = 0.0
    placed = ex_placed = 0
    ex_pods = args.exhaustive_pods or args.pods
    if args.core:
        rate, placed = run(args.nodes, args.pods, args.shape, 0)
        print(
            f"{args.shape}: {args.pods} pods on {args.nodes} nodes: {rate:.0f} pods/s "
            f"({placed} placed)",
            file=sys.stderr,
        )
        ex_rate, ex_placed = run(args.nodes, ex_pods, args.shape, 100)
        print(
            f"{args.shape} exhaustive: {ex_pods} pods: {ex_rate:.0f} pods/s ({ex_placed} placed)",
            file=sys.stderr,
        )
    api: dict[str, Any] = {
        "pods_per_s": None,
        "pods_per_s_p50": None,
        "pods_per_s_window": None,
        "server_cpu_ms_per_pod": None,
        "bind_p50_ms": None,
        "bind_p99_ms": None,
    }
    use_api = args.api if args.api is not None else args.shape == "basic"
    if use_api:
        api = run_api(args.nodes, args.pods, args.shape)
        print(f"{args.shape} end to end: {api}", file=sys.stderr)
    out = {
        "mode": "+".join(m for m, on in (("core", args.core), ("api", use_api)) if on),
        "shape": args.shape,
        "nodes": args.nodes,
        "pods": args.pods,
        "placed": placed,
        "core_pods_per_s": round(rate, 1) if args.core else None,
        "core_pods_per_s_exhaustive": round(ex_rate, 1) if args.core else None,
        "exhaustive_pods": ex_pods,
        **api,
        "upstream_pods_per_s": {"basic": 270, "antiaffinity": 60, "spread": 85}[args.shape],
        "notes": "core: Scheduler + cache with assumed placements; end to end: kubelite up over "
        "HTTPS, pods created by 16 clients, binding seen on a watch; pods_per_s is "
        "scheduler_perf's sampled SchedulingThroughput average, pods_per_s_window "
        "first create to last bind",
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
