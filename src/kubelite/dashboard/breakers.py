"""Circuit-breaker states, read back from the Events the mesh SDK records.

A service's breakers live in its own process; the only trace they leave in
the cluster is one Event per state change on the calling pod (reason
`CircuitBreakerOpened`, `CircuitBreakerHalfOpen` or `CircuitBreakerClosed`,
message `circuit breaker <ns>/<service>: <from> -> <to> (<why>)`). The latest
such Event per (pod, upstream) is that breaker's current state as far as the
cluster knows; pods that no longer exist are left out, since their breakers
went with them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubelite.dashboard.summaries import event_time, newest_first

Obj = Mapping[str, Any]

REASON_STATES = {
    "CircuitBreakerOpened": "open",
    "CircuitBreakerHalfOpen": "half_open",
    "CircuitBreakerClosed": "closed",
}
_MESSAGE = re.compile(
    r"^circuit breaker (?P<name>\S+): (?P<from>\S+) -> (?P<to>\S+)(?: \((?P<why>.*)\))?$"
)
# Labels that name the service a pod belongs to, most specific first.
SERVICE_LABELS = ("app.kubernetes.io/name", "app", "k8s-app", "component")


@dataclass(frozen=True)
class BreakerState:
    namespace: str
    pod: str
    service: str  # the calling service, from the pod's labels
    upstream: str  # "<namespace>/<service>" the breaker guards
    state: str  # open | half_open | closed
    previous: str
    reason: str
    at: datetime | None
    transitions: int  # state changes seen for this breaker


def service_of(pod: Obj | None, fallback: str) -> str:
    labels = ((pod or {}).get("metadata") or {}).get("labels") or {}
    for key in SERVICE_LABELS:
        if labels.get(key):
            return str(labels[key])
    return fallback


def breaker_states(
    events: Iterable[Obj], pods: Mapping[tuple[str, str], Obj]
) -> list[BreakerState]:
    """Latest state per (pod, upstream) from breaker Events; `pods` maps (ns, name) to live pods.

    Sorted with open breakers first, then half-open, then closed; by name within.
    """
    latest: dict[tuple[str, str, str], BreakerState] = {}
    counts: dict[tuple[str, str, str], int] = {}
    for event in reversed(newest_first(e for e in events if e.get("reason") in REASON_STATES)):
        involved = event.get("involvedObject") or event.get("regarding") or {}
        if involved.get("kind", "Pod") != "Pod":
            continue
        ns = involved.get("namespace") or (event.get("metadata") or {}).get("namespace", "")
        pod_name = involved.get("name", "")
        pod = pods.get((ns, pod_name))
        if pod is None:
            continue
        match = _MESSAGE.match(str(event.get("message") or event.get("note") or ""))
        upstream = match["name"] if match else "?"
        key = (ns, pod_name, upstream)
        counts[key] = counts.get(key, 0) + max(1, int(event.get("count") or 1))
        latest[key] = BreakerState(
            namespace=ns,
            pod=pod_name,
            service=service_of(pod, pod_name),
            upstream=upstream,
            state=REASON_STATES[event["reason"]],
            previous=match["from"] if match else "",
            reason=(match["why"] or "") if match else str(event.get("message") or ""),
            at=event_time(event),
            transitions=0,
        )
    order = {"open": 0, "half_open": 1, "closed": 2}
    states = [dataclasses.replace(s, transitions=counts[k]) for k, s in latest.items()]
    return sorted(states, key=lambda s: (order[s.state], s.service, s.upstream, s.pod))
