"""Pod status as the kubelet reports it, computed from what the agent knows.

Pure functions: the pod runner keeps one `ContainerRecord` per container and
this module turns them into `status` exactly as `kubectl get` and `kubectl
describe` read it — phase by upstream's getPhase rules, the conditions with
their reasons, containerStatuses with every field the official client
requires (name, image, imageID, ready, restartCount).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubelite.kubelet.termination import per_status_budget, truncate

Obj = dict[str, Any]

WAITING_CREATING = "ContainerCreating"
WAITING_INITIALIZING = "PodInitializing"


@dataclass
class ContainerRecord:
    name: str
    image: str
    init: bool = False
    ephemeral: bool = False  # started once on request (`kubectl debug`), never restarted
    image_id: str = ""
    container_id: str = ""
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": WAITING_CREATING}})
    last_state: Obj = field(default_factory=dict)
    restart_count: int = 0
    started: bool = False
    ready: bool = False

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def terminated(self) -> Obj | None:
        return self.state.get("terminated")

    def waiting(self, reason: str, message: str = "") -> None:
        self.state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        self.ready = False
        self.started = False

    def to_status(self, message_budget: int | None = None) -> Obj:
        """Its containerStatus; terminated messages cut to `message_budget` bytes."""
        status: Obj = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": _public(self.state, message_budget),
            "lastState": _public(self.last_state, message_budget),
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


def _public(state: Obj, message_budget: int | None = None) -> Obj:
    """Drop the agent's private bookkeeping keys (leading underscore)."""
    out = {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in state.items()}
    terminated = out.get("terminated")
    if message_budget is not None and terminated and "message" in terminated:
        terminated["message"] = truncate(terminated["message"], message_budget)
    return out


def _succeeded(rec: ContainerRecord) -> bool:
    t = rec.terminated
    return t is not None and t.get("exitCode") == 0


def _init_failed(rec: ContainerRecord) -> bool:
    t = rec.terminated or (rec.last_state.get("terminated") if "waiting" in rec.state else None)
    return t is not None and t.get("exitCode") != 0


def phase(policy: str, inits: list[ContainerRecord], containers: list[ContainerRecord]) -> str:
    pending_init = sum(1 for r in inits if not _succeeded(r))
    failed_init = sum(1 for r in inits if _init_failed(r))
    running = stopped = succeeded = waiting = 0
    for rec in containers:
        if rec.running:
            running += 1
        elif rec.terminated is not None:
            stopped += 1
            succeeded += rec.terminated.get("exitCode") == 0
        elif rec.last_state.get("terminated") is not None:
            stopped += 1
        else:
            waiting += 1
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init or waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(type_: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": type_, "status": "True" if ok else "False", "lastProbeTime": None}
    if not ok and reason:
        cond["reason"] = reason
        if message:
            cond["message"] = message
    return cond


def conditions(
    phase_: str,
    inits: list[ContainerRecord],
    containers: list[ContainerRecord],
    *,
    sandbox_ready: bool,
) -> list[Obj]:
    incomplete = [r.name for r in inits if not _succeeded(r)]
    unready = [r.name for r in containers if not r.ready]
    done = phase_ in ("Succeeded", "Failed")
    initialized = _condition(
        "Initialized",
        not incomplete or done,
        "ContainersNotInitialized",
        f"containers with incomplete status: [{' '.join(incomplete)}]",
    )
    if done and unready:
        ready = _condition("Ready", False, "PodCompleted")
        c_ready = _condition("ContainersReady", False, "PodCompleted")
    else:
        message = f"containers with unready status: [{' '.join(unready)}]"
        ready = _condition("Ready", not unready, "ContainersNotReady", message)
        c_ready = _condition("ContainersReady", not unready, "ContainersNotReady", message)
    return [
        _condition("PodReadyToStartContainers", sandbox_ready and not done),
        initialized,
        ready,
        c_ready,
        _condition("PodScheduled", True),
    ]


def merge_conditions(old: list[Obj], new: list[Obj], now: str) -> list[Obj]:
    """Keep lastTransitionTime when a condition's status is unchanged; keep other writers' types."""
    by_type = {c.get("type"): c for c in old or []}
    merged = []
    for cond in new:
        prev = by_type.pop(cond["type"], None)
        if cond["type"] == "PodScheduled" and prev is not None:
            merged.append(prev)
            continue
        same = prev is not None and prev.get("status") == cond["status"]
        cond["lastTransitionTime"] = prev.get("lastTransitionTime") if same and prev else now
        merged.append(cond)
    merged.extend(by_type.values())
    return merged


def pod_status(
    pod: Obj,
    inits: list[ContainerRecord],
    containers: list[ContainerRecord],
    *,
    pod_ip: str,
    host_ip: str,
    start_time: str,
    now: str,
    sandbox_ready: bool,
    phase_override: str | None = None,
    ephemerals: list[ContainerRecord] | None = None,
) -> Obj:
    old = dict(pod.get("status") or {})
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    ph = phase_override or phase(policy, inits, containers)
    status = dict(old)
    status["phase"] = ph
    status["conditions"] = merge_conditions(
        old.get("conditions") or [],
        conditions(ph, inits, containers, sandbox_ready=sandbox_ready),
        now,
    )
    status["hostIP"] = host_ip
    status["hostIPs"] = [{"ip": host_ip}]
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    status["startTime"] = old.get("startTime") or start_time
    budget = per_status_budget(pod)  # the pod's 12 KiB of messages, shared evenly
    status["containerStatuses"] = [r.to_status(budget) for r in containers]
    if inits:
        status["initContainerStatuses"] = [r.to_status(budget) for r in inits]
    if ephemerals:  # not part of the phase or the conditions, as upstream
        status["ephemeralContainerStatuses"] = [r.to_status(budget) for r in ephemerals]
    for key in ("reason", "message"):
        status.pop(key, None)
    return status
