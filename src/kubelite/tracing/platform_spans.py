"""Zipkin spans for the platform's own work, built from Kubernetes objects alone.

A pod's life is one trace: a root span ``pod NS/NAME`` from creation to Ready, and
children ``schedule`` (creation to the PodScheduled time; tags: the node and the
scheduler's score from the ``Scheduled`` event's ``kubelite.io/score`` annotation),
``pull`` (to the kubelet's ``Pulled`` events: the image is resolved), ``start`` (to
the containers' ``startedAt``) and ``ready`` (to the Ready condition). A Deployment
rollout is another: ``rollout NS/NAME`` from the new revision's ReplicaSet to the
rollout's completion, with one child per ``ScalingReplicaSet`` event, each lasting
until the next step.

Ids are derived from the object's uid (and the rollout's revision), so the same
span always gets the same ids and a re-emit can be recognized. Kubernetes stamps
most times to the second; ``observed`` times (when the tracer saw a milestone
happen) refine a whole-second stamp when they fall inside that second.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from kubelite.tracing.model import Span, finish_span

Obj = Mapping[str, Any]

CONTROL_PLANE: Final = "kubelite-control-plane"
SCHEDULER: Final = "kube-scheduler"
KUBELET: Final = "kubelet"
CONTROLLER_MANAGER: Final = "kube-controller-manager"
SCORE_ANNOTATION: Final = "kubelite.io/score"
NODE_ANNOTATION: Final = "kubelite.io/node"
REVISION_ANNOTATION: Final = "deployment.kubernetes.io/revision"
NEW_RS_AVAILABLE: Final = "NewReplicaSetAvailable"


# -- ids and times ------------------------------------------------------------


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(("kubelite", *parts)).encode()).hexdigest()


def pod_trace_id(uid: str) -> str:
    return _digest("pod", uid)[:32]


def rollout_trace_id(deployment_uid: str, revision: str) -> str:
    return _digest("rollout", deployment_uid, revision)[:32]


def span_id(trace_id: str, label: str) -> str:
    return _digest(trace_id, label)[:16]


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 ``Time``/``MicroTime``; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def refine(stamp: float | None, observed: float | None) -> float | None:
    """A whole-second ``stamp`` made precise by an ``observed`` time within that second."""
    if stamp is None:
        return observed
    if observed is not None and stamp == math.floor(stamp) and stamp <= observed < stamp + 1:
        return observed
    return stamp


def event_time(event: Obj) -> float | None:
    """When an Event first happened: ``eventTime`` (micro), else ``firstTimestamp``.

    A whole-second ``firstTimestamp`` is refined by the event's name, which event
    recorders end with the creation time in hex nanoseconds (``pod.17a3...``).
    """
    micro = parse_time(event.get("eventTime"))
    if micro is not None:
        return micro
    meta = event.get("metadata", {})
    stamp = (
        parse_time(event.get("firstTimestamp"))
        or parse_time(event.get("lastTimestamp"))
        or parse_time(meta.get("creationTimestamp"))
    )
    return refine(stamp, _name_time(meta.get("name", "")))


def _name_time(name: str) -> float | None:
    _, dot, suffix = name.rpartition(".")
    if not dot or not 8 <= len(suffix) <= 16:
        return None
    try:
        return int(suffix, 16) / 1e9
    except ValueError:
        return None


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _span(
    trace_id: str,
    label: str,
    name: str,
    service: str,
    start: float,
    end: float,
    *,
    parent: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Span:
    begin = _us(start)
    span: dict[str, Any] = {
        "traceId": trace_id,
        "id": span_id(trace_id, label),
        "name": name.lower(),
        "timestamp": begin,
        "duration": max(_us(end) - begin, 1),  # Zipkin drops a zero duration
        "localEndpoint": {"serviceName": service},
    }
    if parent is not None:
        span["parentId"] = parent
    if tags:
        span["tags"] = {key: value for key, value in tags.items() if value}
    return finish_span(span)


# -- pods -----------------------------------------------------------------------


@dataclass
class PodMilestones:
    """When the tracer first saw each milestone of a pod (epoch seconds), for :func:`refine`."""

    scheduled: float | None = None
    started: float | None = None
    ready: float | None = None
    finished: float | None = None


def _condition(pod: Obj, kind: str) -> Obj | None:
    for condition in pod.get("status", {}).get("conditions") or ():
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition
    return None


def is_ready(pod: Obj) -> bool:
    return _condition(pod, "Ready") is not None


def is_scheduled(pod: Obj) -> bool:
    return bool(pod.get("spec", {}).get("nodeName")) or _condition(pod, "PodScheduled") is not None


def is_finished(pod: Obj) -> bool:
    """Terminal without having been Ready: the trace ends anyway."""
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def latest_start(pod: Obj) -> float | None:
    """The last ``startedAt`` among the pod's (non-init) containers."""
    times = []
    for status in pod.get("status", {}).get("containerStatuses") or ():
        state = status.get("state") or {}
        for phase in ("running", "terminated"):
            started = parse_time((state.get(phase) or {}).get("startedAt"))
            if started is not None and started > 0:
                times.append(started)
    return max(times) if times else None


