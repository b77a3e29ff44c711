"""The Node object this agent registers: capacity, conditions, addresses, nodeInfo, Lease.

Capacity is the machine's real CPU, memory and disk split evenly over the
nodes kubelite runs on this machine (or per-node values from the cluster
config); allocatable equals capacity. Conditions and messages are upstream's.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

from kubelite.kubelet.clock import rfc3339, rfc3339_micro

Obj = dict[str, Any]
KUBELET_VERSION = "v1.32.4"
RUNTIME_VERSION = "kubelite://0.1.0"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
MAX_IMAGES = 50  # the kubelet's nodeStatusMaxImages

CONDITIONS = (
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def node_labels(name: str, labels: dict[str, str]) -> dict[str, str]:
    """The well-known labels a kubelet puts on its Node, then the configured ones."""
    return {
        "beta.kubernetes.io/arch": arch(),
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch(),
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        **labels,
    }


def arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def machine_capacity(data_dir: Path, share: int) -> dict[str, str]:
    """The machine's figures divided by `share` nodes."""
    cpus = os.cpu_count() or 1
    mem_kib = _mem_total_kib()
    disk = shutil.disk_usage(data_dir if data_dir.exists() else Path("/")).total
    milli = cpus * 1000 // share
    return {
        "cpu": str(milli // 1000) if milli % 1000 == 0 else f"{milli}m",
        "memory": f"{mem_kib // share}Ki",
        "ephemeral-storage": f"{disk // 1024 // share}Ki",
        "pods": "110",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    }


def _mem_total_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 4 * 1024 * 1024


def node_info(data_dir: Path) -> dict[str, str]:
    def read(path: str, default: str) -> str:
        try:
            return Path(path).read_text().strip() or default
        except OSError:
            return default

    return {
        "machineID": read(
            "/etc/machine-id", uuid.uuid5(uuid.NAMESPACE_DNS, socket.gethostname()).hex
        ),
        "systemUUID": read(
            "/sys/class/dmi/id/product_uuid", str(uuid.uuid5(uuid.NAMESPACE_DNS, str(data_dir)))
        ),
        "bootID": read("/proc/sys/kernel/random/boot_id", ""),
        "kernelVersion": platform.release(),
        "osImage": _os_image(),
        "containerRuntimeVersion": RUNTIME_VERSION,
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": "",
        "operatingSystem": "linux",
        "architecture": arch(),
    }


def _os_image() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "Linux"


# kubelite's own node condition, present only when limits cannot be enforced
# (upstream has none for this; node-problem-detector adds conditions the same way).
LIMITS_CONDITION = "CgroupsUnavailable"


def conditions(
    now: float,
    previous: list[Obj] | None = None,
    extra: list[tuple[str, str, str, str]] | None = None,
) -> list[Obj]:
    """The node conditions, each keeping its lastTransitionTime while its status holds."""
    prev = {c.get("type"): c for c in previous or []}
    out = []
    for type_, status, reason, message in (*CONDITIONS, *(extra or [])):
        old = prev.get(type_)
        transition = (
            old["lastTransitionTime"] if old and old.get("status") == status else rfc3339(now)
        )
        out.append(
            {
                "type": type_,
                "status": status,
                "lastHeartbeatTime": rfc3339(now),
                "lastTransitionTime": transition,
                "reason": reason,
                "message": message,
            }
        )
    return out


def limits_condition(enforced: bool) -> list[tuple[str, str, str, str]]:
    """The extra condition for a node whose cgroups are not writable (none otherwise)."""
    from kubelite.kubelet.cgroups import UNENFORCED_MESSAGE, UNENFORCED_REASON

    if enforced:
        return []
    return [(LIMITS_CONDITION, "True", UNENFORCED_REASON, UNENFORCED_MESSAGE)]


def node_images(entries: list[Obj], limit: int = MAX_IMAGES) -> list[Obj]:
    """status.images as the kubelet reports them: by size, largest first, at most `limit`.

    One entry per image content (digest), named by its digests then its tags.
    """
    by_digest: dict[str, Obj] = {}
    for e in entries:
        digest = e.get("digest") or ""
        repo, ref = e.get("repository") or "", e.get("ref") or ""
        image = by_digest.setdefault(
            digest, {"digests": [], "tags": [], "size": int(e.get("size") or 0)}
        )
        if repo and digest and f"{repo}@{digest}" not in image["digests"]:
            image["digests"].append(f"{repo}@{digest}")
        if ref:
            image["tags"].append(ref)
    images = [
        {"names": sorted(i["digests"]) + sorted(i["tags"]), "sizeBytes": i["size"]}
        for i in by_digest.values()
    ]
    images.sort(key=lambda i: (-i["sizeBytes"], i["names"]))
    return images[:limit] if limit >= 0 else images


def node_object(
    name: str,
    *,
    pod_cidr: str,
    capacity: dict[str, str],
    labels: dict[str, str],
    taints: list[Obj],
    info: dict[str, str],
    now: float,
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": node_labels(name, labels),
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "podCIDR": pod_cidr,
            "podCIDRs": [pod_cidr],
            **({"taints": taints} if taints else {}),
        },
        "status": node_status(name, capacity=capacity, info=info, now=now),
    }


def node_status(
    name: str,
    *,
    capacity: dict[str, str],
    info: dict[str, str],
    now: float,
    previous: Obj | None = None,
    images: list[Obj] | None = None,
    extra_conditions: list[tuple[str, str, str, str]] | None = None,
) -> Obj:
    prev = previous or {}
    return {
        "capacity": dict(capacity),
        "allocatable": dict(capacity),
        "conditions": conditions(now, prev.get("conditions"), extra_conditions),
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": info,
        "images": images if images is not None else prev.get("images") or [],
    }


def lease_object(name: str, node_uid: str, now: float) -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}
            ],
        },
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_S,
            "renewTime": rfc3339_micro(now),
        },
    }
