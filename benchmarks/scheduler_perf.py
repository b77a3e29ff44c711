"""Scheduler throughput, core only: the algorithm and cache, no API server.

Builds kwok-like nodes (4 CPU, 32Gi, 110 pods), schedules every pod through
``Scheduler.schedule_one`` (each placement assumed in the cache, as the real
loop does before binding) and prints one JSON object on the last line.
Shapes: ``basic`` (cpu/memory requests), ``antiaffinity`` (required pod
anti-affinity per app on hostname), ``spread`` (zone topology spread,
DoNotSchedule). The API path (watch, bind, events) is not wired yet, so
``pods_per_s`` and the bind latencies are null.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any

from kubelite.scheduler import Cache, Scheduler

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--shape", choices=("basic", "antiaffinity", "spread"), default="basic")
    ap.add_argument(
        "--exhaustive-pods", type=int, default=None, help="pods for the 100%% run (default: --pods)"
    )
    args = ap.parse_args(argv)
    rate, placed = run(args.nodes, args.pods, args.shape, 0)
    print(
        f"{args.shape}: {args.pods} pods on {args.nodes} nodes: {rate:.0f} pods/s ({placed} placed)",
        file=sys.stderr,
    )
    ex_pods = args.exhaustive_pods or args.pods
    ex_rate, ex_placed = run(args.nodes, ex_pods, args.shape, 100)
    print(
        f"{args.shape} exhaustive: {ex_pods} pods: {ex_rate:.0f} pods/s ({ex_placed} placed)",
        file=sys.stderr,
    )
    out = {
        "mode": "core",
        "shape": args.shape,
        "nodes": args.nodes,
        "pods": args.pods,
        "placed": placed,
        "core_pods_per_s": round(rate, 1),
        "core_pods_per_s_exhaustive": round(ex_rate, 1),
        "exhaustive_pods": ex_pods,
        "pods_per_s": None,
        "bind_p50_ms": None,
        "bind_p99_ms": None,
        "notes": "core only: Scheduler + cache with assumed placements; the API path (watch, pods/binding, events) is not wired yet",
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
