"""The Pod row: READY, STATUS and RESTARTS as kube-apiserver computes them.

A line-by-line port of `printPod` (pkg/printers/internalversion, v1.32), so
that `kubectl get pods` reads `Init:0/1`, `PodInitializing`,
`CrashLoopBackOff`, `Completed`, `Terminating` and `3 (5m ago)` exactly when a
real cluster would. The order of the checks matters and is upstream's: init
containers first (stopping at the first one not done), then the app containers
from last to first, so the first container's state wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kubelite.apiserver.tables_format import NONE, parse_time, since
from kubelite.apiserver.tables_printers import AGE, NAME, Printer, Row, col

Obj = Mapping[str, Any]

_NODE_UNREACHABLE = "NodeLost"  # node.NodeUnreachablePodReason
_SUCCEEDED = [
    {
        "type": "Completed",
        "status": "True",
        "reason": "Succeeded",
        "message": "The pod has completed successfully.",
    }
]
_FAILED = [
    {"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}
]


def _restartable(container: Obj | None) -> bool:
    """A sidecar: an init container with `restartPolicy: Always`."""
    return bool(container) and container.get("restartPolicy") == "Always"  # type: ignore[union-attr]


def _condition_true(status: Obj, kind: str) -> bool:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


def _has_ready_condition(status: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _later(current: datetime | None, state: Obj) -> datetime | None:
    """The later of `current` and the finish time of a container's last termination."""
    terminated = (state.get("lastState") or {}).get("terminated")
    if terminated is None:
        return current
    finished = parse_time(terminated.get("finishedAt"))
    if finished is not None and (current is None or current < finished):
        return finished
    return current


def _terminated_reason(terminated: Obj, prefix: str) -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


class _PodState:
    """The running tallies of `printPod`."""

    def __init__(self, pod: Obj) -> None:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        self.spec, self.status = spec, status
        self.phase = status.get("phase", "")
        self.reason = status.get("reason") or self.phase
        for condition in status.get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("reason") == "SchedulingGated"
            ):
                self.reason = "SchedulingGated"
        self.init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
        self.total = len(spec.get("containers") or []) + sum(
            1 for c in self.init_specs.values() if _restartable(c)
        )
        self.ready = 0
        self.restarts = 0
        self.last_restart: datetime | None = None

    def init_containers(self) -> bool:
        """Walk init containers; True while the pod is still initializing."""
        sidecar_restarts, sidecar_last = 0, None
        initializing = False
        statuses = self.status.get("initContainerStatuses") or []
        for index, container in enumerate(statuses):
            self.restarts += container.get("restartCount", 0)
            self.last_restart = _later(self.last_restart, container)
            sidecar = _restartable(self.init_specs.get(container.get("name")))
            if sidecar:
                sidecar_restarts += container.get("restartCount", 0)
                sidecar_last = _later(sidecar_last, container)
            state = container.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if terminated is not None and terminated.get("exitCode", 0) == 0:
                continue
            if sidecar and container.get("started"):
                if container.get("ready"):
                    self.ready += 1
                continue
            if terminated is not None:
                self.reason = _terminated_reason(terminated, "Init:")
            elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
                self.reason = "Init:" + waiting["reason"]
            else:
                self.reason = f"Init:{index}/{len(self.init_specs)}"
            initializing = True
            break
        self._sidecars = (sidecar_restarts, sidecar_last)
        return initializing

    def app_containers(self) -> None:
        """Walk app containers last to first, so the first one's state wins."""
        self.restarts, self.last_restart = self._sidecars
        has_running = False
        for container in reversed(self.status.get("containerStatuses") or []):
            self.restarts += container.get("restartCount", 0)
            self.last_restart = _later(self.last_restart, container)
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                self.reason = waiting["reason"]
            elif terminated is not None:
                self.reason = _terminated_reason(terminated, "")
            elif container.get("ready") and state.get("running") is not None:
                has_running = True
                self.ready += 1
        # Back to Running if some container still runs after another completed.
        if self.reason == "Completed" and has_running:
            self.reason = "Running" if _has_ready_condition(self.status) else "NotReady"


def pod_status(pod: Obj) -> tuple[str, str, int, datetime | None]:
    """(READY, STATUS, restart count, time of the last restart) for one pod."""
    state = _PodState(pod)
    initializing = state.init_containers()
    if not initializing or _condition_true(state.status, "Initialized"):
        state.app_containers()
    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    if deleting and state.status.get("reason") == _NODE_UNREACHABLE:
        state.reason = "Unknown"
    elif deleting and state.phase not in ("Succeeded", "Failed"):
        state.reason = "Terminating"
    return f"{state.ready}/{state.total}", state.reason, state.restarts, state.last_restart


def _readiness_gates(spec: Obj, status: Obj) -> str:
    gates = spec.get("readinessGates") or []
    if not gates:
        return NONE
    conditions = status.get("conditions") or []
    true = 0
    for gate in gates:
        for condition in conditions:
            if condition.get("type") == gate.get("conditionType"):
                true += condition.get("status") == "True"
                break
    return f"{true}/{len(gates)}"


def _pod(pod: Obj, now: datetime) -> Row:
    ready, reason, restarts, last_restart = pod_status(pod)
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    metadata = pod.get("metadata") or {}
    pod_ips = status.get("podIPs") or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
    wide = [
        (pod_ips[0].get("ip") if pod_ips else "") or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        _readiness_gates(spec, status),
    ]
    age = since(metadata.get("creationTimestamp"), now)
    cells = [metadata.get("name", ""), ready, reason, restarts_text, age, *wide]
    phase = status.get("phase")
    conditions = _SUCCEEDED if phase == "Succeeded" else _FAILED if phase == "Failed" else None
    return cells, conditions


POD = Printer(
    (
        NAME,
        col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        col("Status", "The aggregate status of the containers in this pod."),
        col(
            "Restarts",
            "The number of times the containers in this pod have been restarted and when the "
            "last container in this pod has restarted.",
        ),
        AGE,
        col(
            "IP",
            "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            priority=1,
        ),
        col("Node", "NodeName indicates in which node this pod is scheduled.", priority=1),
        col(
            "Nominated Node",
            "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
            priority=1,
        ),
        col(
            "Readiness Gates",
            "If specified, all readiness gates will be evaluated for pod readiness.",
            priority=1,
        ),
    ),
    _pod,
)
