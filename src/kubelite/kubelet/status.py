"""Pod status as the kubelet reports it, computed from what the agent knows.

Pure functions: the pod runner keeps one `ContainerRecord` per container and
this module turns them into `status` exactly as `kubectl get` and `kubectl
describe` read it — phase by upstream's getPhase rules, the conditions with
their reasons, containerStatuses with every field the official client
requires (name, image, imageID, ready, restartCount).

Sidecars (init containers with `restartPolicy: Always`) count as upstream
counts them: one has initialized the pod once it has started, its readiness
is part of ContainersReady, and its end never decides the pod's phase (the
regular containers' ends do). A regular init container that exited 0 is
ready, as upstream's prober manager reports it.

Readiness gates (`spec.readinessGates`) hold Ready back as upstream's
GeneratePodReadyCondition does: once the containers are ready, the pod is
Ready only when each gate's condition, written by some controller into the
stored status (and kept there by every write of the agent's), is True.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubelite.kubelet.termination import per_status_budget, truncate

Obj = dict[str, Any]

WAITING_CREATING = "ContainerCreating"
WAITING_INITIALIZING = "PodInitializing"
TERMINAL_PHASES = ("Succeeded", "Failed")
READINESS_GATES_NOT_READY = "ReadinessGatesNotReady"
# What upstream's status manager reports for a container with no end of its own
# when its pod is done (TerminatePod): the pod must not look successful.
UNKNOWN_END: Obj = {
    "exitCode": 137,
    "reason": "ContainerStatusUnknown",
    "message": "The container could not be located when the pod was terminated",
}


@dataclass
class ContainerRecord:
    name: str
    image: str
    init: bool = False
    sidecar: bool = False  # an init container with restartPolicy Always
    ephemeral: bool = False  # started once on request (`kubectl debug`), never restarted
    image_id: str = ""
    container_id: str = ""
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": WAITING_CREATING}})
    last_state: Obj = field(default_factory=dict)
    restart_count: int = 0
    started: bool = False
    ready: bool = False
    # containerStatuses[].volumeMounts, as 1.32's kubelet reports each of the spec's
    volume_mounts: list[Obj] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def terminated(self) -> Obj | None:
        return self.state.get("terminated")

    @property
    def completed_init(self) -> bool:
        """A regular init container that exited 0: ready, as upstream reports it."""
        return self.init and not self.sidecar and _succeeded(self)

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
            "ready": self.ready or self.completed_init,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": _public(self.state, message_budget),
            "lastState": _public(self.last_state, message_budget),
        }
        if self.container_id:
            status["containerID"] = self.container_id
        if self.volume_mounts:
            status["volumeMounts"] = self.volume_mounts
        return status


def mount_statuses(container: Obj) -> list[Obj]:
    """The container's volumeMounts as its status reports them (VolumeMountStatus):
    a read-only one says whether it is recursively so; kubelite's read-only binds are
    not, unless the pod asked for it outright."""
    out = []
    for m in container.get("volumeMounts") or []:
        entry: Obj = {"mountPath": m.get("mountPath", ""), "name": m.get("name", "")}
        if m.get("readOnly"):
            entry["readOnly"] = True
            wanted = m.get("recursiveReadOnly")
            entry["recursiveReadOnly"] = "Enabled" if wanted == "Enabled" else "Disabled"
        out.append(entry)
    return out


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


def phase(
    policy: str,
    inits: list[ContainerRecord],
    containers: list[ContainerRecord],
    *,
    terminal: bool = False,
) -> str:
    """Upstream's getPhase; `terminal` for a pod whose containers will never run again
    (it is being deleted), so a stopped container is final whatever the restart policy.

    A running sidecar counts as running, one not yet started keeps the pod Pending
    until a regular container has run, and a sidecar's end counts for nothing: the
    regular containers' ends alone make a pod Succeeded or Failed.
    """
    regular_inits = [r for r in inits if not r.sidecar]
    pending_init = sum(1 for r in regular_inits if not _succeeded(r))
    failed_init = sum(1 for r in regular_inits if _init_failed(r))
    running = stopped = succeeded = waiting = pending_sidecars = 0
    for rec in inits:
        if not rec.sidecar:
            continue
        if rec.running:
            running += 1
            pending_sidecars += not rec.started
        elif rec.terminated is None and rec.last_state.get("terminated") is None:
            waiting += 1
            pending_sidecars += 1
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
    if pending_init or (pending_sidecars and not _any_regular_started(containers)) or waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _any_regular_started(containers: list[ContainerRecord]) -> bool:
    """Upstream's HasAnyRegularContainerStarted: one running, or ended."""
    return any(r.running or r.terminated is not None for r in containers)


