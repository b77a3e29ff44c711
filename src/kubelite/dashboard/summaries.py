"""What the dashboard says about one object, as plain values.

Pure functions from Kubernetes-shaped dicts to the strings and counts a row
shows, kept apart from HTML so they are easy to test and read the same way
`kubectl get` does: a pod's STATUS is kube-apiserver's own computation, a
node is Ready only when its Ready condition says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubelite.apiserver.tables_format import parse_time, since
from kubelite.apiserver.tables_pod import pod_status

Obj = Mapping[str, Any]
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# STATUS values that mean "fine" and "finished"; anything else deserves a look.
HEALTHY_STATUSES = frozenset({"Running", "Completed", "Succeeded"})


def meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def age(obj: Obj, now: datetime) -> str:
    return since(meta(obj).get("creationTimestamp"), now)


def condition(obj: Obj, kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def tone(status: str) -> str:
    """A badge colour for a status word."""
    if status in HEALTHY_STATUSES or status in ("Ready", "True", "Normal", "closed", "Active"):
        return "ok"
    if status in ("Pending", "ContainerCreating", "PodInitializing", "half_open", "Terminating"):
        return "warn"
    if status.startswith("Init:") and status[5:].split("/")[0].isdigit():
        return "warn"
    return "bad"


# ---- nodes ---------------------------------------------------------------------


@dataclass(frozen=True)
class NodeSummary:
    name: str
    status: str  # "Ready", "NotReady", "Unknown", plus ",SchedulingDisabled"
    cpu: str  # allocatable / capacity
    memory: str
    pods: str  # running here / allocatable pods
    version: str


def node_summary(node: Obj, pods_here: int) -> NodeSummary:
    ready = condition(node, "Ready")
    state = (ready or {}).get("status")
    status = "Ready" if state == "True" else "NotReady" if state == "False" else "Unknown"
    if (node.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    st = node.get("status") or {}
    cap, alloc = st.get("capacity") or {}, st.get("allocatable") or {}

    def pair(key: str) -> str:
        return f"{alloc.get(key, '?')} / {cap.get(key, '?')}"

    return NodeSummary(
        name=meta(node).get("name", ""),
        status=status,
        cpu=pair("cpu"),
        memory=pair("memory"),
        pods=f"{pods_here} / {alloc.get('pods', cap.get('pods', '?'))}",
        version=(st.get("nodeInfo") or {}).get("kubeletVersion", ""),
    )


# ---- pods ----------------------------------------------------------------------


@dataclass(frozen=True)
class PodSummary:
    namespace: str
    name: str
    ready: str
    status: str
    restarts: str
    ip: str
    node: str


def pod_summary(pod: Obj, now: datetime) -> PodSummary:
    ready, status, restarts, last = pod_status(pod)
    restarts_text = str(restarts)
    if restarts and last is not None:
        restarts_text = f"{restarts} ({since(last, now)} ago)"
    st, spec = pod.get("status") or {}, pod.get("spec") or {}
    return PodSummary(
        namespace=meta(pod).get("namespace", ""),
        name=meta(pod).get("name", ""),
        ready=ready,
        status=status,
        restarts=restarts_text,
        ip=st.get("podIP") or "",
        node=spec.get("nodeName") or "",
    )


def phase_counts(pods: Iterable[Obj]) -> Counter[str]:
    return Counter((p.get("status") or {}).get("phase") or "Unknown" for p in pods)


def container_state(status: Obj) -> tuple[str, str]:
    """(state word, detail) for one containerStatuses entry, e.g. ("waiting", "CrashLoopBackOff")."""
    state = status.get("state") or {}
    if "running" in state:
        started = (state["running"] or {}).get("startedAt")
        return "running", f"since {started}" if started else ""
    if "terminated" in state:
        t = state["terminated"] or {}
        return "terminated", f"{t.get('reason') or 'Exited'} (exit code {t.get('exitCode', '?')})"
    if "waiting" in state:
        w = state["waiting"] or {}
        return "waiting", str(w.get("reason") or "")
    return "unknown", ""


def last_termination(status: Obj) -> str:
    t = (status.get("lastState") or {}).get("terminated")
    if not t:
        return ""
    return f"{t.get('reason') or 'Exited'} (exit code {t.get('exitCode', '?')}) at {t.get('finishedAt', '?')}"


# ---- workloads -----------------------------------------------------------------


def deployment_counts(dep: Obj) -> tuple[str, int, int]:
    """(READY "a/b", UP-TO-DATE, AVAILABLE) as `kubectl get deploy` prints them."""
    spec, st = dep.get("spec") or {}, dep.get("status") or {}
    desired = spec.get("replicas", 1)
    return (
        f"{st.get('readyReplicas', 0)}/{desired}",
        st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0),
    )


def revision(obj: Obj) -> str:
    return str((meta(obj).get("annotations") or {}).get(REVISION_ANNOTATION, ""))


def conditions_text(obj: Obj) -> list[tuple[str, str, str]]:
    """(type, status, reason) of each condition, in the object's order."""
    return [
        (c.get("type", ""), c.get("status", ""), c.get("reason", "") or "")
        for c in (obj.get("status") or {}).get("conditions") or []
    ]