def pod_spans(
    pod: Obj,
    events: Iterable[Obj] = (),
    observed: PodMilestones | None = None,
    *,
    ended: float | None = None,
) -> list[Span]:
    """The trace of ``pod``'s life so far; the root ends at Ready (or at ``ended``).

    ``events`` are the Events about this pod (``Scheduled`` and ``Pulled`` are read).
    """
    observed = observed or PodMilestones()
    meta = pod.get("metadata", {})
    uid, namespace, name = meta.get("uid", ""), meta.get("namespace", "default"), meta["name"]
    created = parse_time(meta.get("creationTimestamp"))
    if not uid or created is None:
        return []
    trace_id = pod_trace_id(uid)
    root_id = span_id(trace_id, "pod")
    node = pod.get("spec", {}).get("nodeName") or ""
    scheduled_event = _last(events, "Scheduled")
    pulled = [t for t in (event_time(e) for e in events if e.get("reason") == "Pulled") if t]

    marks: list[tuple[str, str, float, dict[str, str]]] = []  # (name, service, end, tags)
    condition = _condition(pod, "PodScheduled")
    scheduled = event_time(scheduled_event) if scheduled_event is not None else None
    if scheduled is None and condition is not None:
        scheduled = refine(parse_time(condition.get("lastTransitionTime")), observed.scheduled)
    if scheduled is not None:
        annotations = (scheduled_event or {}).get("metadata", {}).get("annotations") or {}
        tags = {
            "node": node or annotations.get(NODE_ANNOTATION, ""),
            "score": annotations.get(SCORE_ANNOTATION, ""),
        }
        marks.append(("schedule", SCHEDULER, scheduled, tags))
    if pulled and scheduled is not None:
        images = ",".join(c.get("image", "") for c in pod.get("spec", {}).get("containers", ()))
        marks.append(("pull", KUBELET, max(pulled), {"images": images}))
    started = refine(latest_start(pod), observed.started)
    if started is not None and scheduled is not None:
        marks.append(("start", KUBELET, started, {}))
    ready_condition = _condition(pod, "Ready")
    ready = None
    if ready_condition is not None and started is not None:
        ready = refine(parse_time(ready_condition.get("lastTransitionTime")), observed.ready)
        if ready is not None:
            marks.append(("ready", KUBELET, ready, {}))

    spans: list[Span] = []
    previous = created
    for label, service, end, tags in marks:
        end = max(end, previous)
        spans.append(
            _span(trace_id, label, label, service, previous, end, parent=root_id, tags=tags)
        )
        previous = end
    root_end = ready if ready is not None else ended
    if root_end is not None:
        root_tags = {
            "k8s.namespace.name": namespace,
            "k8s.pod.name": name,
            "k8s.pod.uid": uid,
            "k8s.node.name": node,
            "k8s.pod.phase": pod.get("status", {}).get("phase", ""),
        }
        owner = _controller(meta)
        if owner is not None:
            root_tags[f"k8s.{owner.get('kind', '').lower()}.name"] = owner.get("name", "")
        if ready is None:
            root_tags["error"] = "not ready"
        root = _span(
            trace_id,
            "pod",
            f"pod {namespace}/{name}",
            CONTROL_PLANE,
            created,
            max(root_end, previous),
            tags=root_tags,
        )
        spans.insert(0, _covering(root, spans))
    return spans


def _within(when: float, start: float, end: float) -> bool:
    """``when`` in ``[start, end]``, a whole-second ``when`` judged to the second."""
    if when == math.floor(when):
        return math.floor(start) <= when <= end
    return start <= when <= end + 1


