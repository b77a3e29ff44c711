"""The ReplicationManager: ReplicationControllers run by the ReplicaSet controller.

Upstream runs ReplicationControllers with the ReplicaSet controller's code
behind an adapter, so both kinds behave alike to the pod: the same claims,
slow-start creates, victim order, expectations, events and status. The only
differences are the kind in the ownerReferences and the status writes, and
the selector: an RC's `spec.selector` is a plain map, matched by equality.
"""

from __future__ import annotations

from kubelite.api.selectors import LabelSelector, nothing, selector_from_set
from kubelite.controllers.objects import Obj
from kubelite.controllers.replicaset.controller import ReplicaSetController

NAME = "replication-controller"


def rc_selector(rc: Obj) -> LabelSelector:
    """`labels.SelectorFromSet(spec.selector)`; an RC with none selects nothing
    (validation refuses it; an RC that somehow has one must not adopt every pod)."""
    selector = (rc.get("spec") or {}).get("selector")
    if not isinstance(selector, dict) or not selector:
        return nothing()
    return selector_from_set({str(k): str(v) for k, v in selector.items()})


class ReplicationManager(ReplicaSetController):
    name = NAME
    api_version = "v1"
    kind = "ReplicationController"

    def selector(self, owner: Obj) -> LabelSelector:
        return rc_selector(owner)


__all__ = ["NAME", "ReplicationManager", "rc_selector"]
