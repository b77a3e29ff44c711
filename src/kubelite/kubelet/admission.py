"""The kubelet's admission of a pod bound to its node (upstream's predicate admit handler).

A pod given a `spec.nodeName` never meets the scheduler, so the node checks it
once before starting it, as upstream's kubelet does (v1.32,
pkg/kubelet/lifecycle/predicate.go), in the same order:

1. what evicting other pods could never fix: the pod's OS, by its
   `kubernetes.io/os` label and by `spec.os.name`;
2. the scheduler's general predicates against the pods admitted before it
   (upstream's `AdmissionCheck`): resources, node affinity and nodeSelector,
   node name, host ports;
3. the node's NoExecute taints (the kubelet leaves NoSchedule to the scheduler).

The first failure is the pod's reason; the agent then fails the pod with it and
never starts it. These are the kubelet's own checks, not the scheduler's
plugins: the two parts meet only at the API. Both read node affinity and
tolerations from `kubelite.api.nodeaffinity`, as upstream's both read
component-helpers. Not here: upstream's critical-pod preemption (evicting
lower-priority pods to make room for a system-critical one) and the taint
exemption of static pods (kubelite has none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

from kubelite.api import sysctls
from kubelite.api.nodeaffinity import find_untolerated_taint, required_affinity_matches
from kubelite.api.quantity import milli_value, value
from kubelite.api.resources import pod_requests

__all__ = [
    "NODE_AFFINITY",
    "NODE_NAME",
    "NODE_PORTS",
    "POD_OS_NOT_SUPPORTED",
    "POD_OS_SELECTOR_MISMATCH",
    "TAINT_TOLERATION",
    "Admitted",
    "Rejection",
    "admit",
    "host_ports",
]

Obj = Mapping[str, Any]
HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort), as the pod asks for it

NODE_OS = "linux"  # what this node reports (node.py); upstream compares with runtime.GOOS
OS_LABEL = "kubernetes.io/os"
ANY_IP = "0.0.0.0"

# Upstream's reasons: the pod's status.reason and the Warning event's reason.
POD_OS_SELECTOR_MISMATCH = "PodOSSelectorNodeLabelDoesNotMatch"
POD_OS_NOT_SUPPORTED = "PodOSNotSupported"
NODE_AFFINITY = "NodeAffinity"
NODE_NAME = "NodeName"
NODE_PORTS = "NodePorts"
TAINT_TOLERATION = "TaintToleration"
OUT_OF = "OutOf"  # + the resource's name: OutOfcpu, OutOfmemory, OutOfpods, ...

# What each predicate says (the scheduler plugins' reasons, upstream's wording).
_PREDICATE_REASONS = {
    NODE_AFFINITY: "node(s) didn't match Pod's node affinity/selector",
    NODE_NAME: "node(s) didn't match the requested node name",
    NODE_PORTS: "node(s) didn't have free ports for the requested pod ports",
    TAINT_TOLERATION: "node(s) had taints that the pod didn't tolerate",
}
_OS_SELECTOR_MESSAGE = (
    "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"
)
_OS_FIELD_MESSAGE = "Failed to admit pod as the OS field doesn't match node OS"
_KUBELET_WATCHES = frozenset({"NoExecute"})  # the only taint effect the kubelet checks
_COUNTED = ("pods", "cpu", "memory", "ephemeral-storage")  # checked first, in this order


class Rejection(NamedTuple):
    """Why the pod may not run here: its status.reason and (before the
    agent's "Pod was rejected: " prefix) its message."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Admitted:
    """What a pod admitted before, and still active, holds on the node."""

    requests: Mapping[str, Fraction]
    host_ports: tuple[HostPort, ...] = ()


def admit(
    pod: Obj, *, node: Obj, allocatable: Mapping[str, str], admitted: Sequence[Admitted]
) -> Rejection | None:
    """None when `pod` may run on `node` beside `admitted`; else the first reason it may not."""
    rejection = sysctl_rejection(pod) or os_rejection(pod)
    if rejection is not None:
        return rejection
    reasons = general_filter(pod, node=node, allocatable=allocatable, admitted=admitted)
    return reasons[0] if reasons else None


# The kubelet's SafeSysctlAllowlist (1.32); no unsafe sysctls are allowed on top.
SAFE_SYSCTLS = sysctls.safe(32)
SYSCTL_FORBIDDEN = "SysctlForbidden"


def sysctl_rejection(pod: Obj) -> Rejection | None:
    """The sysctl allowlist's admission: only the safe sysctls, and none of a namespace
    the pod shares with the host."""
    spec = pod.get("spec") or {}
    for item in (spec.get("securityContext") or {}).get("sysctls") or []:
        name = str(item.get("name") or "").replace("/", ".")
        if name not in SAFE_SYSCTLS:
            return Rejection(SYSCTL_FORBIDDEN, f'forbidden sysctl: "{name}" not allowlisted')
        ns = sysctls.namespace(name)
        if (ns == "net" and spec.get("hostNetwork")) or (ns == "ipc" and spec.get("hostIPC")):
            return Rejection(
                SYSCTL_FORBIDDEN,
                f'forbidden sysctl: "{name}" not allowed with host {ns} enabled',
            )
    return None


def os_rejection(pod: Obj) -> Rejection | None:
    """Upstream checks these first: evicting other pods would never help them."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    # Upstream reads the pod's *labels* here (not its nodeSelector), and takes
    # the node's OS label to be the OS it runs on.
    if OS_LABEL in labels and labels[OS_LABEL] != NODE_OS:
        return Rejection(POD_OS_SELECTOR_MISMATCH, _OS_SELECTOR_MESSAGE)
    pod_os = (pod.get("spec") or {}).get("os")
    if pod_os is not None and pod_os.get("name") != NODE_OS:
        return Rejection(POD_OS_NOT_SUPPORTED, _OS_FIELD_MESSAGE)
    return None


def general_filter(
    pod: Obj, *, node: Obj, allocatable: Mapping[str, str], admitted: Sequence[Admitted]
) -> list[Rejection]:
    """Every predicate the pod fails, in upstream's order (the first is reported)."""
    spec = pod.get("spec") or {}
    reasons = insufficient_resources(pod_requests(pod), allocatable, admitted)
    if not required_affinity_matches(spec, node):
        reasons.append(predicate_failure(NODE_AFFINITY))
    if not node_name_fits(spec, node):
        reasons.append(predicate_failure(NODE_NAME))
    if not ports_fit(host_ports(pod), admitted):
        reasons.append(predicate_failure(NODE_PORTS))
    if untolerated_no_execute(spec, node):
        reasons.append(predicate_failure(TAINT_TOLERATION))
    return reasons


def predicate_failure(name: str) -> Rejection:
    """Upstream's PredicateFailureError: the predicate's name, then what it says."""
    return Rejection(name, f"Predicate {name} failed: {_PREDICATE_REASONS[name]}")


# ---- resources ---------------------------------------------------------------------


def insufficient_resources(
    requested: Mapping[str, Fraction],
    allocatable: Mapping[str, str],
    admitted: Sequence[Admitted],
) -> list[Rejection]:
    """Upstream's InsufficientResourceError per resource short: the pod count first,
    then cpu, memory, ephemeral-storage, then any other resource the pod requests."""
    others = [n for n in requested if n not in _COUNTED]
    reasons = []
    for name in (*_COUNTED, *others):
        want = Fraction(1) if name == "pods" else requested.get(name, Fraction(0))
        capacity = _capacity(name, allocatable)
        if not want or capacity is None:
            continue
        measure: Callable[[Any], int] = milli_value if name == "cpu" else value
        counts = measure(want), measure(_used(name, admitted)), measure(capacity)
        if counts[0] > counts[2] - counts[1]:
            reasons.append(Rejection(OUT_OF + name, _not_enough(name, *counts)))
    return reasons


def _used(name: str, admitted: Sequence[Admitted]) -> Fraction:
    if name == "pods":
        return Fraction(len(admitted))
    return sum((a.requests.get(name, Fraction(0)) for a in admitted), Fraction(0))


def _capacity(name: str, allocatable: Mapping[str, str]) -> str | None:
    """What the node offers of `name`; None where it sets no limit."""
    if name in _COUNTED:
        # a node that does not give the figure (or gives 0) sets no limit here
        return allocatable[name] if value(allocatable.get(name) or 0) else None
    if _is_extended(name) and name not in allocatable:
        return None  # upstream drops extended resources the node does not know
    return allocatable.get(name) or "0"


def _not_enough(name: str, want: int, used: int, capacity: int) -> str:
    return (
        f"Node didn't have enough resource: {name}, requested: {want}, "
        f"used: {used}, capacity: {capacity}"
    )


def _is_extended(name: str) -> bool:
    """An extended resource (`example.com/gpu`): a domain-prefixed, non-native name."""
    return "/" in name and "kubernetes.io/" not in name and not name.startswith("requests.")


# ---- node affinity, node name, host ports, taints --------------------------------------


def node_name_fits(spec: Obj, node: Obj) -> bool:
    wanted = spec.get("nodeName")
    return not wanted or wanted == (node.get("metadata") or {}).get("name")


def host_ports(pod: Obj) -> tuple[HostPort, ...]:
    """The host ports a pod's (regular) containers ask for, defaults filled in."""
    return tuple(
        (p.get("hostIP") or ANY_IP, p.get("protocol") or "TCP", int(p["hostPort"]))
        for c in (pod.get("spec") or {}).get("containers") or ()
        for p in c.get("ports") or ()
        if int(p.get("hostPort") or 0) > 0
    )


def ports_fit(wanted: Iterable[HostPort], admitted: Sequence[Admitted]) -> bool:
    """No wanted port is taken: 0.0.0.0 conflicts with every IP on the same port and protocol."""
    used: dict[tuple[str, int], set[str]] = {}
    for a in admitted:
        for ip, proto, port in a.host_ports:
            used.setdefault((proto, port), set()).add(ip)
    for ip, proto, port in wanted:
        ips = used.get((proto, port), set())
        if ips and (ip == ANY_IP or ip in ips or ANY_IP in ips):
            return False
    return True


def untolerated_no_execute(spec: Obj, node: Obj) -> bool:
    taints = (node.get("spec") or {}).get("taints") or ()
    tolerations = spec.get("tolerations") or ()
    return find_untolerated_taint(taints, tolerations, _KUBELET_WATCHES) is not None
