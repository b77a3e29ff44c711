"""One daemon pod per eligible node: what to create and delete (upstream's `manage`).

For each node, `podsShouldBeOnNode`: a node that should run the daemon and
has no pod gets one; failed pods are deleted (under backoff, with a
FailedDaemonPod event) and succeeded ones too (SucceededDaemonPod), so the
next sync replaces them; surplus pods go, keeping the oldest (or, while
surging, the oldest old and oldest new pod until the new one is available);
a node that no longer qualifies loses its pods. Pods pinned to nodes that no
longer exist and never bound are deleted too (nothing else would).
Decisions are values, so tests need no API.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubelite.controllers.daemonset.backoff import Backoff
from kubelite.controllers.daemonset.eligibility import node_should_run
from kubelite.controllers.daemonset.pods import oldest_first_key
from kubelite.controllers.daemonset.rolling import allows_surge
from kubelite.controllers.history import HASH_LABEL
from kubelite.controllers.objects import (
    Obj,
    deleting,
    labels,
    meta,
    pod_available,
    pod_phase,
    pod_ready,
)

FAILED_DAEMON_POD = "FailedDaemonPod"
SUCCEEDED_DAEMON_POD = "SucceededDaemonPod"


@dataclass
class Placement:
    create_on: list[str] = field(default_factory=list)  # node names
    delete: list[str] = field(default_factory=list)  # pod names
    events: list[tuple[str, str, str]] = field(default_factory=list)  # type, reason, message
    retry_after: float | None = None

    def retry(self, delay: float) -> None:
        self.retry_after = delay if self.retry_after is None else min(self.retry_after, delay)


def backoff_key(ds: Obj, node_name: str) -> str:
    generation = (ds.get("status") or {}).get("observedGeneration") or 0
    return f"{meta(ds).get('uid')}/{generation}/{node_name}"


def plan(
    ds: Obj,
    nodes: list[Obj],
    node_pods: dict[str, list[Obj]],
    hash_: str,
    *,
    backoff: Backoff,
    now: float,
) -> Placement:
    out = Placement()
    for node in nodes:
        _plan_node(out, ds, node, node_pods, hash_, backoff=backoff, now=now)
    names = {meta(n).get("name") for n in nodes}
    for node_name, pods in sorted(node_pods.items()):
        if node_name not in names:
            out.delete += [
                meta(p)["name"] for p in pods if not (p.get("spec") or {}).get("nodeName")
            ]
    return out


def _plan_node(
    out: Placement,
    ds: Obj,
    node: Obj,
    node_pods: dict[str, list[Obj]],
    hash_: str,
    *,
    backoff: Backoff,
    now: float,
) -> None:
    name = meta(node)["name"]
    should_run, should_continue = node_should_run(node, ds)
    pods = node_pods.get(name)
    if should_run and pods is None:
        out.create_on.append(name)
        return
    if not should_continue:
        out.delete += [meta(p)["name"] for p in pods or [] if not deleting(p)]
        return
    running = _prune_finished(out, ds, name, pods or [], backoff=backoff, now=now)
    running.sort(key=oldest_first_key)
    if not allows_surge(ds):
        out.delete += [meta(p)["name"] for p in running[1:]]
        return
    if len(running) <= 1:
        if not running and should_run:
            out.create_on.append(name)  # surging keeps one live pod per node
        return
    _prune_surge(out, ds, running, hash_, now=now)


def _prune_finished(
    out: Placement, ds: Obj, node_name: str, pods: list[Obj], *, backoff: Backoff, now: float
) -> list[Obj]:
    """Delete finished pods (failed ones under backoff); the live ones are returned."""
    running: list[Obj] = []
    for pod in pods:
        if deleting(pod):
            continue
        where = f"{meta(pod).get('namespace')}/{meta(pod)['name']} on node {node_name}"
        phase = pod_phase(pod)
        if phase == "Failed":
            key = backoff_key(ds, node_name)
            if backoff.in_backoff_since_update(key, now):
                out.retry(backoff.get(key))
                continue
            backoff.next(key, now)
            message = f"Found failed daemon pod {where}, will try to kill it"
            out.events.append(("Warning", FAILED_DAEMON_POD, message))
            out.delete.append(meta(pod)["name"])
        elif phase == "Succeeded":
            message = f"Found succeeded daemon pod {where}, will try to delete it"
            out.events.append(("Normal", SUCCEEDED_DAEMON_POD, message))
            out.delete.append(meta(pod)["name"])
        else:
            running.append(pod)
    return running


def _prune_surge(out: Placement, ds: Obj, running: list[Obj], hash_: str, *, now: float) -> None:
    """While surging keep the oldest new and oldest old pod, until the new one is available."""
    oldest_new: Obj | None = None
    oldest_old: Obj | None = None
    for pod in running:
        if labels(pod).get(HASH_LABEL) == hash_:
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        out.delete.append(meta(pod)["name"])
    if oldest_new is None or oldest_old is None:
        return
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    if not pod_ready(oldest_old) or pod_available(oldest_new, min_ready, now):
        out.delete.append(meta(oldest_old)["name"])
