"""Rollout benchmark: a 50-replica Deployment rolled to a new template.

Runs the controllers in-process against a fresh store, with default surge
settings (25 % / 25 %), and a stand-in kubelet that reports each pod Running
and Ready `--start-delay` seconds after it is created (the pod start floor;
pass the pod-startup benchmark's figure to compare against it). Prints one
JSON object: `rollout_s` (template change to a complete rollout), `floor_s`
(the start delay used), `writes_per_pod` (API writes per replaced pod,
events included) and `controller_cpu_s` (process CPU spent meanwhile).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.rest import RestStorage
from kubelite.controllers import controllers
from kubelite.store import Store


def deployment(replicas: int) -> dict[str, Any]:
    labels = {"app": "bench"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "app:v1"}]},
            },
        },
    }


async def kubelet(client: LocalClient, delay: float) -> None:
    """Start every new pod after `delay`; finish deletions at once."""
    async with asyncio.TaskGroup() as tg:
        async for kind, pod in client.watch("v1", "Pod", "default"):
            if kind == "ADDED":
                tg.create_task(_start(client, pod["metadata"]["name"], delay))
            elif kind == "MODIFIED" and pod["metadata"].get("deletionTimestamp"):
                tg.create_task(_finish(client, pod["metadata"]["name"]))


async def _start(client: LocalClient, name: str, delay: float) -> None:
    await asyncio.sleep(delay)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
    }
    try:
        await client.bind("default", name, "node-1")
        await client.patch("v1", "Pod", name, {"status": status}, "default", subresource="status")
    except Exception:  # deleted meanwhile
        pass


async def _finish(client: LocalClient, name: str) -> None:
    with contextlib.suppress(Exception):
        await client.delete("v1", "Pod", name, "default", grace_period_seconds=0)


async def complete(client: LocalClient, generation: int, replicas: int) -> None:
    while True:
        d = await client.get("apps/v1", "Deployment", "bench", "default")
        st = d.get("status") or {}
        if (
            st.get("observedGeneration", 0) >= generation
            and st.get("updatedReplicas") == replicas == st.get("availableReplicas")
            and st.get("replicas") == replicas
        ):
            return
        await asyncio.sleep(0.01)


async def run(replicas: int, delay: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "db")
        client = LocalClient(RestStorage(store))
        await client.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
        )
        async with asyncio.TaskGroup() as tg:
            ready = asyncio.Event()
            [manager] = controllers(Path(tmp))
            tasks = [
                tg.create_task(manager.run(client, ready)),
                tg.create_task(kubelet(client, delay)),
            ]
            await ready.wait()
            await client.create(deployment(replicas))
            await complete(client, 1, replicas)
            rev0, cpu0, t0 = store.revision, time.process_time(), time.perf_counter()
            patch = {
                "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}
            }
            d = await client.patch("apps/v1", "Deployment", "bench", patch, "default")
            await complete(client, d["metadata"]["generation"], replicas)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            writes = store.revision - rev0
            for t in tasks:
                t.cancel()
        store.close()
    return {
        "replicas": replicas,
        "rollout_s": round(elapsed, 3),
        "floor_s": delay,
        "writes_per_pod": round(writes / replicas, 2),
        "controller_cpu_s": round(cpu, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument(
        "--start-delay", type=float, default=0.2, help="simulated pod start floor (s)"
    )
    args = parser.parse_args()
    result = asyncio.run(_guarded(args.replicas, args.start_delay))
    print(json.dumps(result))


async def _guarded(replicas: int, delay: float) -> dict[str, Any]:
    try:
        return await run(replicas, delay)
    except* asyncio.CancelledError:
        raise


if __name__ == "__main__":
    main()
