"""Builders for the dashboard tests: cluster objects, spans and a fake log source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.errors import BadRequest

# The dashboard's clock in the tests: a little after the objects are created,
# so ages read as a few minutes.
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=3)
NOW_US = int(NOW.timestamp() * 1_000_000)

Obj = dict[str, Any]


class FakeLogs:
    """A LogSource: fixed lines per container; `fail` raises as the node agent would."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}
        self.calls: list[dict[str, str]] = []
        self.fail: str | None = None
        self.break_after: int | None = None

    def stream(self, pod: Obj, options: dict[str, str]) -> AsyncIterator[bytes]:
        self.calls.append(dict(options))
        if self.fail:
            raise BadRequest(self.fail)
        lines = self.lines.get(options["container"], [])
        tail = int(options.get("tailLines", len(lines)))
        return self._gen(lines[-tail:])

    async def _gen(self, lines: list[str]) -> AsyncIterator[bytes]:
        for index, line in enumerate(lines):
            if self.break_after is not None and index == self.break_after:
                raise BadRequest("container restarted")
            yield (line + "\n").encode()


def make_pod(
    name: str,
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    containers: tuple[str, ...] = ("app",),
    node: str | None = "node-1",
) -> Obj:
    spec: Obj = {"containers": [{"name": c, "image": f"{c}:1"} for c in containers]}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": spec,
    }


def running_status(*containers: str, ready: bool = True, restarts: int = 0) -> Obj:
    return {
        "phase": "Running",
        "podIP": "127.244.0.7",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [
            {
                "name": c,
                "ready": ready,
                "restartCount": restarts,
                "image": f"{c}:1",
                "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
            }
            for c in containers
        ],
    }


def crashing_status(container: str = "app") -> Obj:
    return {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": container,
                "ready": False,
                "restartCount": 4,
                "image": f"{container}:1",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "finishedAt": "2024-01-01T00:00:00Z",
                    }
                },
            }
        ],
    }


async def add_pod(client: LocalClient, pod: Obj, status: Obj | None = None) -> Obj:
    created = await client.create(pod)
    if status is not None:
        created["status"] = status
        created = await client.update_status(created)
    return created


def make_node(name: str = "node-1", *, ready: bool = True, unschedulable: bool = False) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "7", "memory": "15Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-kubelite"},
        },
    }


def make_event(
    pod: Obj,
    *,
    reason: str,
    message: str,
    type_: str = "Normal",
    seconds_ago: int = 10,
    name: str | None = None,
) -> Obj:
    md = pod["metadata"]
    when = (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": name or f"{md['name']}.{reason.lower()}{seconds_ago}",
            "namespace": md["namespace"],
        },
        "involvedObject": {
            "kind": "Pod",
            "name": md["name"],
            "namespace": md["namespace"],
            "uid": md.get("uid", ""),
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": "kubelite-mesh"},
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }


def make_span(
    id: str,
    *,
    trace: str = "a" * 16,
    parent: str | None = None,
    service: str = "frontend",
    name: str = "get /",
    kind: str | None = "SERVER",
    start_ms: float = 0,
    duration_ms: float = 1,
    remote: str | None = None,
    shared: bool = False,
    error: bool = False,
) -> Obj:
    span: Obj = {
        "traceId": trace,
        "id": id,
        "name": name,
        "timestamp": NOW_US - 60_000_000 + int(start_ms * 1000),
        "duration": int(duration_ms * 1000),
        "localEndpoint": {"serviceName": service},
    }
    if parent:
        span["parentId"] = parent
    if kind:
        span["kind"] = kind
    if remote:
        span["remoteEndpoint"] = {"serviceName": remote}
    if shared:
        span["shared"] = True
    if error:
        span["tags"] = {"error": "boom"}
    return span