def images(template_owner: Obj) -> list[str]:
    spec = ((template_owner.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c.get("image", "") for c in spec.get("containers") or []]


def owner(obj: Obj) -> tuple[str, str] | None:
    """(kind, name) of the controlling owner, if any."""
    refs = meta(obj).get("ownerReferences") or []
    for ref in refs:
        if ref.get("controller"):
            return ref.get("kind", ""), ref.get("name", "")
    return (refs[0].get("kind", ""), refs[0].get("name", "")) if refs else None


# ---- services ------------------------------------------------------------------


def service_ports(svc: Obj) -> str:
    """`80/TCP`, `80:30080/TCP` for NodePorts, comma separated; `<none>` when empty."""
    out = []
    for port in (svc.get("spec") or {}).get("ports") or []:
        text = str(port.get("port", ""))
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        out.append(f"{text}/{port.get('protocol') or 'TCP'}")
    return ",".join(out) or "<none>"


def endpoint_addresses(endpoints: Obj | None) -> tuple[list[str], list[str]]:
    """(ready "ip:port" list, not-ready "ip:port" list) from an Endpoints object."""
    ready: list[str] = []
    not_ready: list[str] = []
    for subset in (endpoints or {}).get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for key, out in (("addresses", ready), ("notReadyAddresses", not_ready)):
            for addr in subset.get(key) or []:
                ip = addr.get("ip", "")
                out.extend(f"{ip}:{p}" if p is not None else ip for p in ports)
    return ready, not_ready


def secret_keys(secret: Obj) -> list[str]:
    """Key names only: a Secret's values are never read past this function."""
    return sorted({*(secret.get("data") or {}), *(secret.get("stringData") or {})})


def configmap_keys(cm: Obj) -> list[str]:
    return sorted({*(cm.get("data") or {}), *(cm.get("binaryData") or {})})


# ---- events --------------------------------------------------------------------


def event_time(event: Obj) -> datetime | None:
    """The latest time an event says it happened (core/v1 and events.k8s.io shapes)."""
    series = event.get("series") or {}
    for value in (
        event.get("lastTimestamp"),
        series.get("lastObservedTime"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        meta(event).get("creationTimestamp"),
    ):
        when = parse_time(value)
        if when is not None:
            return when
    return None


def _revision(obj: Obj) -> int:
    try:
        return int(meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


def newest_first(events: Iterable[Obj]) -> list[Obj]:
    """Events by time, newest first; the store revision breaks ties within a second."""

    def key(ev: Obj) -> tuple[float, int]:
        when = event_time(ev)
        return (when.timestamp() if when else 0.0, _revision(ev))

    return sorted(events, key=key, reverse=True)
