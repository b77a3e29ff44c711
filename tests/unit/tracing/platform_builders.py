"""Fabricated Pods, Events, Deployments and ReplicaSets for the platform-tracing tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def stamp(offset_s: float, *, micro: bool = False) -> str:
    when = datetime.fromtimestamp(T0 + offset_s, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def pod(
    *,
    uid: str = "pod-uid-1",
    name: str = "web-1",
    node: str | None = "node-1",
    scheduled: float | None = 1,
    started: float | None = 3,
    ready: float | None = 5,
    phase: str = "Running",
    owner: str | None = "web-abc",
) -> dict[str, Any]:
    conditions = []
    if scheduled is not None:
        conditions.append(
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp(scheduled)}
        )
    if ready is not None:
        conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": stamp(ready)})
    statuses = []
    if started is not None:
        statuses.append(
            {"name": "app", "state": {"running": {"startedAt": stamp(started)}}, "ready": True}
        )
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": uid,
        "creationTimestamp": stamp(0),
        "resourceVersion": "1",
    }
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True}
        ]
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "web:1"}]}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": statuses},
    }


def event(
    reason: str,
    at: float,
    *,
    involved_uid: str = "pod-uid-1",
    kind: str = "Pod",
    uid: str | None = None,
    message: str = "",
    annotations: dict[str, str] | None = None,
    micro: bool = True,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"x.{reason}", "namespace": "default"}
    meta["uid"] = uid or f"ev-{reason}-{at}"
    if annotations:
        meta["annotations"] = annotations
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta,
        "involvedObject": {"kind": kind, "uid": involved_uid, "namespace": "default"},
        "reason": reason,
        "message": message,
        "firstTimestamp": stamp(at),
        "lastTimestamp": stamp(at),
    }
    if micro:
        body["eventTime"] = stamp(at, micro=True)
    return body


def deployment(
    *,
    uid: str = "dep-uid-1",
    revision: str = "1",
    replicas: int = 2,
    complete_at: float | None = 10,
    generation: int = 1,
) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": generation}
    conditions = []
    if complete_at is not None:
        status.update(
            replicas=replicas,
            updatedReplicas=replicas,
            readyReplicas=replicas,
            availableReplicas=replicas,
        )
        conditions.append(
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "lastUpdateTime": stamp(complete_at),
                "lastTransitionTime": stamp(0),
            }
        )
    else:
        status.update(replicas=replicas, updatedReplicas=1, readyReplicas=1, availableReplicas=1)
        conditions.append(
            {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated",
                "lastUpdateTime": stamp(1),
            }
        )
    status["conditions"] = conditions
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": uid,
            "generation": generation,
            "annotations": {"deployment.kubernetes.io/revision": revision},
        },
        "spec": {"replicas": replicas},
        "status": status,
    }


def replica_set(
    *, uid: str = "rs-uid-1", owner_uid: str = "dep-uid-1", revision: str = "1", created: float = 0
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"web-{revision}",
            "namespace": "default",
            "uid": uid,
            "creationTimestamp": stamp(created),
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [
                {"kind": "Deployment", "name": "web", "uid": owner_uid, "controller": True}
            ],
        },
    }
