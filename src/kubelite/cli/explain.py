"""`kubelite explain pod NAME`: why the scheduler places or refuses a pod, per node.

The answer is computed the way the cluster's scheduler computes it, from what
the API says now: the nodes, the pods already placed (less this one), the
volumes and the spreading owners go into a fresh scheduler with the cluster's
profile, which scores every feasible node (no sampling) on the reference
plugin-by-plugin path and keeps each filter's verdict and each plugin's score.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from kubelite.cli.datadir import DataDir
from kubelite.scheduler import Scheduler, ScheduleResult, load_profiles
from kubelite.scheduler.component import OwnerSelectors, VolumeCache

Obj = dict[str, Any]

_LISTS = {
    "nodes": "/api/v1/nodes",
    "pods": "/api/v1/pods",
    "namespaces": "/api/v1/namespaces",
    "pvcs": "/api/v1/persistentvolumeclaims",
    "pvs": "/api/v1/persistentvolumes",
    "classes": "/apis/storage.k8s.io/v1/storageclasses",
    "services": "/api/v1/services",
    "replicasets": "/apis/apps/v1/replicasets",
    "statefulsets": "/apis/apps/v1/statefulsets",
}


class ExplainError(RuntimeError):
    pass


def fetch_state(data: DataDir, api: str) -> dict[str, list[Obj]]:
    ctx = ssl.create_default_context(cafile=str(data.tls / "ca.crt"))
    headers = {"Authorization": f"Bearer {data.token()}"}
    out: dict[str, list[Obj]] = {}
    with httpx.Client(base_url=api, verify=ctx, headers=headers, timeout=30) as http:
        for name, path in _LISTS.items():
            resp = http.get(path)
            if resp.status_code != 200:
                raise ExplainError(f"listing {path} failed: {resp.json().get('message')}")
            out[name] = resp.json()["items"]
    return out


def explain(
    state: dict[str, list[Obj]], namespace: str, name: str, config: Path | None
) -> ScheduleResult:
    pod = next(
        (
            p
            for p in state["pods"]
            if p["metadata"]["name"] == name and p["metadata"].get("namespace") == namespace
        ),
        None,
    )
    if pod is None:
        raise ExplainError(f'pods "{name}" not found in namespace "{namespace}"')
    volumes, owners = VolumeCache(), OwnerSelectors()
    for pvc in state["pvcs"]:
        volumes.pvcs[f"{pvc['metadata']['namespace']}/{pvc['metadata']['name']}"] = pvc
    volumes.pv_by_name = {pv["metadata"]["name"]: pv for pv in state["pvs"]}
    volumes.classes = {sc["metadata"]["name"]: sc for sc in state["classes"]}
    for kind, key in (
        ("Service", "services"),
        ("ReplicaSet", "replicasets"),
        ("StatefulSet", "statefulsets"),
    ):
        owners.by_kind[kind] = {
            f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in state[key]
        }
    ns_labels = {
        ns["metadata"]["name"]: {
            "kubernetes.io/metadata.name": ns["metadata"]["name"],
            **(ns["metadata"].get("labels") or {}),
        }
        for ns in state["namespaces"]
    }
    sched = Scheduler(
        profiles=load_profiles(config.read_text()) if config else None,
        percentage_of_nodes_to_score=100,
        fast_path=False,
        volumes=volumes,
        namespace_labels=lambda n: ns_labels.get(n),
        spread_selector=owners.selector_for,
    )
    for node in state["nodes"]:
        sched.cache.add_node(node)
    uid = pod["metadata"].get("uid")
    for other in state["pods"]:
        phase = (other.get("status") or {}).get("phase")
        if (
            other["metadata"].get("uid") != uid
            and other["spec"].get("nodeName")
            and phase not in ("Succeeded", "Failed")
        ):
            sched.cache.add_pod(other)
    spec = {k: v for k, v in pod["spec"].items() if k != "nodeName"}
    candidate = {**pod, "spec": spec}
    return sched.schedule_one(candidate, assume=False)


def render(result: ScheduleResult, pod: str, current_node: str | None) -> Any:
    from rich.table import Table

    data = result.to_dict()
    plugins = sorted({p for per in data["scores"].values() for p in per})
    table = Table(
        title=f"pod {pod}: " + (f"-> {data['node']}" if data["node"] else "unschedulable")
    )
    table.add_column("NODE")
    table.add_column("FILTERS")
    for p in plugins:
        table.add_column(p, justify="right")
    table.add_column("TOTAL", justify="right")
    for node, verdict in sorted(data["filters"].items()):
        passed = verdict is None
        cells = [
            node + (" *" if node == data["node"] else ""),
            "fits" if passed else _verdict(verdict),
        ]
        per = data["scores"].get(node, {})
        for p in plugins:
            s = per.get(p)
            cells.append(f"{s['score']}x{s['weight']}={s['weighted']}" if s else "-")
        total = data["totalScores"].get(node)
        cells.append("-" if total is None else str(total))
        table.add_row(*cells)
    if current_node:
        table.caption = f"currently bound to {current_node}; * = the scheduler's choice now"
    elif data["message"]:
        table.caption = data["message"]
    return table


def _verdict(verdict: dict[str, Any]) -> str:
    plugin = verdict.get("plugin") or ""
    reasons = "; ".join(verdict.get("reasons") or []) or verdict.get("code", "")
    return f"{plugin}: {reasons}" if plugin else str(reasons)