def _condition(type_: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": type_, "status": "True" if ok else "False", "lastProbeTime": None}
    if not ok and reason:
        cond["reason"] = reason
        if message:
            cond["message"] = message
    return cond


def initialized(
    phase_: str, inits: list[ContainerRecord], containers: list[ContainerRecord]
) -> Obj:
    """Upstream's GeneratePodInitializedCondition: True (reason PodCompleted) for a pod
    that succeeded, True once a regular container ever ran, else False while an init
    container has not succeeded (a sidecar: started) — a pod that failed before that
    is not initialized."""
    if phase_ == "Succeeded":
        return {**_condition("Initialized", True), "reason": "PodCompleted"}
    incomplete = [r.name for r in inits if not (r.started if r.sidecar else _succeeded(r))]
    return _condition(
        "Initialized",
        _any_regular_started(containers) or not incomplete,
        "ContainersNotInitialized",
        f"containers with incomplete status: [{' '.join(incomplete)}]",
    )


def conditions(
    phase_: str,
    inits: list[ContainerRecord],
    containers: list[ContainerRecord],
    *,
    sandbox_ready: bool,
    gates: list[str] | None = None,
    existing: list[Obj] | None = None,
) -> list[Obj]:
    """The conditions the kubelet owns; `gates` are the pod's readinessGates'
    condition types, looked up in `existing` (the conditions others wrote)."""
    # Upstream's GenerateContainersReadyCondition: the sidecars first, then the rest.
    unready = [r.name for r in inits if r.sidecar and not r.ready]
    unready += [r.name for r in containers if not r.ready]
    done = phase_ in TERMINAL_PHASES
    if done:
        # As upstream reports a pod that ended: never ready, whatever the probes last said.
        reason = "PodCompleted" if phase_ == "Succeeded" else "PodFailed"
        ready = _condition("Ready", False, reason)
        c_ready = _condition("ContainersReady", False, reason)
    else:
        message = f"containers with unready status: [{' '.join(unready)}]"
        c_ready = _condition("ContainersReady", not unready, "ContainersNotReady", message)
        ready = _condition("Ready", not unready, "ContainersNotReady", message)
        gated = gates_not_ready(gates or [], existing or [])
        if not unready and gated:
            ready = _condition("Ready", False, READINESS_GATES_NOT_READY, ", ".join(gated))
    return [
        _condition("PodReadyToStartContainers", sandbox_ready and not done),
        initialized(phase_, inits, containers),
        ready,
        c_ready,
        _condition("PodScheduled", True),
    ]


def gates_not_ready(gates: list[str], existing: list[Obj]) -> list[str]:
    """Upstream's GeneratePodReadyCondition: why each readiness gate holds the pod
    back (its condition missing, or not True), in the order the spec lists them."""
    by_type = {c.get("type"): c for c in existing}
    out = []
    for gate in gates:
        cond = by_type.get(gate)
        if cond is None:
            out.append(f'corresponding condition of pod readiness gate "{gate}" does not exist.')
        elif cond.get("status") != "True":
            out.append(
                f'the status of pod readiness gate "{gate}" is not "True", '
                f"but {cond.get('status', '')}"
            )
    return out


def readiness_gates(pod: Obj) -> list[str]:
    """The condition types the pod's spec.readinessGates wait for."""
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    return [str(g.get("conditionType", "")) for g in gates if g.get("conditionType")]


def finish(
    inits: list[ContainerRecord], containers: list[ContainerRecord], *, stored: Obj | None = None
) -> None:
    """Give a pod's containers their final states once it will never run again.

    As upstream's kubelet reports a deleted pod: a container waiting to be
    restarted shows the end of its last run instead (the restart will not
    come), and one this agent never saw end keeps the end the `stored`
    status already shows; then, as its status manager's TerminatePod, every
    container still without an end gets `ContainerStatusUnknown` (exit code
    137) — the regular ones only once the pod got past its init containers,
    the init ones up to the last that ever started.
    """
    initialized = _initialized(inits, containers)
    ended = {
        s.get("name"): s["state"]["terminated"]
        for key in ("initContainerStatuses", "containerStatuses")
        for s in (stored or {}).get(key) or []
        if "terminated" in (s.get("state") or {})
    }
    for rec in inits + containers:
        last = rec.last_state.get("terminated")
        if "waiting" in rec.state and last is not None:
            rec.state, rec.last_state = {"terminated": dict(last)}, {}
        elif "waiting" in rec.state and rec.name in ended:
            rec.state = {"terminated": dict(ended[rec.name])}
        rec.ready = rec.started = False
    started = [i for i, r in enumerate(inits) if "waiting" not in r.state]
    attempted = inits[: started[-1] + 1] if started else inits[:1]
    unknown = attempted + (containers if initialized else [])
    for rec in unknown:
        if rec.terminated is None:
            rec.state = {"terminated": dict(UNKNOWN_END)}


def _initialized(inits: list[ContainerRecord], containers: list[ContainerRecord]) -> bool:
    """Upstream's hasPodInitialized: no init containers, a regular container that ever
    left waiting, or a last init container that succeeded (a sidecar: runs, started)."""
    if not inits or any("waiting" not in r.state or r.last_state for r in containers):
        return True
    last = inits[-1]
    if last.sidecar:
        return last.running and last.started
    return _succeeded(last) or (last.last_state.get("terminated") or {}).get("exitCode") == 0


def final_phase(
    policy: str, inits: list[ContainerRecord], containers: list[ContainerRecord]
) -> str:
    """The phase a pod ends in: getPhase for a terminal pod, and Failed where that still
    says Pending or Running (TerminatePod: a pod that will not run cannot be either)."""
    ph = phase(policy, inits, containers, terminal=True)
    return ph if ph in TERMINAL_PHASES else "Failed"


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
    reason: tuple[str, str] = ("", ""),
) -> Obj:
    """The pod's status; `reason` is its (reason, message), e.g. an eviction's."""
    old = dict(pod.get("status") or {})
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    ph = phase_override or phase(policy, inits, containers)
    status = dict(old)
    status["phase"] = ph
    status["conditions"] = merge_conditions(
        old.get("conditions") or [],
        conditions(
            ph,
            inits,
            containers,
            sandbox_ready=sandbox_ready,
            gates=readiness_gates(pod),
            existing=old.get("conditions") or [],
        ),
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
    for key, text in zip(("reason", "message"), reason, strict=True):
        if text:
            status[key] = text
        else:
            status.pop(key, None)
    return status