def _part_of_rollout(event: Obj, new_replica_set: str) -> bool:
    """A rollout scales its new ReplicaSet up and the old ones down; an old one scaled up
    belongs to an earlier rollout that ended in the same second."""
    message = event.get("message") or ""
    if not message.startswith("Scaled up"):
        return True
    return f" {new_replica_set} " in f"{message} "


def _covering(root: Span, children: list[Span]) -> Span:
    """``root`` stretched to end no earlier than its children (they last at least 1 µs)."""
    ends = [child["timestamp"] + child["duration"] for child in children]
    if ends:
        root["duration"] = max(root["duration"], max(ends) - root["timestamp"])
    return root


def _last(events: Iterable[Obj], reason: str) -> Obj | None:
    found = [e for e in events if e.get("reason") == reason]
    return max(found, key=lambda e: event_time(e) or 0.0) if found else None


def _controller(meta: Obj) -> Obj | None:
    for owner in meta.get("ownerReferences") or ():
        if owner.get("controller"):
            return owner
    return None


# -- rollouts ---------------------------------------------------------------------


@dataclass
class Rollout:
    """One revision of a Deployment being rolled out."""

    deployment: Obj
    replica_set: Obj
    revision: str
    steps: list[Obj] = field(default_factory=list)
    observed_start: float | None = None  # when the new ReplicaSet was first seen

    @property
    def trace_id(self) -> str:
        return rollout_trace_id(self.deployment["metadata"]["uid"], self.revision)


def revision_of(obj: Obj) -> str | None:
    return (obj.get("metadata", {}).get("annotations") or {}).get(REVISION_ANNOTATION)


def rollout_complete(deployment: Obj) -> float | None:
    """When the rollout completed (the Progressing condition's update), or None if not yet.

    Complete as ``kubectl rollout status`` sees it: the controller observed the
    current generation, every replica is updated, ready and available, no old
    ones are left, and Progressing says NewReplicaSetAvailable.
    """
    meta, spec, status = (deployment.get(k) or {} for k in ("metadata", "spec", "status"))
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return None
    want = spec.get("replicas", 1)
    counts = [status.get(k, 0) for k in ("updatedReplicas", "readyReplicas", "availableReplicas")]
    if any(count != want for count in counts) or status.get("replicas", 0) != want:
        return None
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Progressing" and condition.get("reason") == NEW_RS_AVAILABLE:
            return parse_time(condition.get("lastUpdateTime")) or parse_time(
                condition.get("lastTransitionTime")
            )
    return None


def rollout_spans(rollout: Rollout, done: float) -> list[Span]:
    """The rollout's trace: the root and one child per scaling step inside it."""
    deployment, replica_set = rollout.deployment, rollout.replica_set
    meta = deployment["metadata"]
    namespace, name = meta.get("namespace", "default"), meta["name"]
    created = parse_time(replica_set.get("metadata", {}).get("creationTimestamp"))
    start = refine(created, rollout.observed_start)
    if start is None:
        return []
    end = max(done, start)
    trace_id = rollout.trace_id
    root_id = span_id(trace_id, "rollout")
    new_name = replica_set["metadata"].get("name", "")
    steps = sorted(
        (
            (t, e)
            for e in rollout.steps
            if (t := event_time(e)) is not None
            and _within(t, start, end)
            and _part_of_rollout(e, new_name)
        ),
        key=lambda step: step[0],
    )
    root = _span(
        trace_id,
        "rollout",
        f"rollout {namespace}/{name}",
        CONTROL_PLANE,
        start,
        end,
        tags={
            "k8s.namespace.name": namespace,
            "k8s.deployment.name": name,
            "k8s.replicaset.name": replica_set["metadata"].get("name", ""),
            "revision": rollout.revision,
            "replicas": str(deployment.get("spec", {}).get("replicas", 1)),
        },
    )
    spans: list[Span] = []
    for index, (when, event) in enumerate(steps):
        until = steps[index + 1][0] if index + 1 < len(steps) else end
        message = event.get("message") or event.get("note") or ""
        direction = "scale down" if message.startswith("Scaled down") else "scale up"
        uid = event.get("metadata", {}).get("uid") or f"{when}:{message}"
        spans.append(
            _span(
                trace_id,
                f"step/{uid}",
                direction,
                CONTROLLER_MANAGER,
                when,
                max(until, when),
                parent=root_id,
                tags={"message": message},
            )
        )
    return [_covering(root, spans), *spans]
